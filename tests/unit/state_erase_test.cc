// SPDX-License-Identifier: Apache-2.0
// Per-key erasure on a state dir: the key leaves every operator keyed by the
// field (entries and timers), other operators and keys stay, the bytes are
// physically gone from the files, and state without recorded key fields is
// refused rather than erased partially.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "eddy/state.h"
#include "eddy/value.h"

#include "state/erase.h"
#include "state/layout.h"
#include "state/operator_meta.h"
#include "state/store.h"

namespace eddy::state {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string encoded(const Value& key) {
    std::string out;
    encode_state_key(key, out);
    return out;
}

std::string timer_key(const std::string& enc, int64_t time) {
    std::string k;
    put_u16(k, key_group_of_encoded(enc));
    k.push_back(0);
    put_time(k, time);
    return k + enc;
}

class StateEraseTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() / ("eddy_erase_" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        auto opened = StateStore::open(dir_.string(), 16 << 20);
        ASSERT_TRUE(opened.is_ok()) << opened.status().message();
        store_ = std::move(opened.value());
    }
    void TearDown() override {
        store_.reset();
        fs::remove_all(dir_);
    }

    /// An operator `op` keyed by `field` with a keyed handle "s" and a global handle "g".
    void add_operator(const std::string& op, const std::string& field, bool record_key = true) {
        OperatorMeta meta;
        meta.type = "test";
        meta.handles = {{"s", true, 1}, {"g", false, 1}};
        meta.key_field = field;
        std::string bytes = encode_operator_meta(meta);
        if (!record_key) {
            bytes.resize(bytes.size() - 1 - field.size());  // as written before key fields
        }
        rocksdb::WriteBatch batch;
        store_->put_meta(batch, "op/" + op, bytes);
        ASSERT_TRUE(store_->commit(batch).is_ok());
    }

    void put(const std::string& family, const std::string& key, const std::string& value) {
        auto cf = store_->family(family);
        ASSERT_TRUE(cf.is_ok());
        rocksdb::WriteBatch batch;
        ASSERT_TRUE(batch.Put(cf.value(), key, value).ok());
        ASSERT_TRUE(store_->commit(batch).is_ok());
    }

    void put_entry(const std::string& op, const Value& key, const std::string& value) {
        std::string enc = encoded(key);
        put(operator_family(op), entry_key(key_group_of_encoded(enc), 0, enc), value);
    }

    bool has(const std::string& family, const std::string& key) {
        std::string value;
        return store_->db()
            .Get(rocksdb::ReadOptions(), store_->find_family(family), key, &value)
            .ok();
    }

    bool has_entry(const std::string& op, const Value& key) {
        std::string enc = encoded(key);
        return has(operator_family(op), entry_key(key_group_of_encoded(enc), 0, enc));
    }

    /// Whether any file of the state dir contains `bytes`.
    bool files_contain(const std::string& bytes) {
        for (const auto& entry : fs::directory_iterator(dir_)) {
            std::ifstream in(entry.path(), std::ios::binary);
            std::string content{std::istreambuf_iterator<char>(in),
                                std::istreambuf_iterator<char>()};
            if (content.find(bytes) != std::string::npos) {
                return true;
            }
        }
        return false;
    }

    fs::path dir_;
    std::unique_ptr<StateStore> store_;
};

TEST_F(StateEraseTest, RemovesTheKeyFromEveryOperatorKeyedByTheField) {
    add_operator("sessions", "user_id");
    add_operator("profiles", "user_id");
    add_operator("by_session", "session_id");
    put_entry("sessions", Value::string_view("u123"), "SECRET-sessions-u123");
    put_entry("sessions", Value::string_view("u9"), "kept-u9");
    put_entry("profiles", Value::string_view("u123"), "SECRET-profiles-u123");
    put_entry("by_session", Value::string_view("u123"), "kept-other-field");
    std::string global_key;
    put_u16(global_key, kGlobalGroup);
    global_key.push_back(1);
    put_u16(global_key, 0);
    put(operator_family("sessions"), global_key, "global");
    std::string enc = encoded(Value::string_view("u123"));
    put(timer_family("sessions"), timer_key(enc, 1000), "");
    put(timer_family("sessions"), timer_key(encoded(Value::string_view("u9")), 1000), "");
    ASSERT_TRUE(
        store_->db().Flush(rocksdb::FlushOptions(), store_->find_family("op:sessions")).ok());
    ASSERT_TRUE(files_contain("SECRET-sessions-u123"));

    std::vector<std::string> report;
    Status s = erase_key(*store_, "user_id", "u123", report);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_THAT(report, ::testing::UnorderedElementsAre(
                            "operator 'sessions' state 's' key \"u123\"",
                            "operator 'profiles' state 's' key \"u123\"",
                            "operator 'sessions' timer event_time at 1000 key \"u123\""));
    EXPECT_FALSE(has_entry("sessions", Value::string_view("u123")));
    EXPECT_FALSE(has_entry("profiles", Value::string_view("u123")));
    EXPECT_FALSE(has(timer_family("sessions"), timer_key(enc, 1000)));
    EXPECT_TRUE(has_entry("sessions", Value::string_view("u9")));
    EXPECT_TRUE(has_entry("by_session", Value::string_view("u123")));
    EXPECT_TRUE(has(operator_family("sessions"), global_key));
    EXPECT_TRUE(has(timer_family("sessions"), timer_key(encoded(Value::string_view("u9")), 1000)));

    // Physically gone: neither SST files nor write-ahead logs hold the values.
    EXPECT_FALSE(files_contain("SECRET-sessions-u123"));
    EXPECT_FALSE(files_contain("SECRET-profiles-u123"));
    EXPECT_TRUE(files_contain("kept-u9"));
}

TEST_F(StateEraseTest, AnIntegerKeyMatchesTheIntKeyAndTheStringKey) {
    add_operator("counts", "user_id");
    put_entry("counts", Value::integer(42), "int");
    put_entry("counts", Value::string_view("42"), "text");
    std::vector<std::string> report;
    ASSERT_TRUE(erase_key(*store_, "user_id", "42", report).is_ok());
    EXPECT_THAT(report, ::testing::UnorderedElementsAre("operator 'counts' state 's' key \"42\"",
                                                        "operator 'counts' state 's' key 42"));
    EXPECT_FALSE(has_entry("counts", Value::integer(42)));
    EXPECT_FALSE(has_entry("counts", Value::string_view("42")));
}

TEST_F(StateEraseTest, AnUnknownKeyOrFieldRemovesNothing) {
    add_operator("sessions", "user_id");
    put_entry("sessions", Value::string_view("u1"), "v");
    std::vector<std::string> report;
    ASSERT_TRUE(erase_key(*store_, "user_id", "nobody", report).is_ok());
    ASSERT_TRUE(erase_key(*store_, "session_id", "u1", report).is_ok());
    EXPECT_TRUE(report.empty());
    EXPECT_TRUE(has_entry("sessions", Value::string_view("u1")));
}

TEST_F(StateEraseTest, StateWithoutRecordedKeyFieldsIsRefusedBeforeAnythingIsErased) {
    add_operator("sessions", "user_id");
    add_operator("legacy", "user_id", /*record_key=*/false);
    put_entry("sessions", Value::string_view("u1"), "v");
    put_entry("legacy", Value::string_view("u1"), "v");
    std::vector<std::string> report;
    Status s = erase_key(*store_, "user_id", "u1", report);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_THAT(s.message(), HasSubstr("operator 'legacy'"));
    EXPECT_THAT(s.message(), HasSubstr("Nothing was erased"));
    EXPECT_TRUE(report.empty());
    EXPECT_TRUE(has_entry("sessions", Value::string_view("u1")));
}

TEST_F(StateEraseTest, AStoreThatHeldScaleOutPartitionsNamesItsSources) {
    // What `eddy state erase` warns about: the key also lives in changelogs.
    EXPECT_TRUE(scale_out_sources(*store_).empty());
    rocksdb::WriteBatch batch;
    store_->put_meta(batch, "scaleout_member", "0123456789abcdef");  // not a partition
    store_->put_meta(batch, "scaleout_restoring/2", "");             // nor this
    EXPECT_TRUE(store_->commit(batch).is_ok());
    EXPECT_TRUE(scale_out_sources(*store_).empty());
    rocksdb::WriteBatch more;
    store_->put_meta(more, "scaleout/0", "x");  // the topology's first source
    store_->put_meta(more, "scaleout/4", "x");
    store_->put_meta(more, "scaleout:items-repartition/3", "x");
    EXPECT_TRUE(store_->commit(more).is_ok());
    EXPECT_EQ(scale_out_sources(*store_), (std::vector<std::string>{"", "items-repartition"}));
}

TEST(OperatorMetaTest, ReadsEntriesWrittenBeforeTheKeyFieldAndIgnoresLaterFields) {
    OperatorMeta meta;
    meta.type = "window";
    meta.parallelism = 4;
    meta.handles = {{"windows", true, 2}};
    meta.key_field = "user_id";
    std::string bytes = encode_operator_meta(meta);

    OperatorMeta read;
    ASSERT_TRUE(decode_operator_meta(bytes, read));
    EXPECT_TRUE(read.has_key_field);
    EXPECT_EQ(read.key_field, "user_id");
    EXPECT_EQ(read.parallelism, 4u);
    ASSERT_EQ(read.handles.size(), 1u);
    EXPECT_EQ(read.handles[0].version, 2);

    ASSERT_TRUE(decode_operator_meta(bytes + "later", read));
    EXPECT_EQ(read.key_field, "user_id");

    std::string old = bytes.substr(0, bytes.size() - 1 - meta.key_field.size());
    ASSERT_TRUE(decode_operator_meta(old, read));
    EXPECT_FALSE(read.has_key_field);
    EXPECT_EQ(read.type, "window");

    EXPECT_FALSE(decode_operator_meta(bytes.substr(0, 5), read));
}

}  // namespace
}  // namespace eddy::state
