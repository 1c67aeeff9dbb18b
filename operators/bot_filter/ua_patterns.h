// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "eddy/status.h"

namespace eddy::bot_filter {

/// One user-agent pattern: a RE2 regular expression, the name used in
/// `bot_rule` (`ua:<name>`) and where it was written, for messages.
struct UaPattern {
    std::string name;
    std::string regex;
    std::string origin;  ///< "built-in" or "file:line".
};

/// The built-in list: search and SEO crawlers, link-preview fetchers, headless
/// browsers and automation tools, HTTP libraries and command-line tools, then
/// a generic `bot|crawler|spider` word and the empty agent. Most specific first.
const std::vector<UaPattern>& builtin_ua_patterns();

/// Reads a pattern file. A file whose first non-blank character is `[` is a
/// JSON list of objects with a string `pattern` (and an optional `name`; other
/// fields are ignored), the format of monperrus/crawler-user-agents. Otherwise
/// it is text: one regular expression per line; blank lines and lines starting
/// with `#` are skipped, surrounding whitespace is ignored. Patterns are not
/// compiled here; errors (unreadable file, malformed JSON) name file:line.
Result<std::vector<UaPattern>> load_ua_patterns(const std::string& path);

/// Patterns compiled once into one RE2::Set. Immutable after compile(), so
/// match() may be called from any thread.
class UaMatcher {
public:
    /// Compiles `patterns`; the error names the first pattern that does not
    /// compile, with its origin (file:line) and RE2's reason.
    static Result<std::unique_ptr<UaMatcher>> compile(std::vector<UaPattern> patterns);
    ~UaMatcher();
    UaMatcher(const UaMatcher&) = delete;
    UaMatcher& operator=(const UaMatcher&) = delete;

    /// The index of the first (lowest-numbered) pattern matching anywhere in
    /// `ua`, or -1. Allocates (RE2::Set reports matches in a vector): cache it.
    int match(std::string_view ua) const;
    const UaPattern& pattern(int index) const { return patterns_[static_cast<size_t>(index)]; }
    size_t size() const { return patterns_.size(); }

private:
    struct Engine;  // the RE2 objects, kept out of this header
    UaMatcher();
    std::vector<UaPattern> patterns_;
    std::unique_ptr<Engine> engine_;
};

/// Verdicts per distinct user agent, so each agent is matched once. Not
/// state: it is rebuilt from the matcher after a restart. Bounded: when it
/// holds `capacity` agents it is emptied and starts over. Not thread-safe.
class UaVerdictCache {
public:
    explicit UaVerdictCache(size_t capacity) : capacity_(capacity) {}

    /// The matcher's verdict for `ua` (pattern index or -1), cached.
    int verdict(const UaMatcher& matcher, std::string_view ua) {
        auto it = verdicts_.find(ua);
        if (it != verdicts_.end()) {
            ++hits_;
            return it->second;
        }
        ++misses_;
        if (verdicts_.size() >= capacity_) {
            verdicts_.clear();
        }
        int v = matcher.match(ua);
        verdicts_.emplace(std::string(ua), v);
        return v;
    }
    size_t size() const { return verdicts_.size(); }
    uint64_t hits() const { return hits_; }
    uint64_t misses() const { return misses_; }

private:
    struct Hash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    size_t capacity_;
    std::unordered_map<std::string, int, Hash, std::equal_to<>> verdicts_;
    uint64_t hits_ = 0;
    uint64_t misses_ = 0;
};

}  // namespace eddy::bot_filter
