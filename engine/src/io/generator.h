// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/record.h"
#include "eddy/status.h"
#include "eddy/value.h"

namespace eddy::io {

/// 2025-01-01T00:00:00Z, the default event time of the first event.
inline constexpr int64_t kDefaultGeneratorStartMs = 1'735'689'600'000;
/// The most human segments the model knows (browser, reader, buyer, searcher, watcher,
/// bargain_hunter).
inline constexpr int kMaxGeneratorSegments = 6;
inline constexpr int64_t kMaxGeneratorUsers = 10'000'000;
inline constexpr int64_t kMaxGeneratorItems = 1'000'000;
inline constexpr int kMaxGeneratorCategories = 1000;

/// Parses an event time given as epoch milliseconds (`1735689600000`) or as
/// ISO-8601 (`2025-01-01`, `2025-01-01T08:30:00Z`, `2025-01-01T08:30:00.250+02:00`;
/// no zone means UTC). Returns nullopt for anything else.
std::optional<int64_t> parse_timestamp_ms(std::string_view text);

/// Everything that shapes a generated clickstream. The same options (seed
/// included) give the same events on every machine; see docs/generator.md.
struct GeneratorOptions {
    uint64_t seed = 42;
    int64_t users = 1000;
    std::optional<int64_t> events;       ///< Stop after this many events.
    std::optional<int64_t> duration_ms;  ///< Stop at this much event time (live: wall time).
    std::optional<double> rate;          ///< Live mode: events per second of wall time.
    int64_t start_ms = kDefaultGeneratorStartMs;  ///< Event time of the stream's start.
    double bot_share = 0.05;                      ///< Share of users that are bots, in [0, 1].
    double missing_rate = 0.02;                   ///< Per optional field, the chance it is absent.
    double out_of_order_rate = 0.01;              ///< Per event, the chance its ts is moved back.
    int64_t max_out_of_order_ms = 30'000;         ///< The most an event's ts is moved back.
    int segments = 3;                             ///< Human segments, 1..kMaxGeneratorSegments.
    int64_t items = 5000;
    int categories = 20;
    std::string truth_path;  ///< Ground-truth JSON Lines file; empty: none.

    /// Live mode: events are stamped with the wall clock and paced at `rate`.
    bool live() const { return rate.has_value(); }
    /// Whether `events` or `duration` bounds the stream.
    bool finite() const { return events.has_value() || duration_ms.has_value(); }
    /// Checks every range and cross-field rule. The message names the option as
    /// in YAML (`bot_share`), or as an `eddy gen` flag (--bot-share) with `cli_names`.
    Status validate(bool cli_names = false) const;
};

/// The ids of the clickstream fields, in the order they are written.
struct GeneratorFields {
    FieldId ts, user_id, type, item_id, category, url, dwell_ms, scroll_pct, ua, ip, device,
        country, referrer;

    /// Resolves every name through `field_of` (ComponentContext::field, FieldTable::intern).
    static GeneratorFields resolve(const std::function<FieldId(std::string_view)>& field_of);
};

enum class BotKind : uint8_t { kNone, kCrawler, kHeadless, kScraper };

/// "none", "crawler", "headless" or "scraper".
const char* bot_kind_name(BotKind kind);

/// What the generator knows about one user; the basis of the ground-truth file.
struct UserTruth {
    int64_t user = 0;  ///< The number in the user id ("u17" has 17).
    bool is_bot = false;
    BotKind bot_kind = BotKind::kNone;
    std::string segment;    ///< A human segment's name, or "bot".
    uint64_t events = 0;    ///< Events emitted so far.
    uint64_t sessions = 0;  ///< Sessions (bots: crawls, runs, bursts) started so far.

    /// `{"user_id":"u17","is_bot":false,"bot_kind":null,"segment":"buyer",...}` without newline.
    std::string to_json() const;
};

/// A seeded model of users (human segments and bots) that yields their events
/// in event-time order, interleaved across users by a priority queue. Not
/// thread-safe. Construction costs O(users + items); next() allocates nothing
/// beyond the record's arena.
class ClickstreamGenerator {
public:
    /// `options` must have passed validate().
    ClickstreamGenerator(const GeneratorOptions& options, const GeneratorFields& fields);
    ~ClickstreamGenerator();
    ClickstreamGenerator(const ClickstreamGenerator&) = delete;
    ClickstreamGenerator& operator=(const ClickstreamGenerator&) = delete;

    /// Appends the next event's fields to `record` (normally empty) and sets its
    /// time. In live mode pass the wall clock as `now_ms`: the event is stamped
    /// with it, and a `duration` bound counts from the first call. Returns
    /// false, leaving `record` untouched, once the stream's bound is reached.
    bool next(Record& record, int64_t now_ms = 0);

    /// Generates and discards the next `n` events, as if next() had been called
    /// `n` times: the way to continue a stream after a checkpoint. O(n); the
    /// wall clock plays no part (live events are stamped when emitted). Returns
    /// false, having skipped fewer, when the stream's `events` bound (or, in
    /// finite mode, its `duration`) ends it before `n` events.
    bool skip(uint64_t n);

    /// Whether the stream has ended (next() returned false).
    bool done() const { return done_; }
    const GeneratorOptions& options() const { return options_; }
    uint64_t emitted() const { return emitted_; }
    /// Users that have emitted at least one event, and how many of them are bots.
    uint64_t users_seen() const { return users_seen_; }
    uint64_t bots_seen() const { return bots_seen_; }

    /// Ground truth of every user seen so far, by user number.
    std::vector<UserTruth> truth() const;
    /// Writes truth() as JSON Lines to `path` (replacing it). The error names the path.
    Status write_truth(const std::string& path) const;

private:
    struct Model;
    bool bounded_out(int64_t now_ms);
    void emit(Record& record, int64_t now_ms);

    GeneratorOptions options_;
    GeneratorFields fields_;
    std::unique_ptr<Model> model_;  // a pimpl keeps the model's tables out of this header
    uint64_t emitted_ = 0;
    uint64_t users_seen_ = 0;
    uint64_t bots_seen_ = 0;
    std::optional<int64_t> live_start_ms_;
    bool done_ = false;
};

}  // namespace eddy::io
