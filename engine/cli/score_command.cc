// SPDX-License-Identifier: Apache-2.0
// `eddy score`: per-user precision and recall of a bot filter's outputs against
// the generator's ground truth.
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <simdjson.h>

#include "commands.h"
#include "io/line_reader.h"

namespace eddy::cli {
namespace {

struct ScoreArgs {
    std::string bots, humans, truth;
    std::string key = "user_id";
    std::string format = "text";
    std::optional<double> min_precision, min_recall;
};

struct Truth {
    bool is_bot = false;
    std::string kind;  // "human" for people
};

/// What the outputs say about one user.
struct Seen {
    uint64_t bot_events = 0;
    uint64_t human_events = 0;
    std::string rule;  // `bot_rule` of its first bot event
};

struct Failure {
    std::string message;
};

/// The key as text: strings as they are, integers in decimal.
std::optional<std::string> key_text(simdjson::dom::element v) {
    if (v.is_string()) {
        return std::string(std::string_view(v.get_string().value()));
    }
    if (v.is_int64()) {
        return std::to_string(int64_t(v.get_int64().value()));
    }
    if (v.is_uint64()) {
        return std::to_string(uint64_t(v.get_uint64().value()));
    }
    return std::nullopt;
}

/// Calls `f(line number, object)` for each line of `path`; a line that is not
/// a JSON object is an error naming path:line.
template <class F>
std::optional<Failure> for_each_object(const std::string& path, const char* what, F&& f) {
    auto reader = LineReader::open(path, {});
    if (!reader.is_ok()) {
        return Failure{std::string(what) + " file: " + reader.status().message()};
    }
    simdjson::dom::parser parser;
    LineReader::Line line;
    while (true) {
        auto ev = reader.value()->next(line);
        if (!ev.is_ok()) {
            return Failure{path + ": " + ev.status().message()};
        }
        if (*ev == LineReader::Event::kEnd) {
            return std::nullopt;
        }
        if (*ev != LineReader::Event::kLine) {
            return Failure{path + ":" + std::to_string(line.number) + ": line too long"};
        }
        simdjson::dom::object obj;
        auto error = parser.parse(line.text.data(), line.text.size()).get(obj);
        if (error) {
            return Failure{path + ":" + std::to_string(line.number) + ": not a JSON object (" +
                           simdjson::error_message(error) + ")"};
        }
        if (std::optional<Failure> failed = f(line.number, obj)) {
            return failed;
        }
    }
}

std::optional<Failure> read_truth(const std::string& path,
                                  std::unordered_map<std::string, Truth>& truth) {
    return for_each_object(
        path, "truth", [&](int64_t n, simdjson::dom::object obj) -> std::optional<Failure> {
            simdjson::dom::element id, is_bot, kind;
            std::optional<std::string> key;
            if (obj["user_id"].get(id) == simdjson::SUCCESS) {
                key = key_text(id);
            }
            if (!key || obj["is_bot"].get(is_bot) != simdjson::SUCCESS || !is_bot.is_bool()) {
                return Failure{path + ":" + std::to_string(n) +
                               ": not a ground-truth line; expected {\"user_id\": ..., \"is_bot\": "
                               "true|false, \"bot_kind\": ...} as written by `eddy gen --truth`"};
            }
            Truth t;
            t.is_bot = is_bot.get_bool().value();
            t.kind = "human";
            if (t.is_bot) {
                t.kind = "bot";
                if (obj["bot_kind"].get(kind) == simdjson::SUCCESS && kind.is_string()) {
                    t.kind = std::string(std::string_view(kind.get_string().value()));
                }
            }
            truth[*key] = std::move(t);
            return std::nullopt;
        });
}

std::optional<Failure> read_output(const std::string& path, const std::string& key, bool bots,
                                   std::unordered_map<std::string, Seen>& seen,
                                   uint64_t& without_key) {
    return for_each_object(
        path, bots ? "bots" : "humans",
        [&](int64_t, simdjson::dom::object obj) -> std::optional<Failure> {
            simdjson::dom::element v;
            std::optional<std::string> k;
            if (obj[key].get(v) == simdjson::SUCCESS) {
                k = key_text(v);
            }
            if (!k) {
                ++without_key;
                return std::nullopt;
            }
            Seen& s = seen[*k];
            if (!bots) {
                ++s.human_events;
                return std::nullopt;
            }
            if (s.bot_events++ == 0) {
                simdjson::dom::element rule;
                s.rule = obj["bot_rule"].get(rule) == simdjson::SUCCESS && rule.is_string()
                             ? std::string(std::string_view(rule.get_string().value()))
                             : "?";
            }
            return std::nullopt;
        });
}

double ratio(uint64_t a, uint64_t b) {
    return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

/// The rule's family: `ua:googlebot` → `ua`, `ip:deny ...` → `ip`.
std::string family(const std::string& rule) {
    return rule.substr(0, rule.find(':'));
}

int run(const ScoreArgs& a) {
    std::unordered_map<std::string, Truth> truth;
    std::unordered_map<std::string, Seen> seen;
    uint64_t without_key = 0;
    std::optional<Failure> failed = read_truth(a.truth, truth);
    if (!failed) {
        failed = read_output(a.bots, a.key, true, seen, without_key);
    }
    if (!failed && !a.humans.empty()) {
        failed = read_output(a.humans, a.key, false, seen, without_key);
    }
    if (failed) {
        std::fprintf(stderr, "eddy score: %s\n", failed->message.c_str());
        return kExitUsage;
    }
    if (truth.empty()) {
        std::fprintf(stderr, "eddy score: the truth file '%s' has no users\n", a.truth.c_str());
        return kExitUsage;
    }

    uint64_t tp = 0, fp = 0, fn = 0, tn = 0, unseen = 0, unknown = 0;
    uint64_t bot_events_right = 0, bot_events = 0, human_events_right = 0, human_events = 0;
    std::map<std::string, std::pair<uint64_t, uint64_t>> by_kind;  // caught, total
    std::map<std::string, uint64_t> by_rule;                       // caught users per family
    for (const auto& [user, t] : truth) {
        auto it = seen.find(user);
        const bool flagged = it != seen.end() && it->second.bot_events > 0;
        unseen += it == seen.end() ? 1 : 0;
        if (t.is_bot) {
            auto& k = by_kind[t.kind];
            ++k.second;
            k.first += flagged ? 1 : 0;
            (flagged ? tp : fn) += 1;
            if (flagged) {
                ++by_rule[family(it->second.rule)];
            }
        } else {
            (flagged ? fp : tn) += 1;
        }
        if (it != seen.end()) {
            bot_events += it->second.bot_events;
            human_events += it->second.human_events;
            (t.is_bot ? bot_events_right : human_events_right) +=
                t.is_bot ? it->second.bot_events : it->second.human_events;
        }
    }
    for (const auto& [user, s] : seen) {
        unknown += truth.count(user) == 0 ? 1 : 0;
    }
    const double precision = ratio(tp, tp + fp);
    const double recall = ratio(tp, tp + fn);
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;

    if (a.format == "json") {
        std::printf(
            "{\"users\":%zu,\"tp\":%llu,\"fp\":%llu,\"fn\":%llu,\"tn\":%llu,\"precision\":%.6f,"
            "\"recall\":%.6f,\"f1\":%.6f,\"recall_by_kind\":{",
            truth.size(), static_cast<unsigned long long>(tp), static_cast<unsigned long long>(fp),
            static_cast<unsigned long long>(fn), static_cast<unsigned long long>(tn), precision,
            recall, f1);
        const char* sep = "";
        for (const auto& [kind, c] : by_kind) {
            std::printf("%s\"%s\":%.6f", sep, kind.c_str(), ratio(c.first, c.second));
            sep = ",";
        }
        std::printf("},\"unseen\":%llu,\"unknown\":%llu}\n",
                    static_cast<unsigned long long>(unseen),
                    static_cast<unsigned long long>(unknown));
    } else {
        std::printf("users: %zu in the truth file", truth.size());
        std::printf(", %llu in no output (scored as human)",
                    static_cast<unsigned long long>(unseen));
        std::printf(", %llu in the outputs but not in the truth file (ignored)\n",
                    static_cast<unsigned long long>(unknown));
        std::printf("                predicted bot  predicted human\n");
        std::printf("  true bot      %13llu  %15llu\n", static_cast<unsigned long long>(tp),
                    static_cast<unsigned long long>(fn));
        std::printf("  true human    %13llu  %15llu\n", static_cast<unsigned long long>(fp),
                    static_cast<unsigned long long>(tn));
        std::printf("precision %.4f  recall %.4f  F1 %.4f\n", precision, recall, f1);
        std::printf("recall by bot kind:");
        for (const auto& [kind, c] : by_kind) {
            std::printf("  %s %llu/%llu (%.4f)", kind.c_str(),
                        static_cast<unsigned long long>(c.first),
                        static_cast<unsigned long long>(c.second), ratio(c.first, c.second));
        }
        std::printf("\ncaught bots by the rule of their first bot event:");
        for (const auto& [rule, n] : by_rule) {
            std::printf("  %s %llu", rule.c_str(), static_cast<unsigned long long>(n));
        }
        std::printf("\nevents: %llu to bots (%.2f%% of true bots)",
                    static_cast<unsigned long long>(bot_events),
                    100 * ratio(bot_events_right, bot_events));
        if (!a.humans.empty()) {
            std::printf(", %llu to humans (%.2f%% of true humans)",
                        static_cast<unsigned long long>(human_events),
                        100 * ratio(human_events_right, human_events));
        }
        if (without_key > 0) {
            std::printf(", %llu without `%s` (ignored)",
                        static_cast<unsigned long long>(without_key), a.key.c_str());
        }
        std::printf("\n");
    }
    if (a.min_precision && precision < *a.min_precision) {
        std::fprintf(stderr, "eddy score: precision %.4f is below --min-precision %.4f\n",
                     precision, *a.min_precision);
        return kExitRuntimeFailure;
    }
    if (a.min_recall && recall < *a.min_recall) {
        std::fprintf(stderr, "eddy score: recall %.4f is below --min-recall %.4f\n", recall,
                     *a.min_recall);
        return kExitRuntimeFailure;
    }
    return kExitOk;
}

}  // namespace

void add_score_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ScoreArgs>();
    CLI::App* cmd = app.add_subcommand(
        "score",
        "Score a bot filter per user against a ground-truth file: a user is predicted a bot "
        "when any of its events is in the bots output. See docs/bot_filter.md.");
    cmd->add_option("--bots", args->bots, "JSON Lines of the bots output (e.g. clean.bots)")
        ->required()
        ->type_name("PATH");
    cmd->add_option("--humans", args->humans,
                    "JSON Lines of the main (human) output; optional, for event counts and "
                    "users seen")
        ->type_name("PATH");
    cmd->add_option("--truth", args->truth,
                    "Ground truth: one JSON line per user with user_id, is_bot and bot_kind "
                    "(`eddy gen --truth`)")
        ->required()
        ->type_name("PATH");
    cmd->add_option("--key", args->key, "The user field of the outputs")->capture_default_str();
    cmd->add_option("--format", args->format, "text or json (one line)")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    cmd->add_option("--min-precision", args->min_precision,
                    "Exit with code 1 when precision is below this")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--min-recall", args->min_recall, "Exit with code 1 when recall is below this")
        ->check(CLI::Range(0.0, 1.0));
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace eddy::cli
