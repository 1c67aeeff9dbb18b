// SPDX-License-Identifier: Apache-2.0
// `scale_out: kafka` (docs/scale-out.md) against `eddy broker`: several
// `eddy run` processes share one consumer group, and each input partition's
// keyed state moves with it through the changelog topic. Three processes, one
// SIGKILLed mid-stream, end with the state of a single process over the same
// input (each key in exactly one survivor); so do three joined by a fourth
// mid-stream; messages not partitioned by murmur2 of their key, or without a
// key, go to the source's errors; and a restarted process keeps its local
// state without reading the changelog; k-means models learnt by three
// processes converge on one model that keeps the quality bar; a state
// query for a key another process owns is redirected to that process; state
// keyed by item moves with the partitions of a repartition topic; and a
// changelog topic that cannot be created is an error at start.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "files.h"
#include "io/changelog.h"
#include "json_fields.h"
#include "kafka_support.h"
#include "kmeans_support.h"
#include "process.h"

namespace eddy {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 6;
constexpr int kEvents = 12000;  // about 4.5 MB: under the test broker's 5 MiB per partition
const std::vector<std::pair<std::string, std::string>> kMurmur2 = {
    {"partitioner", "murmur2_random"}};

std::string user_of(const std::string& line) {
    std::string raw = testing::raw(line, "user_id");
    return raw.size() >= 2 ? raw.substr(1, raw.size() - 2) : "";
}

/// `line` without the field `name` (a flat value: a number, bool or string).
std::string without_field(std::string line, const std::string& name) {
    std::string needle = "\"" + name + "\":";
    size_t at = line.find(needle);
    if (at == std::string::npos) {
        return line;
    }
    size_t end = at + needle.size();
    if (end < line.size() && line[end] == '"') {
        end = line.find('"', end + 1) + 1;
    } else {
        end = line.find_first_of(",}", end);
    }
    if (end < line.size() && line[end] == ',') {
        ++end;  // "name":v,  -> the next field follows directly
    } else if (at > 0 && line[at - 1] == ',') {
        --at;  // ,"name":v} -> the last field goes with its comma
    }
    return line.erase(at, end - at);
}

/// The operator's keyed state in a stopped job's state dir (`eddy state
/// dump`): "state|key" -> the entry without value.last_emit and
/// value.pending, which depend on when watermarks came (they legitimately
/// differ between runs). Timers are left out. A key twice is a failure.
std::map<std::string, std::string> state_of(const fs::path& state_dir, const std::string& op) {
    std::map<std::string, std::string> out;
    testing::ProgramOutcome dump =
        testing::run_program({EDDY_BINARY, "state", "dump", state_dir.string(), op}, {}, "", 60);
    EXPECT_EQ(dump.exit_code, 0) << "eddy state dump " << state_dir << ": " << dump.both();
    std::istringstream in(dump.out);
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("{\"state\":")) {
            continue;  // {"timer": ...}
        }
        std::string id = testing::raw(line, "state") + "|" + testing::raw(line, "key");
        std::string entry = without_field(without_field(line, "last_emit"), "pending");
        EXPECT_TRUE(out.emplace(id, entry).second) << id << " twice in " << state_dir;
    }
    return out;
}

/// Sum of value.events over the entries: every input event counts once.
long long events_in(const std::map<std::string, std::string>& state) {
    long long sum = 0;
    for (const auto& [id, entry] : state) {
        sum += static_cast<long long>(testing::num(entry, "events"));
    }
    return sum;
}

/// The partitions of `source` the process owns after its last
/// "took"/"released" line for it ("[clicks] ... owning N"); -1 before any.
int owning(const std::string& log, const std::string& source = "clicks") {
    const std::string tag = "[" + source + "] ";
    int n = -1;
    size_t line = 0;
    while (line < log.size()) {
        size_t end = log.find('\n', line);
        if (end == std::string::npos) {
            end = log.size();
        }
        std::string_view text(log.data() + line, end - line);
        size_t at = text.rfind("; owning ");
        if (at != std::string_view::npos && text.find(tag) != std::string_view::npos) {
            n = std::atoi(std::string(text.substr(at + 9)).c_str());
        }
        line = end + 1;
    }
    return n;
}

/// The input offset in the last checkpoint marker of each partition of the
/// changelog topic (-1: none yet): how far the state in the changelog has
/// read that input partition, as a restore would find it. Empty when the
/// brokers do not answer.
std::vector<int64_t> marker_offsets(const std::string& bootstrap, const std::string& changelog) {
    KafkaClientOptions client;
    client.brokers = bootstrap;
    client.connect_timeout_ms = 5000;
    auto log = Changelog::open(client, changelog, kPartitions, /*writer=*/0, "test: ");
    if (!log.is_ok()) {
        return {};
    }
    std::vector<int64_t> out;
    for (int32_t p = 0; p < kPartitions; ++p) {
        auto read = log.value()->read(
            p, [](std::string_view, std::optional<std::string_view>) { return Status::ok(); });
        if (!read.is_ok()) {
            return {};
        }
        out.push_back(read.value().input_offset);
    }
    return out;
}

size_t count_of(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
        ++n;
    }
    return n;
}

/// The sum of N over "... N timers ..." in a log's restore lines.
int restored_timers(const std::string& log) {
    int n = 0;
    for (size_t at = log.find(" timers from "); at != std::string::npos;
         at = log.find(" timers from ", at + 1)) {
        size_t start = log.rfind(' ', at - 1) + 1;
        n += std::stoi(log.substr(start, at - start));
    }
    return n;
}

/// The pending timers of `op` in a stopped (or killed) process's state dir.
int stored_timers(const fs::path& state_dir, const std::string& op) {
    testing::ProgramOutcome ls =
        testing::run_program({EDDY_BINARY, "state", "ls", state_dir.string()}, {}, "", 60);
    std::istringstream in(ls.out);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string name, type, key;
        int entries = 0;
        int timers = 0;
        if (fields >> name >> type >> key >> entries >> timers && name == op) {
            return timers;
        }
    }
    return 0;
}

/// A k-means model as `eddy state dump` shows it.
struct KmeansDump {
    std::string phase;
    std::vector<std::vector<double>> centroids;
    std::vector<double> variance;
};

KmeansDump kmeans_of(const fs::path& state_dir, const std::string& op) {
    KmeansDump out;
    testing::ProgramOutcome dump =
        testing::run_program({EDDY_BINARY, "state", "dump", state_dir.string(), op}, {}, "", 60);
    EXPECT_EQ(dump.exit_code, 0) << "eddy state dump " << state_dir << ": " << dump.both();
    std::istringstream in(dump.out);
    for (std::string line; std::getline(in, line);) {
        if (line.find("\"state\":\"model\"") == std::string::npos) {
            continue;
        }
        simdjson::dom::parser parser;
        simdjson::dom::element value = parser.parse(line)["value"];
        out.phase = std::string(std::string_view(value["phase"]));
        for (simdjson::dom::element row : value["centroids"].get_array()) {
            out.centroids.emplace_back();
            for (double x : row.get_array()) {
                out.centroids.back().push_back(x);
            }
        }
        for (double v : value["variance"].get_array()) {
            out.variance.push_back(v);
        }
    }
    return out;
}

/// Squared distance in standard deviations of the data (`variance`).
double standardized2(const std::vector<double>& a, const std::vector<double>& b,
                     const std::vector<double>& variance) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        s += (a[i] - b[i]) * (a[i] - b[i]) / std::max(variance[i], 1e-12);
    }
    return s;
}

/// Pairs each centroid of `a` with a centroid of `b`, closest pairs first,
/// and returns the largest distance of a pair, in standard deviations of
/// the data (as `a` measured them).
double largest_pair_distance(const KmeansDump& a, const KmeansDump& b) {
    std::vector<std::tuple<double, size_t, size_t>> pairs;
    for (size_t i = 0; i < a.centroids.size(); ++i) {
        for (size_t j = 0; j < b.centroids.size(); ++j) {
            pairs.emplace_back(standardized2(a.centroids[i], b.centroids[j], a.variance), i, j);
        }
    }
    std::sort(pairs.begin(), pairs.end());
    std::set<size_t> paired_a;
    std::set<size_t> paired_b;
    double largest = 0;
    for (const auto& [d2, i, j] : pairs) {
        if (paired_a.count(i) == 0 && paired_b.count(j) == 0) {
            paired_a.insert(i);
            paired_b.insert(j);
            largest = std::max(largest, std::sqrt(d2));
        }
    }
    return largest;
}

/// The nearest centroid of each point, in the model's standardized distance.
std::vector<int> segments_of(const testing::Dataset& ds, const KmeansDump& m) {
    std::vector<int> out;
    for (size_t n = 0; n < ds.n; ++n) {
        std::vector<double> x(ds.row(n), ds.row(n) + ds.d);
        int best = 0;
        for (size_t j = 1; j < m.centroids.size(); ++j) {
            if (standardized2(x, m.centroids[j], m.variance) <
                standardized2(x, m.centroids[static_cast<size_t>(best)], m.variance)) {
                best = static_cast<int>(j);
            }
        }
        out.push_back(best);
    }
    return out;
}

class ScaleOutTest : public ::testing::Test {
protected:
    /// One `eddy run` of the scale-out topology: its dir holds topology.yaml,
    /// state/, out.jsonl (and errors.jsonl) and log.txt (its stderr).
    struct Process {
        std::string name;
        fs::path dir;
        pid_t pid = -1;
        fs::path log() const { return dir / "log.txt"; }
        fs::path state() const { return dir / "state"; }
        std::string log_text() const { return testing::read_file(log()); }
    };

    void SetUp() override {
        started_ = Clock::now();
        dir_ = fs::temp_directory_path() /
               ("eddy_scale_out_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        ASSERT_TRUE(fs::exists(EDDY_BINARY)) << "eddy binary not built at " << EDDY_BINARY;
    }

    void TearDown() override {
        for (pid_t pid : running_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        std::printf("[ scale_out ] %.1f s\n",
                    std::chrono::duration<double>(Clock::now() - started_).count());
        // The broker writes its log into dir_ until it stops.
        broker_.reset();
        if (HasFailure()) {
            std::printf("[ scale_out ] kept %s (each process's log.txt is its stderr)\n",
                        dir_.c_str());
        } else {
            fs::remove_all(dir_);
        }
    }

    /// `eddy gen` lines: JSON clicks with user_id and ts.
    std::vector<std::string> generate(int events, int users, int seed) {
        fs::path file = dir_ / ("gen_" + std::to_string(seed) + ".jsonl");
        testing::ProgramOutcome gen = testing::run_program(
            {EDDY_BINARY, "gen", "--events", std::to_string(events), "--users",
             std::to_string(users), "--seed", std::to_string(seed), "-o", file.string()});
        EXPECT_EQ(gen.exit_code, 0) << gen.both();
        return testing::read_lines(file);
    }

    /// Starts a broker with clicks:6 and the changelog topics of `jobs`;
    /// false (the test then skips) when it did not start.
    bool start_broker(const std::vector<std::string>& jobs) {
        std::vector<std::string> topics = {"clicks:" + std::to_string(kPartitions)};
        for (const std::string& job : jobs) {
            topics.push_back(job + "-changelog:" + std::to_string(kPartitions));
            topics.push_back(job + "-models:1");
            // The test broker cannot create topics through the Admin API.
            topics.push_back(job + "-items-repartition:" + std::to_string(kPartitions));
            topics.push_back(job + "-items-repartition-changelog:" + std::to_string(kPartitions));
            topics.push_back(job + "-profiles:" + std::to_string(kPartitions));
        }
        broker_ = std::make_unique<testing::TestBroker>(dir_, topics);
        bootstrap_ = broker_->bootstrap();
        return !bootstrap_.empty();
    }

    /// A process of `job` (also its group) named `name`, not started yet;
    /// `graph` replaces the default operators and sinks (profile, sessionizer).
    Process make_process(const std::string& name, const std::string& job, bool errors = false,
                         const std::string& graph = "") {
        Process p{name, dir_ / name};
        fs::create_directories(p.dir);
        std::ofstream yaml(p.dir / "topology.yaml");
        yaml << "name: " << job << "\n"
             << "state: {dir: " << p.state().string() << ", checkpoint_interval: 1s}\n"
             << "sources:\n"
             << "  clicks:\n"
             << "    type: kafka\n"
             << "    brokers: " << bootstrap_ << "\n"
             << "    topics: [clicks]\n"
             << "    group: " << job << "\n"
             << "    scale_out: kafka\n"
             << "    key_field: user_id\n"
             << "    event_time: {field: ts, unit: ms}\n"
             << "    properties: " << testing::kQuickGroupProperties << "\n";
        if (!graph.empty()) {
            yaml << graph;
            return p;
        }
        yaml << "operators:\n"
             << "  prof: {type: profile, input: clicks, key: user_id, on_late: update, "
                "emit_every: 1m}\n"
             // Open sessions wait for their gap on timers, which must move too.
             << "  sess: {type: sessionizer, input: clicks, key: user_id, gap: 6h}\n"
             << "sinks:\n"
             << "  out: {type: file, input: prof, path: " << (p.dir / "out.jsonl").string() << "}\n"
             << "  late: {type: null, inputs: [prof.late, sess, sess.late]}\n";
        if (errors) {
            yaml << "  errs: {type: file, input: clicks.errors, path: "
                 << (p.dir / "errors.jsonl").string() << "}\n";
        }
        return p;
    }

    /// A repartition (docs/scale-out.md, "Repartition"): `items` keys by
    /// item, so clicks with an item reach it through the repartition topic
    /// `<job>-items-repartition`, which the same group reads.
    /// Profiles by user, and by item behind a repartition topic.
    static std::string repartition_operators() {
        return "operators:\n"
               "  prof: {type: profile, input: clicks, key: user_id, on_late: update, "
               "emit_every: 1m}\n"
               "  viewed: {type: filter, input: clicks, field: item_id, op: exists}\n"
               "  items: {type: profile, input: viewed, key: item_id, on_late: update, "
               "emit_every: 1m}\n";
    }

    static std::string repartition_graph() {
        return repartition_operators() +
               "sinks:\n"
               "  rest: {type: null, inputs: [prof, prof.late, items, items.late, "
               "viewed.rejected]}\n";
    }

    /// Profiles by user to `<job>-profiles` through a transactional kafka
    /// sink: its transactions also carry the changelog and the offsets.
    std::string transactional_graph(const std::string& job) const {
        return "operators:\n"
               "  prof: {type: profile, input: clicks, key: user_id, on_late: update, "
               "emit_every: 1m}\n"
               "sinks:\n"
               "  out: {type: kafka, input: prof, brokers: \"" +
               bootstrap_ + "\", topic: " + job +
               "-profiles, key_field: user_id, transactional: true}\n"
               "  late: {type: null, input: prof.late}\n";
    }

    /// repartition_graph() with `items` written to `<job>-profiles` by a
    /// transactional kafka sink, whose transactions then also carry the
    /// repartition topic's records.
    std::string transactional_repartition_graph(const std::string& job) const {
        return repartition_operators() +
               "sinks:\n"
               "  rest: {type: null, inputs: [prof, prof.late, items.late, viewed.rejected]}\n"
               "  out: {type: kafka, input: items, brokers: \"" +
               bootstrap_ + "\", topic: " + job +
               "-profiles, key_field: item_id, transactional: true}\n";
    }

    void start(Process& p, std::vector<std::string> args = {}) {
        p.pid = testing::start_eddy_run(p.dir / "topology.yaml", p.log(), std::move(args));
        running_.insert(p.pid);
    }

    /// SIGTERM: a graceful stop with a final checkpoint; true on exit 0.
    bool stop(Process& p) {
        if (p.pid <= 0) {
            ADD_FAILURE() << p.name << " is not running";
            return false;
        }
        ::kill(p.pid, SIGTERM);
        int code = testing::wait_exit(p.pid);
        running_.erase(p.pid);
        p.pid = -1;
        EXPECT_EQ(code, 0) << p.name << " did not stop cleanly; its log:\n" << p.log_text();
        return code == 0;
    }

    void kill_hard(Process& p) {
        ASSERT_GT(p.pid, 0) << p.name << " is not running";
        ASSERT_EQ(::kill(p.pid, SIGKILL), 0);
        int status = 0;
        ::waitpid(p.pid, &status, 0);
        running_.erase(p.pid);
        p.pid = -1;
        EXPECT_TRUE(WIFSIGNALED(status)) << p.name << " ended before it was killed";
    }

    /// Polls `done` every 100 ms for up to `seconds`.
    static bool wait_for(const std::function<bool()>& done, int seconds) {
        auto deadline = Clock::now() + std::chrono::seconds(seconds);
        while (Clock::now() < deadline) {
            if (done()) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return done();
    }

    /// Whether the state of every partition of clicks, up to its end, is in
    /// the changelog of `job`: each partition's last checkpoint marker says
    /// so. (The offsets the group has committed say it too, but not always:
    /// a commit that fails in a rebalance is not retried while the input is
    /// idle.)
    bool drained(const std::string& job) const {
        std::vector<int64_t> ends = testing::partition_ends(bootstrap_, "clicks", kPartitions);
        if (marker_offsets(bootstrap_, job + "-changelog") != ends) {
            return false;
        }
        // With the repartition graph, its topic too.
        if (!repartition_) {
            return true;
        }
        std::vector<int64_t> read =
            marker_offsets(bootstrap_, job + "-items-repartition-changelog");
        std::vector<int64_t> end =
            testing::partition_ends(bootstrap_, job + "-items-repartition", kPartitions);
        if (read.size() != end.size()) {
            return false;
        }
        for (size_t p = 0; p < end.size(); ++p) {
            bool commit_record_after = transactional_repartition_ && read[p] + 1 == end[p];
            if (read[p] != end[p] && !commit_record_after) {
                return false;
            }
        }
        return true;
    }

    /// "markers [..], committed [..] of ends [..]" of `job` (also its group)
    /// on clicks, for failure messages.
    std::string progress(const std::string& job) const {
        auto show = [](const std::vector<int64_t>& v) {
            std::string s = "[";
            for (int64_t x : v) {
                s += (s.size() > 1 ? " " : "") + std::to_string(x);
            }
            return s + "]";
        };
        return job + ": changelog markers at " +
               show(marker_offsets(bootstrap_, job + "-changelog")) + ", committed " +
               show(testing::committed_offsets(bootstrap_, job, "clicks", kPartitions)) +
               " of ends " + show(testing::partition_ends(bootstrap_, "clicks", kPartitions));
    }

    /// Waits until the running processes own all partitions between them,
    /// each some, and drained(job); when not, says how far they got.
    bool wait_drained(const std::string& job, const std::vector<Process*>& running,
                      int seconds = 60) {
        // Each source's partitions all owned, some by every process.
        std::vector<std::string> sources = {"clicks"};
        if (repartition_) {
            sources.emplace_back("items-repartition");
        }
        auto owned = [&](std::string* report) {
            bool all = true;
            for (const std::string& source : sources) {
                int sum = 0;
                for (const Process* p : running) {
                    int n = owning(p->log_text(), source);
                    all &= n > 0;
                    sum += std::max(n, 0);
                    if (report != nullptr) {
                        *report +=
                            " " + p->name + " owns " + std::to_string(n) + " of " + source + ";";
                    }
                }
                all &= sum == kPartitions;
            }
            return all;
        };
        // Settled: drained, every partition owned, and no partition moved
        // for 3 s (a rebalance in progress may still move one).
        auto moves = [&] {
            size_t n = 0;
            for (const Process* p : running) {
                n += count_of(p->log_text(), " partition(s) ");
            }
            return n;
        };
        auto settled = [&] {
            if (!owned(nullptr) || !drained(job)) {
                return false;
            }
            size_t before = moves();
            std::this_thread::sleep_for(std::chrono::seconds(3));
            return moves() == before && owned(nullptr) && drained(job);
        };
        if (wait_for(settled, seconds)) {
            return true;
        }
        std::string report;
        owned(&report);
        std::printf("[ scale_out ] not drained after %d s:%s %s\n", seconds, report.c_str(),
                    progress(job).c_str());
        return false;
    }

    size_t produce(const std::vector<std::string>& lines) const {
        return testing::produce_with(bootstrap_, "clicks", lines, user_of, kMurmur2);
    }

    /// The union of the processes' states, each key once (a key in two
    /// processes is a failure unless both have the same entry).
    std::map<std::string, std::string> union_of(const std::vector<Process*>& processes,
                                                const std::string& op = "prof") {
        std::map<std::string, std::string> all;
        for (const Process* p : processes) {
            for (auto& [id, entry] : state_of(p->state(), op)) {
                auto [it, added] = all.emplace(id, entry);
                EXPECT_TRUE(added || it->second == entry)
                    << id << " is in two processes' states, differently:\n  " << it->second
                    << "\n  " << entry << "\n(the second in " << p->name << ")";
            }
        }
        return all;
    }

    /// Fails with the first few differing keys. With `reordered`, numbers
    /// that are not integers may differ in their last bits (1e-12 relative):
    /// decayed sums added in another order.
    static void expect_same_state(const std::map<std::string, std::string>& got,
                                  const std::map<std::string, std::string>& want,
                                  bool reordered = false) {
        EXPECT_EQ(got.size(), want.size()) << "keys in the processes' states vs the reference";
        int shown = 0;
        for (const auto& [id, entry] : want) {
            auto it = got.find(id);
            if (it == got.end() ||
                (it->second != entry && (!reordered || !nearly_same(it->second, entry)))) {
                ADD_FAILURE() << id << " differs\n  reference: " << entry
                              << "\n  processes: " << (it == got.end() ? "(missing)" : it->second);
                if (++shown == 5) {
                    break;
                }
            }
        }
        for (const auto& [id, entry] : got) {
            if (want.count(id) == 0 && shown++ < 5) {
                ADD_FAILURE() << id << " is not in the reference: " << entry;
            }
        }
    }

    /// Whether two JSON texts differ only in the last bits of doubles.
    static bool nearly_same(const std::string& a, const std::string& b) {
        simdjson::dom::parser pa;
        simdjson::dom::parser pb;
        simdjson::dom::element ea;
        simdjson::dom::element eb;
        if (pa.parse(a).get(ea) != simdjson::SUCCESS || pb.parse(b).get(eb) != simdjson::SUCCESS) {
            return false;
        }
        std::function<bool(simdjson::dom::element, simdjson::dom::element)> same =
            [&](simdjson::dom::element x, simdjson::dom::element y) {
                if (x.is_double() && y.is_double()) {
                    double u = x.get_double().value();
                    double v = y.get_double().value();
                    return std::abs(u - v) <= 1e-12 * std::max(std::abs(u), std::abs(v));
                }
                if (x.type() != y.type()) {
                    return false;
                }
                if (x.is_array()) {
                    simdjson::dom::array xs = x.get_array().value();
                    simdjson::dom::array ys = y.get_array().value();
                    if (xs.size() != ys.size()) {
                        return false;
                    }
                    auto yi = ys.begin();
                    for (simdjson::dom::element xe : xs) {
                        if (!same(xe, *yi)) {
                            return false;
                        }
                        ++yi;
                    }
                    return true;
                }
                if (x.is_object()) {
                    simdjson::dom::object xo = x.get_object().value();
                    simdjson::dom::object yo = y.get_object().value();
                    if (xo.size() != yo.size()) {
                        return false;
                    }
                    for (auto [k, xv] : xo) {
                        simdjson::dom::element yv;
                        if (yo[k].get(yv) != simdjson::SUCCESS || !same(xv, yv)) {
                            return false;
                        }
                    }
                    return true;
                }
                return simdjson::to_string(x) == simdjson::to_string(y);
            };
        return same(ea, eb);
    }

    /// `lines` cut at the fractions `at` (ascending, in (0, 1)).
    static std::vector<std::vector<std::string>> split(const std::vector<std::string>& lines,
                                                       const std::vector<double>& at) {
        std::vector<std::vector<std::string>> parts;
        size_t from = 0;
        for (double f : at) {
            auto to = static_cast<size_t>(f * static_cast<double>(lines.size()));
            parts.emplace_back(lines.begin() + static_cast<std::ptrdiff_t>(from),
                               lines.begin() + static_cast<std::ptrdiff_t>(to));
            from = to;
        }
        parts.emplace_back(lines.begin() + static_cast<std::ptrdiff_t>(from), lines.end());
        return parts;
    }

    /// Produces `lines` in `chunks` pieces `pause_ms` apart, on a thread.
    std::thread produce_slowly(std::vector<std::string> lines, int chunks, int pause_ms,
                               size_t& acked) const {
        return std::thread([this, lines = std::move(lines), chunks, pause_ms, &acked] {
            size_t per =
                (lines.size() + static_cast<size_t>(chunks) - 1) / static_cast<size_t>(chunks);
            for (size_t at = 0; at < lines.size(); at += per) {
                std::vector<std::string> chunk(
                    lines.begin() + static_cast<std::ptrdiff_t>(at),
                    lines.begin() + static_cast<std::ptrdiff_t>(std::min(lines.size(), at + per)));
                acked += produce(chunk);
                std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
            }
        });
    }

    /// The graph of the repartition test (repartition_graph()): drained()
    /// also waits for its item topic.
    bool repartition_ = false;
    // The repartition topic is written in transactions: each partition's
    // last record is followed by its transaction's commit record.
    bool transactional_repartition_ = false;
    fs::path dir_;
    std::string bootstrap_;
    std::unique_ptr<testing::TestBroker> broker_;
    std::set<pid_t> running_;  // killed by TearDown
    Clock::time_point started_;
};

TEST_F(ScaleOutTest, ThreeProcessesOneKilledMidStreamEndWithTheStateOfOneProcess) {
    if (!start_broker({"so", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(kEvents, 400, 21);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents));
    // 40% before the processes start, 40% while one dies, 20% once the
    // survivors have its partitions (so restored keys get new events).
    auto parts = split(lines, {0.4, 0.8});
    ASSERT_EQ(produce(parts[0]), parts[0].size());

    Process ref = make_process("ref", "ref");
    std::vector<Process> procs = {make_process("p1", "so"), make_process("p2", "so"),
                                  make_process("p3", "so")};
    start(ref);
    for (Process& p : procs) {
        start(p);
    }
    std::vector<Process*> all = {&procs[0], &procs[1], &procs[2]};
    // The group settles (each owns some partitions) and the first part is read.
    ASSERT_TRUE(wait_drained("so", all))
        << "the three processes did not share and read the first part; p1's log:\n"
        << procs[0].log_text();

    // The second part arrives over ~2 s; one owner dies in the middle of it.
    size_t acked = 0;
    std::thread producer = produce_slowly(parts[1], 20, 100, acked);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    Process& victim = procs[1];
    std::vector<Process*> survivors = {&procs[0], &procs[2]};
    std::vector<size_t> log_at_kill;
    for (Process* p : survivors) {
        log_at_kill.push_back(p->log_text().size());
    }
    int victim_owned = owning(victim.log_text());
    kill_hard(victim);
    producer.join();
    ASSERT_EQ(acked, parts[1].size());

    // After the session timeout the survivors own every partition.
    ASSERT_TRUE(wait_for(
        [&] { return owning(procs[0].log_text()) + owning(procs[2].log_text()) == kPartitions; },
        60))
        << "the survivors did not take the killed process's partitions; their logs:\n"
        << procs[0].log_text() << procs[2].log_text();
    ASSERT_EQ(produce(parts[2]), parts[2].size());
    EXPECT_TRUE(wait_drained("so", survivors))
        << "the survivors did not read everything within 60 s";
    EXPECT_TRUE(wait_drained("ref", {&ref})) << "the reference did not read everything";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Process* p : survivors) {
        stop(*p);
    }
    stop(ref);

    // The survivors took the killed process's partitions and restored them
    // from the changelog.
    size_t took = 0;
    int restored = 0;
    std::string since_kill;
    for (size_t i = 0; i < survivors.size(); ++i) {
        std::string log = survivors[i]->log_text().substr(log_at_kill[i]);
        took += count_of(log, "took partition(s)");
        restored += static_cast<int>(count_of(log, "changelog records"));
        since_kill += survivors[i]->name + ":\n" + log;
    }
    EXPECT_GE(took, 1u) << since_kill;
    EXPECT_GE(restored, victim_owned) << "restores of the killed process's " << victim_owned
                                      << " partitions; the survivors' logs since:\n"
                                      << since_kill;
    // Timers move with their keys: the sessions the killed process had open
    // (checkpointed) close on the survivors.
    if (stored_timers(victim.state(), "sess") > 0) {
        EXPECT_GT(restored_timers(since_kill), 0) << since_kill;
    }

    auto want = state_of(ref.state(), "prof");
    EXPECT_EQ(events_in(want), kEvents) << "the reference lost or repeated events";
    auto got = union_of(survivors);
    EXPECT_EQ(events_in(got), kEvents);
    expect_same_state(got, want);
}

TEST_F(ScaleOutTest, AFourthProcessJoiningMidStreamRebalancesWithoutLoss) {
    if (!start_broker({"so", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(kEvents, 400, 22);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents));
    // 40% before, 40% while the fourth joins, 20% once it has partitions.
    auto parts = split(lines, {0.4, 0.8});
    ASSERT_EQ(produce(parts[0]), parts[0].size());

    Process ref = make_process("ref", "ref");
    std::vector<Process> procs = {make_process("p1", "so"), make_process("p2", "so"),
                                  make_process("p3", "so"), make_process("p4", "so")};
    start(ref);
    for (int i = 0; i < 3; ++i) {
        start(procs[static_cast<size_t>(i)]);
    }
    std::vector<Process*> three = {&procs[0], &procs[1], &procs[2]};
    ASSERT_TRUE(wait_drained("so", three))
        << "the three processes did not share and read the first part; p1's log:\n"
        << procs[0].log_text();

    size_t acked = 0;
    std::thread producer = produce_slowly(parts[1], 20, 100, acked);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    start(procs[3]);
    producer.join();
    ASSERT_EQ(acked, parts[1].size());

    std::vector<Process*> four = {&procs[0], &procs[1], &procs[2], &procs[3]};
    ASSERT_TRUE(wait_for(
        [&] {
            int owned = 0;
            for (const Process* p : four) {
                owned += std::max(0, owning(p->log_text()));
            }
            return owning(procs[3].log_text()) > 0 && owned == kPartitions;
        },
        60))
        << "the fourth process got no partition; its log:\n"
        << procs[3].log_text();
    ASSERT_EQ(produce(parts[2]), parts[2].size());
    EXPECT_TRUE(wait_drained("so", four)) << "the four did not read everything within 60 s";
    EXPECT_TRUE(wait_drained("ref", {&ref})) << "the reference did not read everything";
    // The group's committed offsets catch up too, although commits sent
    // during the rebalances were refused (a refused commit is sent again).
    std::vector<int64_t> ends = testing::partition_ends(bootstrap_, "clicks", kPartitions);
    EXPECT_TRUE(wait_for(
        [&] { return testing::committed_offsets(bootstrap_, "so", "clicks", kPartitions) == ends; },
        30))
        << "committed offsets stay behind the ends of the partitions";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Process* p : four) {
        stop(*p);
    }
    stop(ref);
    EXPECT_NE(procs[3].log_text().find("changelog records"), std::string::npos)
        << "the fourth process restored nothing from the changelog";

    auto want = state_of(ref.state(), "prof");
    EXPECT_EQ(events_in(want), kEvents) << "the reference lost or repeated events";
    auto got = union_of(four);
    EXPECT_EQ(events_in(got), kEvents);
    expect_same_state(got, want);
}

TEST_F(ScaleOutTest, MessagesNotPartitionedByTheirKeyGoToErrors) {
    if (!start_broker({"so"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    // librdkafka's default partitioner (CRC32 of the key) agrees with
    // murmur2 for some users only: theirs are read, the others' are errors.
    std::vector<std::string> lines = generate(600, 30, 23);
    ASSERT_EQ(lines.size(), 600u);
    auto murmur2 = [](const std::string& key) {
        return rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(), kPartitions,
                                                nullptr, nullptr);
    };
    auto crc32 = [](const std::string& key) {
        return rd_kafka_msg_partitioner_consistent(nullptr, key.data(), key.size(), kPartitions,
                                                   nullptr, nullptr);
    };
    std::set<std::string> good_users;
    std::set<std::string> bad_users;
    size_t bad_lines = 0;
    for (const std::string& line : lines) {
        std::string user = user_of(line);
        bool good = murmur2(user) == crc32(user);
        (good ? good_users : bad_users).insert(user);
        bad_lines += good ? 0 : 1;
    }
    ASSERT_FALSE(good_users.empty());
    ASSERT_GE(bad_users.size(), 3u);
    ASSERT_EQ(testing::produce(bootstrap_, "clicks", lines, user_of), lines.size());
    ASSERT_EQ(testing::produce(bootstrap_, "clicks", {lines.front()},
                               [](const std::string&) { return std::string(); }),
              1u);

    Process p = make_process("p1", "so", /*errors=*/true);
    start(p);
    ASSERT_TRUE(wait_drained("so", {&p})) << p.log_text();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_TRUE(stop(p));

    std::vector<std::string> errors = testing::read_lines(p.dir / "errors.jsonl");
    EXPECT_EQ(errors.size(), bad_lines + 1);
    size_t no_key = 0;
    std::set<std::string> reported;
    for (const std::string& e : errors) {
        std::string error = testing::raw(e, "error");
        if (error.find("has no key") != std::string::npos) {
            ++no_key;
            continue;
        }
        EXPECT_NE(error.find("murmur2_random"), std::string::npos) << e;
        size_t at = error.find("key '");
        ASSERT_NE(at, std::string::npos) << e;
        std::string user = error.substr(at + 5, error.find('\'', at + 5) - at - 5);
        reported.insert(user);
        EXPECT_EQ(bad_users.count(user), 1u) << user << " is partitioned by murmur2: " << e;
        // "clicks/<where it is>@<offset>: key 'u' belongs in partition <murmur2>"
        EXPECT_NE(error.find("clicks/" + std::to_string(crc32(user)) + "@"), std::string::npos)
            << e;
        EXPECT_NE(error.find("belongs in partition " + std::to_string(murmur2(user))),
                  std::string::npos)
            << e;
    }
    EXPECT_EQ(no_key, 1u);
    EXPECT_EQ(reported, bad_users);

    std::set<std::string> keys;
    for (const auto& [id, entry] : state_of(p.state(), "prof")) {
        std::string key = testing::raw(entry, "key");
        keys.insert(key.substr(1, key.size() - 2));
    }
    EXPECT_EQ(keys, good_users) << "the state has the keys read, only those";
}

TEST_F(ScaleOutTest, ARestartedProcessKeepsItsCurrentLocalState) {
    if (!start_broker({"so", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(kEvents, 400, 24);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents));
    std::vector<std::string> first(lines.begin(), lines.begin() + kEvents / 2);
    std::vector<std::string> second(lines.begin() + kEvents / 2, lines.end());
    ASSERT_EQ(produce(first), first.size());

    Process ref = make_process("ref", "ref");
    Process p = make_process("p1", "so");
    start(ref);
    start(p);
    ASSERT_TRUE(wait_drained("so", {&p})) << p.log_text();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    ASSERT_TRUE(stop(p));
    auto before = state_of(p.state(), "prof");
    EXPECT_EQ(events_in(before), kEvents / 2);

    // The same state dir and group: the changelog ends where this store's
    // last checkpoint left it, so nothing is read from it.
    size_t restart_at = p.log_text().size();
    start(p);
    ASSERT_TRUE(
        wait_for([&] { return owning(p.log_text().substr(restart_at)) == kPartitions; }, 60))
        << p.log_text();
    std::string restarted = p.log_text().substr(restart_at);
    for (int partition = 0; partition < kPartitions; ++partition) {
        EXPECT_NE(
            restarted.find("partition " + std::to_string(partition) + ": local state is current"),
            std::string::npos)
            << "partition " << partition << "; the log since the restart:\n"
            << restarted;
    }
    EXPECT_EQ(restarted.find("changelog records"), std::string::npos) << restarted;

    // It resumes where it stopped: the second half counts once.
    ASSERT_EQ(produce(second), second.size());
    EXPECT_TRUE(wait_drained("so", {&p})) << p.log_text();
    EXPECT_TRUE(wait_drained("ref", {&ref})) << ref.log_text();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stop(p);
    stop(ref);

    auto want = state_of(ref.state(), "prof");
    EXPECT_EQ(events_in(want), kEvents);
    expect_same_state(state_of(p.state(), "prof"), want);
}

}  // namespace
}  // namespace eddy

namespace eddy {
namespace {

// The convergence tolerance of docs/scale-out.md ("Models").
constexpr double kCentroidTolerance = 0.01;

TEST_F(ScaleOutTest, KmeansModelsOfThreeProcessesConvergeAndKeepTheQualityBar) {
    if (!start_broker({"km"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    // The blobs of the k-means quality test (8 in 10 dimensions, 500
    // points each), one pass in random order, each point its own user.
    testing::Dataset ds = testing::make_blobs(8, 500, 10, 11);
    std::vector<size_t> order(ds.n);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(5));
    std::vector<std::string> lines;
    for (size_t i = 0; i < order.size(); ++i) {
        std::string line = "{\"user_id\":\"u" + std::to_string(order[i]) +
                           "\",\"ts\":" + std::to_string(1700000000000 + 10 * i) + ",\"x\":[";
        for (size_t k = 0; k < ds.d; ++k) {
            line += (k > 0 ? "," : "") + std::to_string(ds.row(order[i])[k]);
        }
        lines.push_back(line + "]}");
    }
    const std::string graph =
        "operators:\n"
        "  km: {type: kmeans, input: clicks, key: user_id, field: x, k: 8, seed_points: 256}\n"
        "sinks:\n"
        "  out: {type: null, inputs: [km, km.model, km.drift]}\n";
    std::vector<Process> procs = {make_process("p1", "km", false, graph),
                                  make_process("p2", "km", false, graph),
                                  make_process("p3", "km", false, graph)};
    std::vector<Process*> all;
    for (Process& p : procs) {
        start(p, {"--metrics-file", (p.dir / "metrics.prom").string()});
        all.push_back(&p);
    }
    ASSERT_TRUE(wait_for(
        [&] {
            int sum = 0;
            for (const Process* p : all) {
                int n = owning(p->log_text());
                if (n <= 0) {
                    return false;
                }
                sum += n;
            }
            return sum == kPartitions;
        },
        60))
        << "the three processes did not share the partitions; p1's log:\n"
        << procs[0].log_text();
    // Over ~3 s, so that the processes merge while they learn.
    size_t acked = 0;
    std::thread producer = produce_slowly(lines, 8, 400, acked);
    producer.join();
    ASSERT_EQ(acked, lines.size());
    ASSERT_TRUE(wait_drained("km", all)) << "the processes did not read everything";
    // A few more checkpoints (1 s apart), each one a round of merges.
    std::this_thread::sleep_for(std::chrono::seconds(5));
    for (Process& p : procs) {
        stop(p);
    }

    std::vector<KmeansDump> models;
    for (const Process& p : procs) {
        EXPECT_NE(p.log_text().find("merged the models of"), std::string::npos)
            << p.name << " merged no other process's model; its log:\n"
            << p.log_text();
        // The metrics say so too (written at the end of the run).
        std::string metrics = testing::read_file(p.dir / "metrics.prom");
        EXPECT_NE(metrics.find("eddy_scale_out_model_peers{component=\"km\",state=\"model\"} 2"),
                  std::string::npos)
            << p.name << ":\n"
            << metrics;
        EXPECT_NE(
            metrics.find("eddy_scale_out_model_merges_total{component=\"km\",state=\"model\"}"),
            std::string::npos)
            << p.name;
        models.push_back(kmeans_of(p.state(), "km"));
        ASSERT_EQ(models.back().phase, "ready") << p.name;
        ASSERT_EQ(models.back().centroids.size(), 8u) << p.name;
    }
    for (size_t i = 1; i < models.size(); ++i) {
        double apart = largest_pair_distance(models[0], models[i]);
        std::printf("[ scale_out ] p1 and %s: centroids at most %.2g standard deviations apart\n",
                    procs[i].name.c_str(), apart);
        EXPECT_LE(apart, kCentroidTolerance) << "p1 and " << procs[i].name;
    }
    // The quality bar of the k-means issue: ARI >= 0.99 on these blobs.
    for (size_t i = 0; i < models.size(); ++i) {
        double ari = testing::adjusted_rand_index(segments_of(ds, models[i]), ds.labels);
        std::printf("[ scale_out ] %s: ARI %.4f\n", procs[i].name.c_str(), ari);
        EXPECT_GE(ari, 0.99) << procs[i].name;
    }
}

}  // namespace
}  // namespace eddy

namespace eddy {
namespace {

TEST_F(ScaleOutTest, AQueryForAKeyOwnedElsewhereIsRedirectedToItsOwner) {
    if (!start_broker({"rd"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    // Profiles by user, and by item behind a repartition topic: each
    // operator's keys are placed by the partitions of its own input.
    repartition_ = true;
    std::vector<std::string> lines = generate(3000, 60, 23);
    std::vector<Process> procs = {make_process("p1", "rd", false, repartition_graph()),
                                  make_process("p2", "rd", false, repartition_graph())};
    for (Process& p : procs) {
        start(p, {"--http", "127.0.0.1:0", "--http-port-file", (p.dir / "port").string()});
    }
    std::vector<Process*> both = {&procs[0], &procs[1]};
    ASSERT_EQ(produce(lines), lines.size());
    ASSERT_TRUE(wait_drained("rd", both)) << "the processes did not read everything";
    std::vector<int> ports;
    for (const Process& p : procs) {
        ports.push_back(std::atoi(testing::read_file(p.dir / "port").c_str()));
        ASSERT_GT(ports.back(), 0) << p.name << " wrote no port; its log:\n" << p.log_text();
    }
    std::set<std::string> users;
    std::set<std::string> items;
    for (const std::string& line : lines) {
        users.insert(user_of(line));
        std::string item = testing::raw(line, "item_id");
        if (item.size() >= 2) {
            items.insert(item.substr(1, item.size() - 2));
        }
    }
    // Every key, asked of p1: p1's own keys are answered, the others are
    // redirected to p2, which answers them.
    auto ask_all = [&](const std::string& op, const std::set<std::string>& keys) {
        httplib::Client p1("127.0.0.1", ports[0]);
        int retries = 0;
        int here = 0;
        int redirected = 0;
        for (const std::string& key : keys) {
            std::string path = "/v1/state/" + op + "/" + key + "?state=profiles";
            httplib::Result r = p1.Get(path);
            // 503 + Retry-After while a rebalance is still settling, as a
            // client would be told; the test waits up to 30 s over all keys.
            while (r && r->status == 503 && retries < 30) {
                ++retries;
                std::this_thread::sleep_for(std::chrono::seconds(1));
                r = p1.Get(path);
            }
            ASSERT_TRUE(r) << "p1 did not answer " << path;
            if (r->status == 200) {
                ++here;
                continue;
            }
            ASSERT_EQ(r->status, 307) << path << ": " << r->body;
            ++redirected;
            std::string owner = "http://127.0.0.1:" + std::to_string(ports[1]);
            EXPECT_EQ(r->get_header_value("Location"), owner + path) << r->body;
            EXPECT_NE(r->body.find("\"owner\":\"127.0.0.1:" + std::to_string(ports[1])),
                      std::string::npos)
                << r->body;
            httplib::Client p2("127.0.0.1", ports[1]);
            httplib::Result followed = p2.Get(path);
            ASSERT_TRUE(followed);
            EXPECT_EQ(followed->status, 200)
                << "p2, the owner, on " << path << ": " << followed->body;
        }
        std::printf("[ scale_out ] of %zu keys of %s, p1 answered %d and redirected %d to p2\n",
                    keys.size(), op.c_str(), here, redirected);
        EXPECT_GT(here, 0) << op;
        EXPECT_GT(redirected, 0) << op;
        EXPECT_EQ(here + redirected, static_cast<int>(keys.size())) << op;
    };
    ask_all("prof", users);
    ask_all("items", items);
    for (Process& p : procs) {
        stop(p);
    }
    // Erasing a key from one state dir says what it cannot reach.
    testing::ProgramOutcome erase = testing::run_program(
        {EDDY_BINARY, "state", "erase", procs[0].state().string(), "--key", "user_id=u1"}, {}, "",
        60);
    EXPECT_EQ(erase.exit_code, 0) << erase.both();
    EXPECT_NE(erase.err.find("warning: this state dir belongs to a scale-out job: key 'u1' also "
                             "lives in the state dirs of the other processes"),
              std::string::npos)
        << erase.both();
    EXPECT_NE(erase.err.find("changelog topic(s) <topology>-changelog, "
                             "<topology>-items-repartition-changelog, from which a restore brings "
                             "it back: give --topology FILE"),
              std::string::npos)
        << erase.both();
}

TEST_F(ScaleOutTest, StateKeyedByItemMovesWithThePartitionsOfARepartitionTopic) {
    if (!start_broker({"so", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    repartition_ = true;
    std::vector<std::string> lines = generate(kEvents / 2, 400, 23);
    ASSERT_EQ(lines.size(), static_cast<size_t>(kEvents / 2));
    long long with_item = 0;
    for (const std::string& line : lines) {
        with_item += line.find("\"item_id\":") != std::string::npos ? 1 : 0;
    }
    // 40% before, 40% while a third process joins, 20% once it has partitions.
    auto parts = split(lines, {0.4, 0.8});
    ASSERT_EQ(produce(parts[0]), parts[0].size());

    Process ref = make_process("ref", "ref", false, repartition_graph());
    std::vector<Process> procs = {make_process("p1", "so", false, repartition_graph()),
                                  make_process("p2", "so", false, repartition_graph()),
                                  make_process("p3", "so", false, repartition_graph())};
    start(ref);
    start(procs[0]);
    start(procs[1]);
    std::vector<Process*> two = {&procs[0], &procs[1]};
    ASSERT_TRUE(wait_drained("so", two))
        << "the two processes did not share and read the first part; p1's log:\n"
        << procs[0].log_text();

    size_t acked = 0;
    std::thread producer = produce_slowly(parts[1], 20, 100, acked);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    start(procs[2]);
    producer.join();
    ASSERT_EQ(acked, parts[1].size());
    std::vector<Process*> three = {&procs[0], &procs[1], &procs[2]};
    ASSERT_TRUE(wait_for([&] { return owning(procs[2].log_text()) > 0; }, 60))
        << "the third process got no partition; its log:\n"
        << procs[2].log_text();
    ASSERT_EQ(produce(parts[2]), parts[2].size());
    EXPECT_TRUE(wait_drained("so", three)) << "the three did not read everything within 60 s";
    EXPECT_TRUE(wait_drained("ref", {&ref})) << "the reference did not read everything";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Process* p : three) {
        stop(*p);
    }
    stop(ref);
    // The processes found the topic; the third took partitions of both
    // topics and restored their state from their changelogs.
    EXPECT_NE(procs[0].log_text().find("through repartition topic 'so-items-repartition' (6 "
                                       "partitions)"),
              std::string::npos)
        << procs[0].log_text();
    EXPECT_NE(procs[2].log_text().find("[items-repartition] partition"), std::string::npos)
        << procs[2].log_text();

    // Graceful moves lose and repeat nothing, behind the repartition topic
    // too. Its partitions interleave the input's in another order than the
    // reference's, so decayed sums may differ in their last bits.
    auto want_users = state_of(ref.state(), "prof");
    EXPECT_EQ(events_in(want_users), kEvents / 2);
    expect_same_state(union_of(three), want_users);
    auto want_items = state_of(ref.state(), "items");
    EXPECT_EQ(events_in(want_items), with_item) << "the reference lost or repeated item events";
    auto got_items = union_of(three, "items");
    EXPECT_EQ(events_in(got_items), with_item);
    expect_same_state(got_items, want_items, /*reordered=*/true);
}

TEST_F(ScaleOutTest, AChangelogTopicTheBrokerCannotCreateStopsTheStartWithAnError) {
    // The test broker has no Admin API to create topics: the changelog
    // topic must exist. The start fails before the source joins its group
    // (it joins at its first poll); a consumer closed mid-join used to wait
    // forever, or crash (kafka_test, KafkaClientTest).
    broker_ = std::make_unique<testing::TestBroker>(
        dir_, std::vector<std::string>{"clicks:" + std::to_string(kPartitions)});
    bootstrap_ = broker_->bootstrap();
    if (bootstrap_.empty()) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    Process p = make_process("p1", "nolog");
    auto started = Clock::now();
    testing::ProgramOutcome run =
        testing::run_program({EDDY_BINARY, "run", (p.dir / "topology.yaml").string()}, {}, "", 60);
    double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    EXPECT_EQ(run.signal, 0) << "eddy crashed; its output:\n" << run.both();
    EXPECT_NE(run.exit_code, 0) << run.both();
    EXPECT_NE(run.both().find("source 'clicks': cannot create the changelog topic "
                              "'nolog-changelog' ("),
              std::string::npos)
        << run.both();
    EXPECT_NE(run.both().find("create it with 6 partitions (as many as the input) and "
                              "cleanup.policy=compact"),
              std::string::npos)
        << run.both();
    EXPECT_LT(seconds, 45) << run.both();
}

TEST_F(ScaleOutTest, ATransactionalSinksTransactionsCarryTheChangelogAndTheOffsets) {
    if (!start_broker({"tx", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(kEvents / 2, 400, 24);
    auto parts = split(lines, {0.4, 0.8});
    ASSERT_EQ(produce(parts[0]), parts[0].size());
    Process ref = make_process("ref", "ref", false, transactional_graph("ref"));
    std::vector<Process> procs = {make_process("p1", "tx", false, transactional_graph("tx")),
                                  make_process("p2", "tx", false, transactional_graph("tx")),
                                  make_process("p3", "tx", false, transactional_graph("tx"))};
    start(ref);
    for (Process& p : procs) {
        start(p);
    }
    std::vector<Process*> all = {&procs[0], &procs[1], &procs[2]};
    ASSERT_TRUE(wait_drained("tx", all))
        << "the three processes did not share and read the first part; p1's log:\n"
        << procs[0].log_text();
    // One dies in the middle of a transaction; the survivors restore its
    // partitions from the changelog its transactions wrote.
    size_t acked = 0;
    std::thread producer = produce_slowly(parts[1], 20, 100, acked);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    kill_hard(procs[1]);
    producer.join();
    ASSERT_EQ(acked, parts[1].size());
    std::vector<Process*> survivors = {&procs[0], &procs[2]};
    ASSERT_TRUE(wait_for(
        [&] { return owning(procs[0].log_text()) + owning(procs[2].log_text()) == kPartitions; },
        60))
        << "the survivors did not take the killed process's partitions";
    ASSERT_EQ(produce(parts[2]), parts[2].size());
    EXPECT_TRUE(wait_drained("tx", survivors)) << "the survivors did not read everything";
    EXPECT_TRUE(wait_drained("ref", {&ref})) << "the reference did not read everything";
    // The sources commit no offsets of their own: they go with the
    // transactions, which the test broker accepts but does not store
    // (librdkafka 2.0.2's mock cluster), so the group shows none.
    for (int64_t offset : testing::committed_offsets(bootstrap_, "tx", "clicks", kPartitions)) {
        EXPECT_LT(offset, 0) << "a source committed offsets outside the transactions";
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Process* p : survivors) {
        stop(*p);
    }
    stop(ref);
    for (const Process* p : survivors) {
        std::string log = p->log_text();
        size_t at = log.find(" committed transaction(s)");
        ASSERT_NE(at, std::string::npos) << p->name << ": " << log;
        size_t from = log.rfind(" in ", at);
        EXPECT_GT(std::atoi(log.c_str() + from + 4), 0) << p->name << ": " << log;
    }
    // State is exactly-once across the kill. (The output topic holds the
    // killed process's uncommitted records too: the test broker does not
    // hide them from readers, so the output is not checked for duplicates.)
    auto want = state_of(ref.state(), "prof");
    EXPECT_EQ(events_in(want), kEvents / 2);
    auto got = union_of(survivors);
    EXPECT_EQ(events_in(got), kEvents / 2);
    expect_same_state(got, want);
    EXPECT_FALSE(testing::consume(bootstrap_, "tx-profiles", 1, 5000).empty())
        << "nothing reached the output topic";
}

TEST_F(ScaleOutTest, ARepartitionTopicsWriterWritesInTheTransactions) {
    if (!start_broker({"rt", "ref"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    repartition_ = true;
    transactional_repartition_ = true;
    std::vector<std::string> lines = generate(kEvents / 4, 400, 25);
    long long with_item = 0;
    for (const std::string& line : lines) {
        with_item += line.find("\"item_id\":") != std::string::npos ? 1 : 0;
    }
    ASSERT_EQ(produce(lines), lines.size());
    Process ref = make_process("ref", "ref", false, repartition_graph());
    std::vector<Process> procs = {
        make_process("p1", "rt", false, transactional_repartition_graph("rt")),
        make_process("p2", "rt", false, transactional_repartition_graph("rt"))};
    start(ref);
    for (Process& p : procs) {
        start(p);
    }
    std::vector<Process*> both = {&procs[0], &procs[1]};
    EXPECT_TRUE(wait_drained("rt", both)) << "the processes did not read everything";
    EXPECT_TRUE(wait_drained("ref", {&ref})) << "the reference did not read everything";
    // The repartition topic's readers commit no offsets of their own
    // either: their group's offsets go with the transactions.
    for (int64_t offset : testing::committed_offsets(bootstrap_, "rt-items-repartition",
                                                     "rt-items-repartition", kPartitions)) {
        EXPECT_LT(offset, 0) << "the repartition topic's reader committed outside the transactions";
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    for (Process& p : procs) {
        stop(p);  // the writer closes before the sink whose producer it uses
    }
    stop(ref);
    // Each writer produced through the transactional sink's producer, and
    // got its delivery reports back through it: every item event once.
    long long written = 0;
    for (const Process& p : procs) {
        std::string log = p.log_text();
        EXPECT_NE(log.find("[items-repartition-writer] writes in the transactions of sink 'out', "
                           "through its producer"),
                  std::string::npos)
            << p.name << ": " << log;
        const std::string done = "[items-repartition-writer] delivered ";
        size_t at = log.find(done);
        ASSERT_NE(at, std::string::npos) << p.name << ": " << log;
        written += std::atoll(log.c_str() + at + done.size());
        EXPECT_NE(log.find(" 0 not delivered, in the transactions of sink 'out'", at),
                  std::string::npos)
            << p.name << ": " << log;
        EXPECT_EQ(log.find("writes outside the transactions"), std::string::npos) << log;
    }
    EXPECT_EQ(written, with_item);
    long long in_topic = 0;
    for (int64_t end : testing::partition_ends(bootstrap_, "rt-items-repartition", kPartitions)) {
        in_topic += std::max<int64_t>(end, 0);
    }
    // Each transaction adds a commit record to every partition it wrote.
    EXPECT_GE(in_topic, with_item);
    auto want = state_of(ref.state(), "items");
    EXPECT_EQ(events_in(want), with_item);
    auto got = union_of(both, "items");
    EXPECT_EQ(events_in(got), with_item);
    expect_same_state(got, want, /*reordered=*/true);
}

TEST_F(ScaleOutTest, BanditNextActionSimilarityAndRecommendModelsMergeAcrossProcesses) {
    if (!start_broker({"sums"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(6000, 300, 26);
    const std::string graph =
        "operators:\n"
        "  na: {type: next_action, input: clicks, key: user_id, field: type}\n"
        "  b: {type: bandit, input: clicks, key: user_id, arms: [x, y, z], policy: thompson, "
        "reward_window: 10m}\n"
        "  viewed: {type: filter, input: clicks, field: item_id, op: exists}\n"
        "  sim: {type: item_similarity, input: viewed, key: user_id}\n"
        "  rec: {type: recommend, input: viewed, key: user_id, factors: 8, category_field: "
        "category, half_life: 2h}\n"
        "sinks:\n"
        "  out: {type: null, inputs: [na, na.metrics, b, b.estimates, sim, sim.metrics, rec, "
        "rec.metrics, viewed.rejected]}\n";
    std::vector<Process> procs = {make_process("p1", "sums", false, graph),
                                  make_process("p2", "sums", false, graph)};
    for (Process& p : procs) {
        start(p);
    }
    std::vector<Process*> both = {&procs[0], &procs[1]};
    ASSERT_EQ(produce(lines), lines.size());
    ASSERT_TRUE(wait_drained("sums", both)) << "the processes did not read everything";
    // A few more checkpoints (1 s apart), each one a round of merges.
    std::this_thread::sleep_for(std::chrono::seconds(5));
    for (Process& p : procs) {
        stop(p);
    }
    for (const Process& p : procs) {
        for (const char* op : {"na", "b", "sim", "rec"}) {
            EXPECT_NE(p.log_text().find("[" + std::string(op) +
                                        "] merged the models of 1 other process(es)"),
                      std::string::npos)
                << p.name << " merged no model of " << op << "; its log:\n"
                << p.log_text();
        }
    }
    // The bandit's arms hold both processes' decisions once: each process's
    // own count (top-level `decisions`) adds up to what every one holds.
    auto bandit = [](const Process& p) {
        std::map<std::string, std::string> state = state_of(p.state(), "b");
        auto it = std::find_if(state.begin(), state.end(),
                               [](const auto& e) { return e.first.starts_with("\"arms\"|"); });
        EXPECT_NE(it, state.end()) << p.name << " has no bandit model";
        std::pair<int64_t, int64_t> own_and_all{0, 0};
        if (it != state.end()) {
            simdjson::dom::parser parser;
            simdjson::dom::element value = parser.parse(it->second)["value"];
            own_and_all.first = int64_t(value["decisions"]);
            own_and_all.second = int64_t(value["segments"].at(0)["decisions"]);
        }
        return own_and_all;
    };
    auto [own1, all1] = bandit(procs[0]);
    auto [own2, all2] = bandit(procs[1]);
    EXPECT_GT(own1, 0);
    EXPECT_GT(own2, 0);
    EXPECT_EQ(all1, own1 + own2);
    EXPECT_EQ(all2, own1 + own2);
    // next_action's merged rows are the other process's own rows.
    for (const Process& p : procs) {
        std::map<std::string, std::string> state = state_of(p.state(), "na");
        auto it = std::find_if(state.begin(), state.end(),
                               [](const auto& e) { return e.first.starts_with("\"model\"|"); });
        ASSERT_NE(it, state.end()) << p.name;
        EXPECT_GT(testing::num(it->second, "merged_rows"), 0) << p.name << ": " << it->second;
    }
}

TEST_F(ScaleOutTest, AKeyErasedWithTheTopologyIsGoneFromTheChangelogToo) {
    if (!start_broker({"er"})) {
        GTEST_SKIP() << "the test broker did not start (see " << (dir_ / "broker.log") << ")";
    }
    std::vector<std::string> lines = generate(3000, 60, 27);
    std::set<std::string> users;
    for (const std::string& line : lines) {
        users.insert(user_of(line));
    }
    const std::string gone = user_of(lines.front());
    std::vector<Process> procs = {make_process("p1", "er"), make_process("p2", "er")};
    for (Process& p : procs) {
        start(p);
    }
    std::vector<Process*> both = {&procs[0], &procs[1]};
    ASSERT_EQ(produce(lines), lines.size());
    ASSERT_TRUE(wait_drained("er", both)) << "the processes did not read everything";
    for (Process& p : procs) {
        stop(p);
    }
    // With the topology, the key leaves the changelog too: its profile and
    // session entries and its session timer.
    auto erase = [&](const Process& p, bool with_topology) {
        std::vector<std::string> args = {EDDY_BINARY,        "state", "erase",
                                         p.state().string(), "--key", "user_id=" + gone};
        if (with_topology) {
            args.push_back("--topology");
            args.push_back((p.dir / "topology.yaml").string());
        }
        return testing::run_program(args, {}, "", 60);
    };
    testing::ProgramOutcome first = erase(procs[0], true);
    ASSERT_EQ(first.exit_code, 0) << first.both();
    EXPECT_NE(first.out.find("changelog 'er-changelog' partition "), std::string::npos)
        << first.both();
    EXPECT_NE(first.out.find(" entries and "), std::string::npos) << first.both();
    EXPECT_NE(first.out.find(" timer(s) tombstoned"), std::string::npos) << first.both();
    testing::ProgramOutcome again = erase(procs[0], true);
    ASSERT_EQ(again.exit_code, 0) << again.both();
    EXPECT_NE(again.out.find(": nothing of the key"), std::string::npos) << again.both();
    // Without it, the other process's dir is erased and the rest is named.
    testing::ProgramOutcome other = erase(procs[1], false);
    ASSERT_EQ(other.exit_code, 0) << other.both();
    EXPECT_NE(other.err.find("give --topology FILE"), std::string::npos) << other.both();
    // A new process restores every partition from the changelog: the key
    // is not there, every other user is.
    Process fresh = make_process("p3", "er");
    start(fresh);
    ASSERT_TRUE(wait_for([&] { return owning(fresh.log_text()) == kPartitions; }, 60))
        << fresh.log_text();
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop(fresh);
    std::map<std::string, std::string> profiles = state_of(fresh.state(), "prof");
    std::map<std::string, std::string> sessions = state_of(fresh.state(), "sess");
    EXPECT_EQ(profiles.size(), users.size() - 1);
    for (const auto& [id, entry] : profiles) {
        EXPECT_EQ(id.find("\"" + gone + "\""), std::string::npos) << id;
    }
    for (const auto& [id, entry] : sessions) {
        EXPECT_EQ(id.find("\"" + gone + "\""), std::string::npos) << id;
    }
    EXPECT_EQ(testing::run_program(
                  {EDDY_BINARY, "state", "get", fresh.state().string(), "sess", gone}, {}, "", 60)
                  .out,
              "")
        << "a timer of the erased key came back";
}

}  // namespace
}  // namespace eddy
