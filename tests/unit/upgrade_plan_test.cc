// SPDX-License-Identifier: Apache-2.0
// `eddy plan` (runtime/upgrade_plan.h): every classification, from two
// topologies alone and against a real state dir; `renamed_from:` in the
// validator; and a job that resumes a renamed operator's state.
#include "runtime/upgrade_plan.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "count_formats.h"
#include "harness.h"
#include "state/store.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using testing::CountV1;
using testing::CountV2;

/// `counted`: counts records per key in state `count` (format `version`),
/// emits {n}. `layout: none` keeps no `count`, `extra_first` registers a
/// state `extra` before it; `secret` names a file open() needs.
template <class T>
class Counted final : public Operator {
public:
    explicit Counted(const Config& cfg)
        : layout_(cfg.string("layout")), secret_(cfg.string("secret")) {}
    Status open(OpenContext& ctx) override {
        if (!secret_.empty() && !fs::exists(secret_)) {
            return Status::not_found("secret file '" + secret_ + "' is missing");
        }
        if (layout_ == "extra_first") {
            ctx.register_state(extra_);
        }
        if (layout_ != "none") {
            ctx.register_state(count_);
        }
        n_ = ctx.field("n");
        return Status::ok();
    }
    void process(const Record& r, Emitter& out) override {
        T& c = count_.get_or_create(r.key());
        ++c.n;
        out.append().set(n_, c.n);
    }

private:
    std::string layout_;
    std::string secret_;
    KeyedValue<T> count_{"count"};
    KeyedValue<CountV1> extra_{"extra"};
    FieldId n_{};
};

Result<std::unique_ptr<Operator>> make_counted(const Config& cfg) {
    if (cfg.integer("version") == 2) {
        return std::unique_ptr<Operator>(new Counted<CountV2>(cfg));
    }
    return std::unique_ptr<Operator>(new Counted<CountV1>(cfg));
}

Registry& registry() {
    Registry& r = testing::test_registry();
    if (r.find(ComponentKind::kOperator, "counted") == nullptr) {
        Status s =
            r.add(OperatorSpec("counted")
                      .summary("Test: a count per key in a chosen format.")
                      .keyed(KeyMode::kRequired)
                      .param(Param::integer("version").default_value(1).doc("Format."))
                      .param(Param::enumeration("layout", {"count", "none", "extra_first"})
                                 .default_value("count")
                                 .doc("Which states it registers."))
                      .param(Param::string("secret").default_value("").doc("A file open() needs."))
                      .factory(&make_counted),
                  "tests");
        EXPECT_TRUE(s.is_ok()) << s.message();
    }
    return r;
}

Topology parse(const std::string& yaml, const std::string& file = "t.yaml") {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, file, diags);
    std::optional<Topology> t;
    if (root) {
        t = validate_topology(*root, registry(), diags);
    }
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        text += d.to_string() + "\n";
    }
    EXPECT_TRUE(t.has_value()) << text;
    return t ? std::move(*t) : Topology{};
}

/// The validator's errors for `yaml`, one per line.
std::string errors(const std::string& yaml) {
    Diagnostics diags;
    auto root = load_yaml_text(yaml, "t.yaml", diags);
    if (root) {
        (void)validate_topology(*root, registry(), diags);
    }
    std::string text;
    for (const Diagnostic& d : diags.sorted()) {
        text += d.to_string() + "\n";
    }
    return text;
}

const ComponentPlan& find(const UpgradePlan& plan, const std::string& name) {
    for (const ComponentPlan& c : plan.components) {
        if (c.name == name) {
            return c;
        }
    }
    ADD_FAILURE() << "no plan for " << name << "\n" << render_plan_text(plan);
    static ComponentPlan none;
    return none;
}

std::string reasons(const ComponentPlan& c) {
    std::string out;
    for (const std::string& r : c.reasons) {
        out += r + "\n";
    }
    return out;
}

class UpgradePlanTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("eddy_upgrade_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        std::ofstream out(input());
        for (int i = 0; i < 300; ++i) {
            out << R"({"ts": )" << 1000 * i << R"(, "user": "u)" << i % 5 << R"(", "page": "p)"
                << i % 3 << R"(", "dwell_ms": )" << (i * 37) % 1000 << "}\n";
        }
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path input() const { return dir_ / "clicks.jsonl"; }
    std::string state_dir() const { return (dir_ / "state").string(); }

    /// A file source, `operators`, and a sink reading `out_of`.
    std::string topology(const std::string& operators, const std::string& out_of,
                         int parallelism = 1) const {
        return "name: upgrade\nparallelism: " + std::to_string(parallelism) +
               "\nstate: {dir: " + state_dir() +
               ", checkpoint_interval: 1h}\n"
               "sources:\n"
               "  clicks: {type: file, path: " +
               input().string() +
               ", event_time: {field: ts, unit: ms}}\n"
               "operators:\n" +
               operators + "sinks:\n  out: {type: collect, input: " + out_of + "}\n";
    }

    UpgradePlan plan(const std::string& old_yaml, const std::string& new_yaml,
                     bool with_state = false, const std::vector<std::string>& allowed = {}) {
        Topology a = parse(old_yaml, "old.yaml");
        Topology b = parse(new_yaml, "new.yaml");
        auto p = plan_upgrade(a, b, with_state ? state_dir() : "", allowed);
        EXPECT_TRUE(p.is_ok()) << p.status().message();
        return p.is_ok() ? std::move(p.value()) : UpgradePlan{};
    }

    /// Runs `yaml` to the end of its input; the collected lines of `out`.
    std::vector<std::string> run(const std::string& yaml, JobOptions options = {},
                                 Status* status = nullptr) {
        testing::collected().clear();
        Topology t = parse(yaml);
        options.batch_size = 16;  // small polls, so that a stop lands mid-input
        auto job = Job::create(t, std::move(options));
        testing::running_job() = job.is_ok() ? job.value().get() : nullptr;
        Status s = job.is_ok() ? job.value()->run() : job.status();
        testing::running_job() = nullptr;
        if (status != nullptr) {
            *status = s;
        } else {
            EXPECT_TRUE(s.is_ok()) << s.message();
        }
        return testing::collected()["out"];
    }

    fs::path dir_;
};

const std::string kCount = "  count: {type: counted, input: clicks, key: user}\n";
const std::string kSessions =
    "  sessions: {type: sessionizer, input: clicks, key: user, gap: 30s}\n";

TEST_F(UpgradePlanTest, SameTopologyKeepsEveryOperator) {
    std::string yaml = topology(kCount + kSessions +
                                    "  clean: {type: filter, input: clicks, field: user, op: ne, "
                                    "value: bot}\n",
                                "count");
    UpgradePlan p = plan(yaml, yaml);
    EXPECT_EQ(find(p, "count").verdict, StateVerdict::kKept);
    EXPECT_EQ(find(p, "sessions").verdict, StateVerdict::kKept);
    EXPECT_EQ(find(p, "clean").verdict, StateVerdict::kStateless);
    EXPECT_EQ(find(p, "clicks").verdict, StateVerdict::kKept);
    EXPECT_EQ(find(p, "out").verdict, StateVerdict::kStateless);
    EXPECT_FALSE(p.blocked()) << render_plan_text(p);
    EXPECT_THAT(render_plan_text(p), HasSubstr("safe to start"));
}

TEST_F(UpgradePlanTest, ParallelismChangeIsAResplit) {
    UpgradePlan p = plan(topology(kSessions, "sessions", 1), topology(kSessions, "sessions", 4));
    const ComponentPlan& s = find(p, "sessions");
    EXPECT_EQ(s.verdict, StateVerdict::kResplit);
    EXPECT_EQ(s.old_parallelism, 1);
    EXPECT_EQ(s.new_parallelism, 4);
    EXPECT_THAT(reasons(s), HasSubstr("re-split by key group"));
    EXPECT_FALSE(p.blocked());
}

TEST_F(UpgradePlanTest, StateTtlChangesKeepTheStateAndSayWhatExpires) {
    auto with_ttl = [&](const std::string& ttl) {
        return topology("  count: {type: counted, input: clicks, key: user" +
                            (ttl.empty() ? "" : ", state_ttl: " + ttl) + "}\n",
                        "count");
    };
    const ComponentPlan added = find(plan(with_ttl(""), with_ttl("30d")), "count");
    EXPECT_EQ(added.verdict, StateVerdict::kKept);
    EXPECT_THAT(reasons(added), HasSubstr("state_ttl 30d added"));
    const ComponentPlan shorter = find(plan(with_ttl("30d"), with_ttl("7d")), "count");
    EXPECT_EQ(shorter.verdict, StateVerdict::kKept);
    EXPECT_THAT(reasons(shorter), HasSubstr("state_ttl 30d -> 7d: keys untouched for 7d are "
                                            "dropped"));
    const ComponentPlan longer = find(plan(with_ttl("7d"), with_ttl("30d")), "count");
    EXPECT_THAT(reasons(longer), HasSubstr("kept longer"));
    const ComponentPlan removed = find(plan(with_ttl("7d"), with_ttl("")), "count");
    EXPECT_EQ(removed.verdict, StateVerdict::kKept);
    EXPECT_THAT(reasons(removed), HasSubstr("state_ttl removed (was 7d)"));
    EXPECT_THAT(reasons(find(plan(with_ttl("7d"), with_ttl("7d")), "count")),
                Not(HasSubstr("state_ttl")));
}

TEST_F(UpgradePlanTest, ResplitSaysWhatHappensToSharedAndPerShardState) {
    std::string model =
        "  clusters: {type: kmeans, input: clicks, key: user, fields: [dwell_ms], k: 2}\n";
    UpgradePlan p = plan(topology(model, "clusters", 1), topology(model, "clusters", 2));
    const ComponentPlan& c = find(p, "clusters");
    EXPECT_EQ(c.verdict, StateVerdict::kResplit) << reasons(c);
    EXPECT_THAT(reasons(c), HasSubstr("is kept as is"));
}

TEST_F(UpgradePlanTest, RemovedOperatorIsDroppedAndRefusedUnlessAllowed) {
    std::string stateless =
        "  clean: {type: filter, input: clicks, field: user, op: ne, value: x}\n";
    UpgradePlan p =
        plan(topology(kCount + kSessions + stateless, "count"), topology(kCount, "count"));
    const ComponentPlan& s = find(p, "sessions");
    EXPECT_EQ(s.verdict, StateVerdict::kDropped);
    EXPECT_TRUE(s.refused);
    EXPECT_THAT(reasons(s), HasSubstr("--allow-state-drop sessions"));
    EXPECT_EQ(find(p, "clean").verdict, StateVerdict::kDropped);
    EXPECT_FALSE(find(p, "clean").refused);
    EXPECT_TRUE(p.blocked());

    UpgradePlan allowed =
        plan(topology(kCount + kSessions, "count"), topology(kCount, "count"), false, {"sessions"});
    EXPECT_FALSE(find(allowed, "sessions").refused);
    EXPECT_FALSE(allowed.blocked());
}

TEST_F(UpgradePlanTest, NewOperatorsStartEmptyAndModelsUntrained) {
    std::string model =
        "  clusters: {type: kmeans, input: clicks, key: user, fields: [dwell_ms], k: 2}\n";
    UpgradePlan p = plan(topology(kCount, "count"), topology(kCount + kSessions + model, "count"));
    const ComponentPlan& s = find(p, "sessions");
    EXPECT_EQ(s.verdict, StateVerdict::kNew);
    EXPECT_THAT(reasons(s), HasSubstr("starts empty"));
    EXPECT_EQ(find(p, "clusters").verdict, StateVerdict::kNew);
    EXPECT_THAT(reasons(find(p, "clusters")), HasSubstr("untrained model"));
    EXPECT_FALSE(p.blocked());
}

TEST_F(UpgradePlanTest, RenameWithoutRenamedFromIsDropPlusNew) {
    UpgradePlan p = plan(topology(kCount, "count"),
                         topology("  tally: {type: counted, input: clicks, key: user}\n", "tally"));
    EXPECT_EQ(find(p, "count").verdict, StateVerdict::kDropped);
    EXPECT_EQ(find(p, "tally").verdict, StateVerdict::kNew);
    EXPECT_TRUE(p.blocked());
}

TEST_F(UpgradePlanTest, RenamedFromKeepsTheState) {
    UpgradePlan p =
        plan(topology(kCount, "count"),
             topology("  tally: {type: counted, input: clicks, key: user, renamed_from: count}\n",
                      "tally"));
    const ComponentPlan& t = find(p, "tally");
    EXPECT_EQ(t.verdict, StateVerdict::kKept) << reasons(t);
    EXPECT_EQ(t.renamed_from, "count");
    EXPECT_EQ(std::count_if(p.components.begin(), p.components.end(),
                            [](const auto& c) { return c.name == "count"; }),
              0);
    EXPECT_THAT(render_plan_text(p), HasSubstr("kept (renamed from count)"));
    EXPECT_FALSE(p.blocked());
}

TEST_F(UpgradePlanTest, TypeChangeIsIncompatible) {
    UpgradePlan p =
        plan(topology(kSessions, "sessions"),
             topology("  sessions: {type: counted, input: clicks, key: user}\n", "sessions"));
    const ComponentPlan& s = find(p, "sessions");
    EXPECT_EQ(s.verdict, StateVerdict::kIncompatible);
    EXPECT_THAT(reasons(s), HasSubstr("was a sessionizer and is now a counted"));
    EXPECT_TRUE(s.refused);
    EXPECT_TRUE(p.blocked());
}

TEST_F(UpgradePlanTest, KeyChangeIsIncompatible) {
    UpgradePlan p = plan(topology(kCount, "count"),
                         topology("  count: {type: counted, input: clicks, key: page}\n", "count"));
    const ComponentPlan& c = find(p, "count");
    EXPECT_EQ(c.verdict, StateVerdict::kIncompatible);
    EXPECT_THAT(reasons(c), HasSubstr("was keyed by 'user' and is now keyed by 'page'"));
}

TEST_F(UpgradePlanTest, FormatAndHandleChangesAreIncompatible) {
    std::string v2 = "  count: {type: counted, input: clicks, key: user, version: 2}\n";
    UpgradePlan newer = plan(topology(v2, "count"), topology(kCount, "count"));
    EXPECT_EQ(find(newer, "count").verdict, StateVerdict::kIncompatible);
    EXPECT_THAT(reasons(find(newer, "count")),
                HasSubstr("has format version 2, newer than this Eddy's 1"));
    // An older format is read by the newer codec.
    EXPECT_EQ(find(plan(topology(kCount, "count"), topology(v2, "count")), "count").verdict,
              StateVerdict::kKept);

    UpgradePlan gone = plan(
        topology(kCount, "count"),
        topology("  count: {type: counted, input: clicks, key: user, layout: none}\n", "count"));
    EXPECT_THAT(reasons(find(gone, "count")), HasSubstr("no longer keeps state 'count'"));

    UpgradePlan moved =
        plan(topology(kCount, "count"),
             topology("  count: {type: counted, input: clicks, key: user, layout: extra_first}\n",
                      "count"));
    EXPECT_EQ(find(moved, "count").verdict, StateVerdict::kIncompatible);
    EXPECT_THAT(reasons(find(moved, "count")), HasSubstr("moved from position 0 to 1"));
}

TEST_F(UpgradePlanTest, AnOperatorThatCannotOpenIsReportedNotGuessed) {
    UpgradePlan p = plan(topology(kCount, "count"),
                         topology("  count: {type: counted, input: clicks, key: user, secret: " +
                                      (dir_ / "missing.key").string() + "}\n",
                                  "count"));
    const ComponentPlan& c = find(p, "count");
    EXPECT_EQ(c.verdict, StateVerdict::kUnknown);
    EXPECT_THAT(reasons(c), HasSubstr("secret file"));
    EXPECT_TRUE(p.blocked());
}

TEST_F(UpgradePlanTest, JsonHasEveryComponent) {
    UpgradePlan p = plan(topology(kCount, "count"), topology(kSessions, "sessions"));
    std::string json = render_plan_json(p);
    EXPECT_THAT(json, HasSubstr(R"("name":"sessions","kind":"operator","verdict":"new")"));
    EXPECT_THAT(json, HasSubstr(R"("name":"count","kind":"operator","verdict":"dropped")"));
    EXPECT_THAT(json, HasSubstr(R"("ok":false)"));
}

// ---- against a real state dir ----

TEST_F(UpgradePlanTest, WithStateEveryClassification) {
    run(topology(kCount + kSessions, "count"));
    // kept, re-split, new
    UpgradePlan p =
        plan(topology(kCount + kSessions, "count"),
             topology(kCount + kSessions + "  later: {type: counted, input: clicks, key: page}\n",
                      "count", 2),
             true);
    EXPECT_EQ(find(p, "count").verdict, StateVerdict::kResplit) << render_plan_text(p);
    EXPECT_EQ(find(p, "later").verdict, StateVerdict::kNew);
    EXPECT_EQ(find(p, "clicks").verdict, StateVerdict::kKept);
    EXPECT_THAT(reasons(find(p, "clicks")), HasSubstr("stored position"));
    EXPECT_FALSE(p.blocked()) << render_plan_text(p);

    // dropped (with state), incompatible key, renamed
    UpgradePlan q = plan(
        topology(kCount + kSessions, "count"),
        topology("  count: {type: counted, input: clicks, key: page}\n"
                 "  visits: {type: sessionizer, input: clicks, key: user, gap: 30s, renamed_from: "
                 "sessions}\n",
                 "count"),
        true);
    EXPECT_EQ(find(q, "count").verdict, StateVerdict::kIncompatible);
    EXPECT_EQ(find(q, "visits").verdict, StateVerdict::kKept);
    EXPECT_EQ(find(q, "visits").renamed_from, "sessions");
    EXPECT_TRUE(q.blocked());

    // The state dir is the truth, whatever OLD says: it holds sessions.
    UpgradePlan r = plan(topology(kCount, "count"), topology(kCount + kSessions, "count"), true);
    EXPECT_EQ(find(r, "sessions").verdict, StateVerdict::kKept) << render_plan_text(r);
    UpgradePlan d = plan(topology(kCount, "count"), topology(kSessions, "sessions"), true);
    EXPECT_EQ(find(d, "count").verdict, StateVerdict::kDropped);
    EXPECT_TRUE(find(d, "count").refused);
}

TEST_F(UpgradePlanTest, WithStateFormatAndTypeAgreeWithRun) {
    std::string v2 = "  count: {type: counted, input: clicks, key: user, version: 2}\n";
    run(topology(v2, "count"));
    UpgradePlan p = plan(topology(v2, "count"), topology(kCount, "count"), true);
    const ComponentPlan& c = find(p, "count");
    ASSERT_EQ(c.verdict, StateVerdict::kIncompatible);
    // `eddy run` refuses with the same sentence.
    Status s;
    run(topology(kCount, "count"), {}, &s);
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr(c.reasons.at(0)));

    UpgradePlan t =
        plan(topology(v2, "count"),
             topology("  count: {type: sessionizer, input: clicks, key: user, gap: 1m}\n", "count"),
             true);
    EXPECT_THAT(reasons(find(t, "count")), HasSubstr("was a counted and is now a sessionizer"));
}

TEST_F(UpgradePlanTest, KeyChangeIsRefusedByRunToo) {
    run(topology(kCount, "count"));
    Status s;
    run(topology("  count: {type: counted, input: clicks, key: page}\n", "count"), {}, &s);
    ASSERT_FALSE(s.is_ok());
    EXPECT_THAT(s.message(), HasSubstr("was keyed by 'user' and is now keyed by 'page'"));
    JobOptions allow;
    allow.allow_state_drop = {"count"};
    run(topology("  count: {type: counted, input: clicks, key: page}\n", "count"), allow);
}

TEST_F(UpgradePlanTest, StateDirOfAnotherTopologyIsAProblem) {
    run(topology(kCount, "count"));
    std::string other = topology(kCount, "count");
    other.replace(other.find("name: upgrade"), 13, "name: another");
    UpgradePlan p = plan(topology(kCount, "count"), other, true);
    ASSERT_EQ(p.problems.size(), 1u);
    EXPECT_THAT(p.problems[0], HasSubstr("belongs to topology 'upgrade'"));
    EXPECT_TRUE(p.blocked());
}

TEST_F(UpgradePlanTest, NotAStateDirIsNotFound) {
    Topology a = parse(topology(kCount, "count"));
    auto p = plan_upgrade(a, a, (dir_ / "nothing").string(), {});
    ASSERT_FALSE(p.is_ok());
    EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
    EXPECT_FALSE(fs::exists(dir_ / "nothing"));
}

// ---- renamed_from ----

TEST_F(UpgradePlanTest, RenamedFromIsValidated) {
    EXPECT_THAT(errors(topology(kCount + "  tally: {type: counted, input: clicks, key: user, "
                                         "renamed_from: count}\n",
                                "count")),
                HasSubstr("names an operator that is still in the topology"));
    EXPECT_THAT(
        errors(topology("  a: {type: counted, input: clicks, key: user, renamed_from: old}\n"
                        "  b: {type: counted, input: clicks, key: user, renamed_from: old}\n",
                        "a")),
        HasSubstr("both say `renamed_from: old`"));
    std::string on_sink = topology(kCount, "count");
    on_sink.replace(on_sink.find("input: count}"), 13, "input: count, renamed_from: x}");
    EXPECT_THAT(errors(on_sink), HasSubstr("unknown parameter 'renamed_from'"));
    // The old name need not exist anywhere.
    EXPECT_EQ(errors(topology(
                  "  a: {type: counted, input: clicks, key: user, renamed_from: gone}\n", "a")),
              "");
}

int64_t last_n(const std::vector<std::string>& lines) {
    int64_t best = 0;
    for (const std::string& l : lines) {
        auto at = l.find("\"n\":");
        if (at != std::string::npos) {
            best = std::max<int64_t>(best, std::stoll(l.substr(at + 4)));
        }
    }
    return best;
}

TEST_F(UpgradePlanTest, RunMovesARenamedOperatorsStateAndResumesIt) {
    // The first run stops mid-input (a stop takes a checkpoint).
    const std::string stop = "  stop: {type: stop_after, input: clicks, records: 150}\n";
    std::vector<std::string> before = run(topology(kCount, "count") + stop);
    ASSERT_FALSE(before.empty());
    ASSERT_LT(before.size(), 300u);
    std::string renamed = topology(
        "  tally: {type: counted, input: clicks, key: user, renamed_from: count}\n", "tally");
    UpgradePlan p = plan(topology(kCount, "count"), renamed, true);
    EXPECT_EQ(find(p, "tally").verdict, StateVerdict::kKept) << render_plan_text(p);
    EXPECT_EQ(find(p, "tally").renamed_from, "count");

    std::vector<std::string> lines = run(renamed);
    EXPECT_EQ(before.size() + lines.size(), 300u);
    EXPECT_LT(last_n(before), 60);
    EXPECT_EQ(last_n(lines), 60);  // 60 records per user over both runs: the counts went on
    {
        auto store = state::StateStore::open(state_dir(), 8 << 20);
        ASSERT_TRUE(store.is_ok()) << store.status().message();
        EXPECT_FALSE(store.value()->get_meta("op/count").has_value());
        EXPECT_TRUE(store.value()->get_meta("op/tally").has_value());
        EXPECT_EQ(store.value()->find_family("op:count"), nullptr);
        EXPECT_EQ(store.value()->find_family("timers:count"), nullptr);
        EXPECT_NE(store.value()->find_family("op:tally"), nullptr);
    }
    // Afterwards renamed_from is a no-op, and the plan says the state is tally's.
    UpgradePlan again = plan(renamed, renamed, true);
    EXPECT_EQ(find(again, "tally").verdict, StateVerdict::kKept);
    EXPECT_EQ(find(again, "tally").renamed_from, "");
    EXPECT_TRUE(run(renamed).empty());
}

}  // namespace
}  // namespace eddy
