// SPDX-License-Identifier: Apache-2.0
// Configuring the clickstream model of io/generator.h (options, timestamps) and the
// `generator` source that puts it behind the Source API.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "eddy/codec.h"
#include "eddy/registry.h"
#include "eddy/source.h"
#include "eddy/spec.h"

#include "io/generator.h"

namespace eddy::io {
namespace {

constexpr int64_t kDayMs = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

unsigned days_in_month(int64_t y, unsigned m) {
    static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

std::optional<int64_t> parse_timestamp_ms(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    if (s.empty()) {
        return std::nullopt;
    }
    if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        int64_t ms = 0;
        auto r = std::from_chars(s.data(), s.data() + s.size(), ms);
        return r.ec == std::errc() ? std::optional<int64_t>(ms) : std::nullopt;
    }
    size_t i = 0;
    auto digits = [&](size_t n, unsigned& out) {
        out = 0;
        if (i + n > s.size()) {
            return false;
        }
        for (size_t k = 0; k < n; ++k) {
            const char c = s[i + k];
            if (c < '0' || c > '9') {
                return false;
            }
            out = out * 10 + static_cast<unsigned>(c - '0');
        }
        i += n;
        return true;
    };
    auto literal = [&](char c) {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, millis = 0;
    if (!digits(4, year) || !literal('-') || !digits(2, month) || !literal('-') ||
        !digits(2, day) || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)) {
        return std::nullopt;
    }
    if (literal('T') || literal('t') || literal(' ')) {
        if (!digits(2, hour) || !literal(':') || !digits(2, minute) || hour > 23 || minute > 59) {
            return std::nullopt;
        }
        if (literal(':')) {
            if (!digits(2, second) || second > 59) {
                return std::nullopt;
            }
            if (literal('.') || literal(',')) {
                size_t n = 0;
                for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++n) {
                    if (n < 3) {
                        millis = millis * 10 + static_cast<unsigned>(s[i] - '0');
                    }
                }
                if (n == 0) {
                    return std::nullopt;
                }
                for (; n < 3; ++n) {
                    millis *= 10;
                }
            }
        }
    }
    int64_t offset_min = 0;
    if (literal('Z') || literal('z')) {
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        const int sign = s[i++] == '-' ? -1 : 1;
        unsigned oh = 0, om = 0;
        if (!digits(2, oh)) {
            return std::nullopt;
        }
        literal(':');
        if (i < s.size() && !digits(2, om)) {
            return std::nullopt;
        }
        if (oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_min = sign * static_cast<int64_t>(oh * 60 + om);
    }
    if (i != s.size()) {
        return std::nullopt;
    }
    const int64_t days = days_from_civil(year, month, day);
    const int64_t seconds = ((days * 24 + hour) * 60 + minute) * 60 + second - offset_min * 60;
    return seconds * 1000 + millis;
}

Status GeneratorOptions::validate(bool cli_names) const {
    auto name = [cli_names](std::string_view option) {
        std::string out = cli_names ? "--" : "`";
        out.append(option);
        if (cli_names) {
            std::replace(out.begin(), out.end(), '_', '-');
        } else {
            out += '`';
        }
        return out;
    };
    auto range = [&](std::string_view option, double v, double lo, double hi) -> Status {
        if (v >= lo && v <= hi) {
            return Status::ok();
        }
        char buf[128];
        std::snprintf(buf, sizeof buf, " must be between %g and %g, got %g", lo, hi, v);
        return Status::invalid_argument(name(option) + buf);
    };
    EDDY_RETURN_IF_ERROR(range("users", static_cast<double>(users), 1, kMaxGeneratorUsers));
    if (events) {
        EDDY_RETURN_IF_ERROR(range("events", static_cast<double>(*events), 1, 1e15));
    }
    if (duration_ms && *duration_ms < 1) {
        return Status::invalid_argument(name("duration") + " must be positive, like `1d`");
    }
    if (rate) {
        EDDY_RETURN_IF_ERROR(range("rate", *rate, 0.001, 1e7));
    }
    EDDY_RETURN_IF_ERROR(range("bot_share", bot_share, 0, 1));
    EDDY_RETURN_IF_ERROR(range("missing_rate", missing_rate, 0, 1));
    EDDY_RETURN_IF_ERROR(range("out_of_order_rate", out_of_order_rate, 0, 1));
    if (max_out_of_order_ms < 0 || max_out_of_order_ms > 7 * kDayMs) {
        return Status::invalid_argument(name("max_out_of_order") +
                                        " must be between 0s and 7d, got " +
                                        std::to_string(max_out_of_order_ms) + "ms");
    }
    EDDY_RETURN_IF_ERROR(range("segments", segments, 1, kMaxGeneratorSegments));
    EDDY_RETURN_IF_ERROR(range("items", static_cast<double>(items), 1, kMaxGeneratorItems));
    EDDY_RETURN_IF_ERROR(range("categories", categories, 1, kMaxGeneratorCategories));
    if (items < categories) {
        return Status::invalid_argument(name("items") + " (" + std::to_string(items) +
                                        ") must be at least " + name("categories") + " (" +
                                        std::to_string(categories) +
                                        ") so that every category has an item");
    }
    if (start_ms < 0) {
        return Status::invalid_argument(name("start") + " must not be before 1970-01-01");
    }
    return Status::ok();
}

namespace {

Result<GeneratorOptions> options_from_config(const Config& cfg) {
    GeneratorOptions o;
    o.seed = static_cast<uint64_t>(cfg.integer("seed"));
    o.users = cfg.integer("users");
    if (cfg.has("events")) {
        o.events = cfg.integer("events");
    }
    if (cfg.has("duration")) {
        o.duration_ms = cfg.duration("duration").count();
    }
    if (cfg.has("rate")) {
        o.rate = cfg.number("rate");
    }
    const std::string& start = cfg.string("start");
    std::optional<int64_t> start_ms = parse_timestamp_ms(start);
    if (!start_ms) {
        return Status::invalid_argument(
            "`start` must be ISO-8601 like `2025-01-01T00:00:00Z` or epoch "
            "milliseconds, got `" +
            start + "`");
    }
    o.start_ms = *start_ms;
    o.bot_share = cfg.number("bot_share");
    o.missing_rate = cfg.number("missing_rate");
    o.out_of_order_rate = cfg.number("out_of_order_rate");
    o.max_out_of_order_ms = cfg.duration("max_out_of_order").count();
    o.segments = static_cast<int>(cfg.integer("segments"));
    o.items = cfg.integer("items");
    o.categories = static_cast<int>(cfg.integer("categories"));
    if (cfg.has("truth_path")) {
        o.truth_path = cfg.string("truth_path");
    }
    EDDY_RETURN_IF_ERROR(o.validate());
    return o;
}

constexpr uint8_t kPositionVersion = 1;

// FNV-1a of the options that shape the events (not the bounds or the rate, which
// a resumed run may change), so that a position is not applied to another stream.
uint64_t stream_fingerprint(const GeneratorOptions& o) {
    uint64_t h = 14695981039346656037ULL;
    auto mix = [&h](uint64_t v) {
        for (int i = 0; i < 8; ++i) {
            h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ULL;
        }
    };
    auto mix_double = [&mix](double d) {
        uint64_t bits = 0;
        std::memcpy(&bits, &d, sizeof bits);
        mix(bits);
    };
    mix(static_cast<uint64_t>(o.users));
    mix(static_cast<uint64_t>(o.start_ms));
    mix_double(o.bot_share);
    mix_double(o.missing_rate);
    mix_double(o.out_of_order_rate);
    mix(static_cast<uint64_t>(o.max_out_of_order_ms));
    mix(static_cast<uint64_t>(o.segments));
    mix(static_cast<uint64_t>(o.items));
    mix(static_cast<uint64_t>(o.categories));
    return h;
}

/// Emits the generator's events; writes the ground truth when the stream ends or closes.
/// Resumable: a position is the number of events emitted (with the seed and a
/// fingerprint of the options), and seek() regenerates and drops that many.
class GeneratorSource final : public Source {
public:
    explicit GeneratorSource(GeneratorOptions options) : options_(std::move(options)) {}

    Status open(ComponentContext& ctx) override {
        name_ = ctx.name();
        clock_ = &ctx.clock();
        const GeneratorFields fields =
            GeneratorFields::resolve([&ctx](std::string_view name) { return ctx.field(name); });
        generator_ = std::make_unique<ClickstreamGenerator>(options_, fields);
        return Status::ok();
    }

    Result<PollStatus> poll(SourceEmitter& out, size_t max_records) override {
        if (ended_) {
            return PollStatus::kEnd;
        }
        size_t n = max_records;
        int64_t now = 0;
        if (options_.live()) {
            now = clock_->now_ms();
            if (!live_start_ms_) {
                live_start_ms_ = now;
                paced_from_ = generator_->emitted();  // after a seek, pacing starts anew
            }
            if (options_.duration_ms && now - *live_start_ms_ >= *options_.duration_ms) {
                return finish(0);
            }
            // The first event is due at the start, then one every 1/rate seconds.
            const double due =
                std::floor(static_cast<double>(now - *live_start_ms_) * *options_.rate / 1000.0) +
                1;
            const double allowed = due - static_cast<double>(generator_->emitted() - paced_from_);
            if (allowed < 1) {
                return PollStatus::kIdle;
            }
            n = std::min(n, static_cast<size_t>(std::min(allowed, 1e9)));
        }
        for (size_t i = 0; i < n; ++i) {
            Record& record = out.append();
            if (!generator_->next(record, now)) {
                out.discard_last();
                return finish(i);
            }
        }
        return PollStatus::kData;
    }

    SourceProgress progress() const override {
        SourceProgress p;
        p.bytes = false;
        p.done = generator_ ? generator_->emitted() : 0;
        if (options_.events && !options_.live()) {
            p.total = static_cast<uint64_t>(*options_.events);
        }
        return p;
    }

    Status close() override { return write_truth(); }

    bool resumable() const override { return true; }

    /// Version 1: u8 version, varint seed, varint options fingerprint, varint
    /// events emitted.
    void position(std::string& out) const override {
        StateWriter w(out);
        w.u8(kPositionVersion);
        w.varint(options_.seed);
        w.varint(stream_fingerprint(options_));
        w.varint(generator_ ? generator_->emitted() : 0);
    }

    /// Regenerates and drops the events emitted before the position: O(events).
    /// The ground truth, written at the end, then covers the whole stream.
    Status seek(std::string_view position) override {
        if (!generator_) {
            return error("seek() before open()");
        }
        StateReader r(position);
        uint8_t version = 0;
        uint64_t seed = 0;
        uint64_t fingerprint = 0;
        uint64_t emitted = 0;
        if (r.u8(version) && version != kPositionVersion) {
            return error("the stored position has version " + std::to_string(version) +
                         ", but this Eddy reads version " + std::to_string(kPositionVersion));
        }
        if (!(r.varint(seed) && r.varint(fingerprint) && r.varint(emitted)) || !r.done()) {
            return error("the stored position (" + std::to_string(position.size()) +
                         " bytes) is not a valid generator position; it is damaged or was "
                         "written by another source");
        }
        if (seed != options_.seed) {
            return error("the checkpoint was taken with seed " + std::to_string(seed) +
                         ", but `seed` is now " + std::to_string(options_.seed) +
                         "; restore the seed or start without the checkpoint");
        }
        if (fingerprint != stream_fingerprint(options_)) {
            return error(
                "the options that shape the stream (users, start, bot_share, missing_rate, "
                "out_of_order_rate, max_out_of_order, segments, items, categories) differ from "
                "the checkpoint's; restore them or start without the checkpoint");
        }
        if (generator_->emitted() != 0) {
            return error("seek() after the first poll");
        }
        if (!generator_->skip(emitted)) {
            return error("the checkpoint is after event " + std::to_string(emitted) +
                         ", but the stream now ends after " +
                         std::to_string(generator_->emitted()) +
                         " events; `events` or `duration` was lowered");
        }
        return Status::ok();
    }

private:
    Status error(const std::string& message) const {
        return Status::invalid_argument("source '" + name_ + "': " + message);
    }

    Result<PollStatus> finish(size_t emitted_now) {
        ended_ = true;
        Status s = write_truth();
        if (!s.is_ok()) {
            return s;
        }
        return emitted_now > 0 ? PollStatus::kData : PollStatus::kEnd;
    }

    Status write_truth() {
        if (truth_written_ || options_.truth_path.empty() || !generator_) {
            return Status::ok();
        }
        truth_written_ = true;
        return generator_->write_truth(options_.truth_path);
    }

    GeneratorOptions options_;
    std::string name_;
    const Clock* clock_ = nullptr;
    uint64_t paced_from_ = 0;  // events emitted when live pacing started
    std::unique_ptr<ClickstreamGenerator> generator_;
    std::optional<int64_t> live_start_ms_;
    bool ended_ = false;
    bool truth_written_ = false;
};

}  // namespace
}  // namespace eddy::io

EDDY_REGISTER_SOURCE(generator) {
    using eddy::Param;
    namespace io = eddy::io;
    return eddy::SourceSpec("generator")
        .summary("A seeded synthetic clickstream of human segments and bots, with ground truth.")
        .description(
            "Users belong to latent behaviour segments (browser, reader, buyer, ...) with their "
            "own "
            "category tastes, item popularity, dwell times and purchase funnels; a share of them "
            "are bots (crawlers, headless browsers, bursty scrapers). Sessions are separated by "
            "inactivity gaps of at least 40 minutes. Some fields go missing and some timestamps "
            "arrive late at configurable rates. The same options and seed give the same events "
            "on every machine. See docs/generator.md. Resumable: a checkpoint stores the "
            "number of events emitted, and a restarted job regenerates and skips them "
            "(O(events)); live events keep the wall clock as their time, and a live "
            "`duration` counts from each start.")
        .param(Param::integer("seed").default_value(42).doc(
            "Seed of every random choice; the same seed and options give the same stream."))
        .param(Param::integer("users")
                   .default_value(1000)
                   .min(1)
                   .max(static_cast<double>(io::kMaxGeneratorUsers))
                   .doc("Number of users (humans and bots); about 100 bytes of memory each."))
        .param(Param::integer("events").min(1).doc(
            "Finite mode: stop after this many events. With `rate`, bounds the live stream."))
        .param(Param::duration("duration")
                   .min(1)
                   .doc("Finite mode: stop when event time passes `start` + `duration`. With "
                        "`rate`, the wall-clock time the live stream runs.")
                   .example("1d"))
        .param(Param::number("rate").min(0.001).max(1e7).doc(
            "Live mode: events per second of wall time, stamped with the wall clock. Endless "
            "unless `events` or `duration` is set."))
        .param(Param::string("start")
                   .default_value("2025-01-01T00:00:00Z")
                   .doc("Event time where finite mode starts: ISO-8601 or epoch milliseconds.")
                   .example("2025-06-01T00:00:00Z"))
        .param(Param::number("bot_share")
                   .default_value(0.05)
                   .min(0)
                   .max(1)
                   .doc("Share of users that are bots, split evenly among crawlers, headless "
                        "browsers and scrapers."))
        .param(Param::number("missing_rate")
                   .default_value(0.02)
                   .min(0)
                   .max(1)
                   .doc("Chance that each field other than ts, user_id and type is absent."))
        .param(Param::number("out_of_order_rate")
                   .default_value(0.01)
                   .min(0)
                   .max(1)
                   .doc("Chance that an event's ts is moved back (it is still emitted in "
                        "generation order, so it arrives late)."))
        .param(Param::duration("max_out_of_order")
                   .default_value("30s")
                   .min(0)
                   .max(7.0 * io::kDayMs)
                   .doc("The most a late event's ts is moved back (uniform in (0, this])."))
        .param(Param::integer("segments")
                   .default_value(3)
                   .min(1)
                   .max(io::kMaxGeneratorSegments)
                   .doc("Number of human segments, taken in order from browser, reader, buyer, "
                        "searcher, watcher, bargain_hunter."))
        .param(Param::integer("items")
                   .default_value(5000)
                   .min(1)
                   .max(static_cast<double>(io::kMaxGeneratorItems))
                   .doc("Catalogue size; item ids are i1..iN, popularity is Zipf-like within "
                        "each category."))
        .param(Param::integer("categories")
                   .default_value(20)
                   .min(1)
                   .max(io::kMaxGeneratorCategories)
                   .doc("Number of item categories (at most `items`)."))
        .param(Param::string("truth_path")
                   .doc("Where to write the ground truth (JSON Lines, one line per user seen: "
                        "user_id, is_bot, bot_kind, segment, events, sessions) when the stream "
                        "ends or the job stops. After a restart from a checkpoint it is "
                        "rewritten in full, covering the events of the earlier run too.")
                   .example("truth.jsonl"))
        .rule([](const eddy::Config& cfg) -> std::string {
            if (!cfg.has("events") && !cfg.has("duration") && !cfg.has("rate")) {
                return "set `events` or `duration` for a finite stream, or `rate` for a live one";
            }
            return {};
        })
        .rule([](const eddy::Config& cfg) -> std::string {
            auto options = io::options_from_config(cfg);
            return options.is_ok() ? std::string() : options.status().message();
        })
        .example("A day of clickstream with ground truth, written as JSON Lines",
                 "sources:\n"
                 "  clicks:\n"
                 "    type: generator\n"
                 "    seed: 7\n"
                 "    users: 2000\n"
                 "    duration: 1d\n"
                 "    truth_path: truth.jsonl\n"
                 "sinks:\n"
                 "  out: {type: file, input: clicks, path: clicks.jsonl}\n")
        .example("A live stream of 200 events per second",
                 "sources:\n"
                 "  clicks: {type: generator, rate: 200, bot_share: 0.1}\n"
                 "sinks:\n"
                 "  out: {type: stdout, input: clicks}\n")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Source>> {
            auto options = io::options_from_config(cfg);
            if (!options.is_ok()) {
                return eddy::Status::invalid_argument("source `" + cfg.component() + "` (" +
                                                      cfg.location().to_string() +
                                                      "): " + options.status().message());
            }
            return std::unique_ptr<eddy::Source>(
                std::make_unique<io::GeneratorSource>(std::move(options.value())));
        });
}
