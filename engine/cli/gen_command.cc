// SPDX-License-Identifier: Apache-2.0
// `eddy gen`: writes the synthetic clickstream of io/generator.h as JSON Lines.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "eddy/clock.h"
#include "eddy/fields.h"
#include "eddy/record.h"
#include "eddy/units.h"

#include "commands.h"
#include "io/generator.h"
#include "record/json.h"

namespace eddy::cli {
namespace {

constexpr int64_t kDefaultEvents = 100'000;

struct GenArgs {
    io::GeneratorOptions options;
    std::string events, duration, rate, start = "2025-01-01T00:00:00Z", max_out_of_order = "30s";
    std::string out = "-";
    std::string truth;
};

std::atomic<bool> g_stop{false};  // set by SIGINT/SIGTERM in live mode

void on_gen_signal(int) {
    g_stop.store(true);
}

int usage_error(const std::string& message) {
    std::fprintf(stderr, "eddy gen: %s\n", message.c_str());
    return kExitUsage;
}

/// Turns the flags' text into options; the message names the flag.
int resolve(GenArgs& a) {
    io::GeneratorOptions& o = a.options;
    if (!a.events.empty()) {
        try {
            size_t used = 0;
            o.events = std::stoll(a.events, &used);
            if (used != a.events.size()) {
                throw std::invalid_argument(a.events);
            }
        } catch (const std::exception&) {
            return usage_error("--events must be a whole number, got '" + a.events + "'");
        }
    }
    if (!a.duration.empty()) {
        o.duration_ms = parse_duration_ms(a.duration);
        if (!o.duration_ms) {
            return usage_error("--duration must be a duration like 1d, 6h or 90m, got '" +
                               a.duration + "'");
        }
    }
    if (!a.rate.empty()) {
        try {
            size_t used = 0;
            o.rate = std::stod(a.rate, &used);
            if (used != a.rate.size()) {
                throw std::invalid_argument(a.rate);
            }
        } catch (const std::exception&) {
            return usage_error("--rate must be a number of events per second, got '" + a.rate +
                               "'");
        }
    }
    if (!o.events && !o.duration_ms && !o.rate) {
        o.events = kDefaultEvents;
    }
    std::optional<int64_t> start = io::parse_timestamp_ms(a.start);
    if (!start) {
        return usage_error(
            "--start must be ISO-8601 like 2025-01-01T00:00:00Z or epoch "
            "milliseconds, got '" +
            a.start + "'");
    }
    o.start_ms = *start;
    std::optional<int64_t> late = parse_duration_ms(a.max_out_of_order);
    if (!late) {
        return usage_error("--max-out-of-order must be a duration like 30s, got '" +
                           a.max_out_of_order + "'");
    }
    o.max_out_of_order_ms = *late;
    o.truth_path = a.truth;
    Status s = o.validate(/*cli_names=*/true);
    return s.is_ok() ? kExitOk : usage_error(s.message());
}

int run(GenArgs& a) {
    if (int code = resolve(a); code != kExitOk) {
        return code;
    }
    const io::GeneratorOptions& o = a.options;
    const bool to_stdout = a.out.empty() || a.out == "-";
    std::FILE* out = to_stdout ? stdout : std::fopen(a.out.c_str(), "wb");
    if (out == nullptr) {
        std::fprintf(stderr, "eddy gen: cannot open output file '%s': %s\n", a.out.c_str(),
                     std::strerror(errno));
        return kExitRuntimeFailure;
    }
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> owned(to_stdout ? nullptr : out, &std::fclose);
    if (!a.truth.empty()) {  // fail before generating anything
        std::FILE* probe = std::fopen(a.truth.c_str(), "ab");
        if (probe == nullptr) {
            std::fprintf(stderr, "eddy gen: cannot write ground-truth file '%s': %s\n",
                         a.truth.c_str(), std::strerror(errno));
            return kExitRuntimeFailure;
        }
        std::fclose(probe);
    }
    if (o.live()) {
        std::signal(SIGINT, on_gen_signal);
        std::signal(SIGTERM, on_gen_signal);
    }

    FieldTable table;
    const io::GeneratorFields fields = io::GeneratorFields::resolve(
        [&table](std::string_view name) { return table.intern(name); });
    const auto started = std::chrono::steady_clock::now();
    io::ClickstreamGenerator generator(o, fields);
    JsonEncoder encoder([&table](FieldId id) { return table.name(id); });
    Batch batch;
    std::string text;
    const Clock& clock = Clock::system();
    const int64_t live_start = clock.now_ms();
    bool more = true;
    while (more && !g_stop.load()) {
        size_t want = Batch::kDefaultCapacity;
        int64_t now = 0;
        if (o.live()) {
            now = clock.now_ms();
            const double due =
                std::floor(static_cast<double>(now - live_start) * *o.rate / 1000.0) + 1 -
                static_cast<double>(generator.emitted());
            if (o.duration_ms && now - live_start >= *o.duration_ms) {
                break;
            }
            if (due < 1) {
                const double wait_ms = (1 - due) * 1000.0 / *o.rate;
                std::this_thread::sleep_for(std::chrono::milliseconds(
                    static_cast<int64_t>(std::clamp(wait_ms, 1.0, 100.0))));
                continue;
            }
            want = static_cast<size_t>(std::min(due, static_cast<double>(want)));
        }
        batch.clear();
        text.clear();
        for (size_t i = 0; i < want; ++i) {
            Record& record = batch.append();
            if (!generator.next(record, now)) {
                batch.pop_back();
                more = false;
                break;
            }
            encoder.append(record, text);
            text += '\n';
        }
        if (std::fwrite(text.data(), 1, text.size(), out) != text.size() ||
            (o.live() && std::fflush(out) != 0)) {
            std::fprintf(stderr, "eddy gen: cannot write to '%s': %s\n",
                         to_stdout ? "stdout" : a.out.c_str(), std::strerror(errno));
            return kExitRuntimeFailure;
        }
    }
    if (std::fflush(out) != 0 || std::ferror(out) != 0 ||
        (owned && std::fclose(owned.release()) != 0)) {
        std::fprintf(stderr, "eddy gen: cannot write to '%s': %s\n",
                     to_stdout ? "stdout" : a.out.c_str(), std::strerror(errno));
        return kExitRuntimeFailure;
    }
    if (!a.truth.empty()) {
        Status s = generator.write_truth(a.truth);
        if (!s.is_ok()) {
            std::fprintf(stderr, "eddy gen: %s\n", s.message().c_str());
            return kExitRuntimeFailure;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "eddy gen: %llu events, %llu users seen (%llu bots), %.1f s, to %s%s%s\n",
                 static_cast<unsigned long long>(generator.emitted()),
                 static_cast<unsigned long long>(generator.users_seen()),
                 static_cast<unsigned long long>(generator.bots_seen()), seconds,
                 to_stdout ? "stdout" : a.out.c_str(), a.truth.empty() ? "" : "; ground truth to ",
                 a.truth.c_str());
    return kExitOk;
}

}  // namespace

void add_gen_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<GenArgs>();
    io::GeneratorOptions& o = args->options;
    CLI::App* cmd = app.add_subcommand(
        "gen",
        "Write a seeded synthetic clickstream (human segments and bots) as JSON Lines, with an "
        "optional ground-truth file. See docs/generator.md.");
    cmd->add_option("-o,--out", args->out, "Output file; '-' or none writes stdout")
        ->type_name("PATH");
    cmd->add_option("--truth", args->truth,
                    "Ground-truth file: one JSON line per user seen (user_id, is_bot, bot_kind, "
                    "segment, events, sessions)")
        ->type_name("PATH");
    cmd->add_option("--events", args->events,
                    "Stop after this many events (default 100000 when neither --events, "
                    "--duration nor --rate is given)")
        ->type_name("N");
    cmd->add_option("--duration", args->duration,
                    "Stop when event time passes --start + this (e.g. 1d); with --rate, the "
                    "wall-clock run time")
        ->type_name("DURATION");
    cmd->add_option("--rate", args->rate,
                    "Live mode: events per second of wall time, stamped with the wall clock; "
                    "endless unless --events or --duration is given (Ctrl-C stops)")
        ->type_name("PER_SEC");
    cmd->add_option("--seed", o.seed, "Seed of every random choice")->capture_default_str();
    cmd->add_option("--users", o.users, "Number of users, humans and bots")->capture_default_str();
    cmd->add_option("--start", args->start, "Event time of the start: ISO-8601 or epoch ms")
        ->type_name("TIME")
        ->capture_default_str();
    cmd->add_option("--bot-share", o.bot_share, "Share of users that are bots, in [0, 1]")
        ->capture_default_str();
    cmd->add_option("--missing-rate", o.missing_rate,
                    "Chance that each field but ts, user_id and type is absent")
        ->capture_default_str();
    cmd->add_option("--out-of-order-rate", o.out_of_order_rate,
                    "Chance that an event's ts is moved back (it still comes in order)")
        ->capture_default_str();
    cmd->add_option("--max-out-of-order", args->max_out_of_order,
                    "The most a late event's ts is moved back")
        ->type_name("DURATION")
        ->capture_default_str();
    cmd->add_option("--segments", o.segments,
                    "Human segments: browser, reader, buyer, searcher, watcher, bargain_hunter "
                    "(the first N)")
        ->capture_default_str();
    cmd->add_option("--items", o.items, "Catalogue size")->capture_default_str();
    cmd->add_option("--categories", o.categories, "Number of item categories")
        ->capture_default_str();
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace eddy::cli
