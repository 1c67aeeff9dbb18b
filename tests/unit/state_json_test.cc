// SPDX-License-Identifier: Apache-2.0
// State values as JSON: every built-in state type encodes, decodes and renders
// through its codec's to_json() as hand-checked JSON; the specs of the
// built-in operators declare their state with working renderers; and
// `eddy state` output falls back to hex with a reason when it cannot decode.
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bot_filter/behaviour.h"
#include "common/hyperloglog.h"
#include "common/quantile_sketch.h"
#include "profile.h"
#include "runtime/builtins.h"
#include "segment.h"
#include "sessionizer.h"
#include "state/inspect.h"
#include "window/aggregates.h"

namespace eddy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

/// `value` encoded with its version byte, decoded and rendered again.
template <JsonRenderable T>
std::string round_trip(const T& value) {
    std::string json;
    EXPECT_TRUE(state_to_json<T>(encode_state(value), json));
    return json;
}

TEST(StateJsonTest, ScalarCodecs) {
    EXPECT_EQ(round_trip(int64_t{42}), "42");
    EXPECT_EQ(round_trip(int64_t{-7}), "-7");
    EXPECT_EQ(round_trip(2.5), "2.5");
    EXPECT_EQ(round_trip(3.0), "3.0");
    EXPECT_EQ(round_trip(std::numeric_limits<double>::quiet_NaN()), "null");
    EXPECT_EQ(round_trip(std::string("say \"hi\"")), R"("say \"hi\"")");
}

TEST(StateJsonTest, BytesThatDoNotDecodeRenderNothing) {
    std::string json = "kept";
    EXPECT_FALSE(state_to_json<int64_t>("", json));
    EXPECT_FALSE(state_to_json<int64_t>(std::string("\x02\x54", 2), json));      // newer version
    EXPECT_FALSE(state_to_json<int64_t>(std::string("\x01\x54\x00", 3), json));  // trailing byte
    EXPECT_FALSE(state_to_json<std::string>(std::string("\x01\x05"
                                                        "ab",
                                                        4),
                                            json));  // short
    EXPECT_EQ(json, "kept");
}

TEST(StateJsonTest, QuantileSketchShowsSummaryAndSmallContent) {
    QuantileSketch empty;
    EXPECT_EQ(round_trip(empty),
              R"({"k":200,"count":0,"min":null,"max":null,"compactions":0,"retained":0,)"
              R"("levels":[[]]})");
    QuantileSketch s;
    for (double v : {3.0, 1.0, 2.0}) {
        s.add(v);
    }
    EXPECT_EQ(round_trip(s),
              R"({"k":200,"count":3,"min":1.0,"max":3.0,"compactions":0,"retained":3,)"
              R"("quantiles":{"p25":1.0,"p50":2.0,"p75":3.0,"p90":3.0,"p99":3.0},)"
              R"("levels":[[3.0,1.0,2.0]]})");
}

TEST(StateJsonTest, LargeQuantileSketchOmitsItsItems) {
    QuantileSketch s;
    for (int i = 1; i <= 1000; ++i) {
        s.add(i);
    }
    ASSERT_GT(s.retained(), QuantileSketch::kJsonItems);
    std::string json = round_trip(s);
    EXPECT_THAT(json, StartsWith(R"({"k":200,"count":1000,"min":1.0,"max":1000.0,"compactions":)"));
    EXPECT_THAT(json, HasSubstr(R"("quantiles":{"p25":)"));
    EXPECT_THAT(json, Not(HasSubstr("levels")));
}

TEST(StateJsonTest, HyperLogLogShowsPrecisionRegistersAndEstimate) {
    HyperLogLog empty;
    EXPECT_EQ(round_trip(empty),
              R"({"precision":14,"representation":"sparse","registers_set":0,"estimate":0.0})");
    HyperLogLog h(4);
    for (int i = 0; i < 1000; ++i) {
        h.add(Value::integer(i));
    }
    EXPECT_THAT(round_trip(h),
                StartsWith(R"({"precision":4,"representation":"dense","registers_set":16,)"
                           R"("estimate":)"));
}

TEST(StateJsonTest, BotState) {
    bot_filter::BotState s;
    EXPECT_EQ(round_trip(s),
              R"({"flagged_until":null,"rule":"","reason":"","rate_head_second":null,)"
              R"("rate_total":0,"rate_events_per_second":[],"last_time":null,"gap_count":0,)"
              R"("gap_mean_ms":0.0,"gap_m2":0.0,"page_second":null,"page_hashes":[],)"
              R"("cleanup_at":null})");
    s.flagged_until = 1735689700000;
    s.rule = "rate:>60/min";
    s.reason = "Too fast.";
    s.rate_head = 1735689660;  // second 1735689660 is bucket 0, 1735689659 bucket 59
    s.rate_counts[0] = 2;
    s.rate_counts[59] = 1;
    s.rate_total = 3;
    s.last_time = 1735689660500;
    s.gap_count = 2;
    s.gap_mean = 250;
    s.gap_m2 = 12.5;
    s.page_second = 1735689660;
    s.pages = {0x0123456789abcdefULL};
    s.cleanup_at = 1735691460500;
    EXPECT_EQ(round_trip(s),
              R"({"flagged_until":1735689700000,"rule":"rate:>60/min","reason":"Too fast.",)"
              R"("rate_head_second":1735689660,"rate_total":3,)"
              R"("rate_events_per_second":[[1735689659,1],[1735689660,2]],)"
              R"("last_time":1735689660500,"gap_count":2,"gap_mean_ms":250.0,"gap_m2":12.5,)"
              R"("page_second":1735689660,"page_hashes":["0123456789abcdef"],)"
              R"("cleanup_at":1735691460500})");
}

TEST(StateJsonTest, KeySessions) {
    KeySessions k;
    EXPECT_EQ(round_trip(k), R"({"sessions":[],"timer":null})");
    Session s;
    s.id = "u1:1000";
    s.start = 1000;
    s.last = 61000;
    s.events = 3;
    s.counts = {2, 1};
    s.dwell_ms = 4200;
    s.entry_page = "/home";
    s.entry_time = 1000;
    s.exit_page = "/cart";
    s.exit_time = 61000;
    s.conversion_type = "purchase";
    s.conversion_time = 61000;
    s.closed_at = 1900000;
    s.revision = 1;
    k.sessions.push_back(s);
    s.id = "u1:2000000";
    s.start = s.last = 2000000;
    s.events = 1;
    s.counts = {1, 0};
    s.dwell_ms = 0;
    s.has_scroll = true;
    s.max_scroll = 0.75;
    s.conversion_type.clear();
    s.conversion_time = kNoSessionTime;
    s.entry_page = s.exit_page = "/p/1";
    s.entry_time = s.exit_time = 2000000;
    s.device = "mobile";
    s.device_time = 2000000;
    s.merged_ids = "u1:1999000";
    s.revision = 0;
    s.closed_at = kNoSessionTime;
    k.sessions.push_back(s);
    k.timer = 3800000;
    EXPECT_EQ(
        round_trip(k),
        R"({"sessions":[)"
        R"({"id":"u1:1000","open":false,"start":1000,"last":61000,"events":3,"counts":[2,1],)"
        R"("dwell_ms":4200,"max_scroll":null,"conversion_type":"purchase",)"
        R"("conversion_time":61000,"entry_page":"/home","entry_time":1000,"exit_page":"/cart",)"
        R"("exit_time":61000,"device":"","device_time":null,"merged_ids":"","revision":1,)"
        R"("closed_at":1900000},)"
        R"({"id":"u1:2000000","open":true,"start":2000000,"last":2000000,"events":1,)"
        R"("counts":[1,0],"dwell_ms":0,"max_scroll":0.75,"conversion_type":"",)"
        R"("conversion_time":null,"entry_page":"/p/1","entry_time":2000000,)"
        R"("exit_page":"/p/1","exit_time":2000000,"device":"mobile","device_time":2000000,)"
        R"("merged_ids":"u1:1999000","revision":0,"closed_at":null}],"timer":3800000})");
}

TEST(StateJsonTest, ProfileState) {
    ProfileState p;
    EXPECT_EQ(round_trip(p),
              R"({"ref_time":null,"second_time":null,"last_emit":null,"pending":false,)"
              R"("events":0,"purchases":0,"frequency":0.0,"dwell_sum":0.0,"dwell_weight":0.0,)"
              R"("scroll_sum":0.0,"scroll_weight":0.0,"monetary":0.0,"buys":0.0,)"
              R"("type_counts":[],"categories":{}})");
    p.ref_time = 1735689600000;
    p.second_time = 1735689500000;
    p.last_emit = 1735689600000;
    p.pending = true;
    p.events = 5;
    p.purchases = 1;
    p.frequency = 4.5;
    p.dwell_sum = 1200;
    p.dwell_weight = 2;
    p.scroll_sum = 0.5;
    p.scroll_weight = 1;
    p.monetary = 19.99;
    p.buys = 1;
    p.type_counts = {3.5, 1};
    p.categories = {{"shoes", 2.25}, {"books", 0.5}};
    EXPECT_EQ(round_trip(p),
              R"({"ref_time":1735689600000,"second_time":1735689500000,)"
              R"("last_emit":1735689600000,"pending":true,"events":5,"purchases":1,)"
              R"("frequency":4.5,"dwell_sum":1200.0,"dwell_weight":2.0,"scroll_sum":0.5,)"
              R"("scroll_weight":1.0,"monetary":19.99,"buys":1.0,"type_counts":[3.5,1.0],)"
              R"("categories":{"shoes":2.25,"books":0.5}})");
}

TEST(StateJsonTest, KeyWindowsWithEverySlotKind) {
    window::KeyWindows k;
    EXPECT_EQ(round_trip(k), R"({"layout":"0000000000000000","emitted_end":null,"timer_at":null,)"
                             R"("revisions":[],"panes":[]})");
    k.layout = 0xabcdef;
    k.emitted_end = 60000;
    k.timer_at = 119999;
    k.revisions = {{60000, 2}};
    window::Pane& pane = k.panes.emplace_back();
    pane.start = 60000;
    pane.count = 2;
    window::Moments m;
    m.add(Value::integer(3), true);
    m.add(Value::integer(5), true);
    window::Presence presence{2};
    QuantileSketch q;
    q.add(7);
    window::Pick first;
    first.offer_first(Value::string_view("/home"), 60500);
    pane.slots = {m, presence, q, HyperLogLog(4), first, window::Pick{}};
    EXPECT_EQ(
        round_trip(k),
        R"({"layout":"0000000000abcdef","emitted_end":60000,"timer_at":119999,)"
        R"("revisions":[{"end":60000,"revision":2}],"panes":[{"start":60000,"count":2,"slots":[)"
        R"({"kind":"moments","n":2,"all_int":true,"int_sum":8,"sum":8.0,"min":3.0,"max":5.0,)"
        R"("mean":4.0,"m2":2.0},)"
        R"({"kind":"presence","n":2},)"
        R"({"kind":"quantiles","sketch":{"k":200,"count":1,"min":7.0,"max":7.0,)"
        R"("compactions":0,"retained":1,"quantiles":{"p25":7.0,"p50":7.0,"p75":7.0,)"
        R"("p90":7.0,"p99":7.0},"levels":[[7.0]]}},)"
        R"({"kind":"distinct","sketch":{"precision":4,"representation":"sparse",)"
        R"("registers_set":0,"estimate":0.0}},)"
        R"({"kind":"first_or_last","set":true,"time":60500,"value":"/home"},)"
        R"({"kind":"first_or_last","set":false}]}]})");
}

TEST(StateJsonTest, SegmentStats) {
    SegmentStats s;
    EXPECT_EQ(round_trip(s), R"({"fields":[]})");
    FieldPercentiles& f = s.fields.emplace_back();
    f.field = "frequency";
    f.sketch.add(2);
    f.refreshed_at = 1;
    f.quantiles = {0.75};
    f.thresholds = {2};
    EXPECT_EQ(round_trip(s),
              R"({"fields":[{"field":"frequency","sketch":{"k":200,"count":1,"min":2.0,)"
              R"("max":2.0,"compactions":0,"retained":1,"quantiles":{"p25":2.0,"p50":2.0,)"
              R"("p75":2.0,"p90":2.0,"p99":2.0},"levels":[[2.0]]},"refreshed_at_count":1,)"
              R"("thresholds":[{"q":0.75,"value":2.0}]}]})");
}

struct Declared {
    const char* type;
    const char* state;
    bool keyed;
};

TEST(StateJsonTest, BuiltInOperatorsDeclareTheirStateWithRenderers) {
    const Declared declared[] = {
        {"bot_filter", "verdicts", true},  {"profile", "profiles", true},
        {"segment", "segments", true},     {"segment", "percentiles", false},
        {"sessionizer", "sessions", true}, {"window", "windows", true}};
    for (const Declared& d : declared) {
        const ComponentSpec* spec = builtin_registry().find(ComponentKind::kOperator, d.type);
        ASSERT_NE(spec, nullptr) << d.type;
        const StateSpec* st = spec->find_state(d.state);
        ASSERT_NE(st, nullptr) << d.type << " does not declare " << d.state;
        EXPECT_EQ(st->keyed, d.keyed) << d.type << "." << d.state;
        EXPECT_FALSE(st->doc.empty()) << d.type << "." << d.state;
        EXPECT_NE(st->to_json, nullptr) << d.type << "." << d.state;
    }
    // Through the spec's function pointer, as `eddy state get` calls it.
    ProfileState p;
    p.events = 12;
    std::string json;
    const ComponentSpec* profile = builtin_registry().find(ComponentKind::kOperator, "profile");
    ASSERT_TRUE(profile->find_state("profiles")->to_json(encode_state(p), json));
    EXPECT_THAT(json, HasSubstr(R"("events":12,)"));
    EXPECT_EQ(profile->find_state("profiles")->format_version, Codec<ProfileState>::kVersion);
    json.clear();
    const ComponentSpec* segment = builtin_registry().find(ComponentKind::kOperator, "segment");
    ASSERT_TRUE(segment->find_state("segments")->to_json(encode_state(std::string("vip")), json));
    EXPECT_EQ(json, R"("vip")");
}

// The inspection rendering of stored values, and every way it falls back.
class InspectTest : public ::testing::Test {
protected:
    InspectTest() {
        op_.type = "profile";
        op_.handles = {{"profiles", true, 1}, {"extra", true, 1}, {"model", false, 1}};
    }
    std::string render(size_t handle, std::string_view stored, const state::OperatorMeta* op) {
        JsonWriter j;
        j.begin_object();
        state::append_state_value(builtin_registry(), op != nullptr ? *op : op_, handle, stored, j);
        j.end_object();
        EXPECT_TRUE(j.complete()) << j.str();
        return j.str();
    }
    static std::string keyed(int64_t touched, std::string_view encoded) {
        std::string out(reinterpret_cast<const char*>(&touched), sizeof touched);
        out += encoded;
        return out;
    }
    state::OperatorMeta op_;
};

TEST_F(InspectTest, KeyedValuesShowTouchedTimeAndDecodedValue) {
    ProfileState p;
    p.events = 3;
    std::string json = render(0, keyed(1735689600000, encode_state(p)), nullptr);
    EXPECT_THAT(json, StartsWith(R"({"touched":1735689600000,"value":{"ref_time":null,)"));
    EXPECT_THAT(json, HasSubstr(R"("events":3,)"));
    EXPECT_THAT(render(0, keyed(0, encode_state(p)), nullptr), StartsWith(R"({"value":{)"));
}

TEST_F(InspectTest, FallsBackToHexWithTheReason) {
    EXPECT_EQ(
        render(0, keyed(5, std::string("\x01\x02", 2)), nullptr),
        R"({"touched":5,"hex":"0102","error":"the value does not decode as state )"
        R"x('profiles' of 'profile' (its format version is 1; this Eddy reads 1 and older)"})x");
    EXPECT_THAT(render(0, keyed(0, std::string("\x09\x02", 2)), nullptr),
                HasSubstr("its format version is 9; this Eddy reads 1 and older"));
    EXPECT_EQ(render(0, "abc", nullptr),
              R"({"hex":"616263","error":"the value is shorter than its 8-byte touched time"})");
    EXPECT_EQ(render(1, keyed(0, encode_state(int64_t{1})), nullptr),
              R"({"hex":"0102","error":"operator type 'profile' declares no state 'extra'"})");
    EXPECT_THAT(render(7, keyed(0, "\x01"), nullptr),
                HasSubstr(R"("error":"the state dir describes no state handle 7)"));
    state::OperatorMeta plugin = op_;
    plugin.type = "my_plugin_op";
    EXPECT_EQ(render(2, encode_state(int64_t{1}), &plugin),
              R"({"hex":"0102","error":"operator type 'my_plugin_op' is not built in, so its )"
              R"(values cannot be decoded; give its plugin with --plugin"})");
}

TEST_F(InspectTest, GlobalValuesHaveNoTouchedPrefix) {
    state::OperatorMeta seg;
    seg.type = "segment";
    seg.handles = {{"segments", true, 1}, {"percentiles", false, 1}};
    EXPECT_EQ(render(1, encode_state(SegmentStats{}), &seg), R"({"value":{"fields":[]}})");
    EXPECT_EQ(render(0, keyed(0, encode_state(std::string("vip"))), &seg), R"({"value":"vip"})");
}

}  // namespace
}  // namespace eddy
