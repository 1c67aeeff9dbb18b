// SPDX-License-Identifier: Apache-2.0
#include "common/published_rankings.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "eddy/param.h"

namespace eddy {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

uint64_t mix(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

Param serve_cache_users_param() {
    return Param::integer("serve_cache_users")
        .default_value(100000)
        .min(0)
        .max(100000000)
        .doc(
            "How many users' latest rankings (made when the operator emits, or for an "
            "earlier request) the HTTP API keeps to answer `/v1/recommendations` from its own "
            "threads, without waiting for the shard (docs/serving.md, \"Answers without the "
            "shard\"); about 40 + 16 * top_n bytes each. 0: every answer is ranked on the "
            "shard.");
}

Param serve_max_age_param() {
    return Param::duration("serve_max_age")
        .default_value("1m")
        .min(0)
        .doc(
            "How old (processing time) a kept ranking may be when the HTTP API serves it; "
            "an older one is ranked again on the shard. 0s: never served from the cache.");
}

std::string check_serve_cache(const Config& cfg, int64_t top_n) {
    constexpr double kLimit = 4.0 * (1 << 30);
    double bytes = static_cast<double>(cfg.integer("serve_cache_users")) * 8 *
                   (5 + 2 * static_cast<double>(top_n));
    if (bytes <= kLimit) {
        return "";
    }
    char text[200];
    std::snprintf(text, sizeof text,
                  "`serve_cache_users` keeps %lld rankings of %lld items: %.1f GiB, over the "
                  "limit of 4 GiB; lower it (docs/serving.md, \"Answers without the shard\")",
                  static_cast<long long>(cfg.integer("serve_cache_users")),
                  static_cast<long long>(2 * top_n), bytes / (1 << 30));
    return text;
}

void write_kept_score(JsonWriter& j, double score) {
    auto f = static_cast<float>(score);
    if (!std::isfinite(f)) {
        j.value(nullptr);
        return;
    }
    char text[32];
    auto [end, ec] = std::to_chars(text, text + sizeof text, f);
    j.raw(std::string_view(text, static_cast<size_t>(end - text)));
}

UserFingerprint UserFingerprint::of(std::string_view encoded_key) {
    // Two independent chains of a bijective mixer over 8-byte words.
    uint64_t a = 0x243f6a8885a308d3ULL ^ encoded_key.size();
    uint64_t b = 0x13198a2e03707344ULL + encoded_key.size();
    size_t i = 0;
    auto step = [&](uint64_t w) {
        a = mix(a ^ w);
        b = mix(b + std::rotl(w, 29) + 0x9e3779b97f4a7c15ULL);
    };
    for (; i + 8 <= encoded_key.size(); i += 8) {
        uint64_t w = 0;
        std::memcpy(&w, encoded_key.data() + i, 8);
        step(w);
    }
    if (i < encoded_key.size()) {
        uint64_t w = 0;
        std::memcpy(&w, encoded_key.data() + i, encoded_key.size() - i);
        step(w ^ (uint64_t{1} << 63));
    }
    return {mix(a ^ b), b};
}

void PublishedRankings::configure(size_t users, size_t kept, int64_t max_age_ms) {
    kept_ = kept;
    max_age_ms_ = max_age_ms;
    buckets_ = users == 0 || kept == 0 || max_age_ms <= 0 ? 0 : (users + kWays - 1) / kWays;
    stride_ = kHeader + kept;
}

std::atomic<uint64_t>* PublishedRankings::find(const UserFingerprint& user) {
    std::atomic<uint64_t>* words = owned_.get();
    size_t first = bucket(user);
    for (size_t i = first; i < first + kWays; ++i) {
        std::atomic<uint64_t>* s = slot(words, stride_, i);
        if (s[0].load(kRelaxed) != 0 && s[1].load(kRelaxed) == user.hi &&
            s[2].load(kRelaxed) == user.lo) {
            return s;
        }
    }
    return nullptr;
}

void PublishedRankings::publish(const UserFingerprint& user, int64_t now_ms, uint32_t group,
                                std::span<const PublishedRanking::Entry> entries) {
    if (owned_ == nullptr) {
        if (!wanted()) {
            return;
        }
        owned_ = std::make_unique<std::atomic<uint64_t>[]>(buckets_ * kWays * stride_);
        words_.store(owned_.get(), std::memory_order_release);
    }
    std::atomic<uint64_t>* s = find(user);
    if (s == nullptr) {
        // A never used slot of the bucket, else the one with the oldest ranking.
        size_t first = bucket(user);
        int64_t oldest = INT64_MAX;
        for (size_t i = first; i < first + kWays; ++i) {
            std::atomic<uint64_t>* c = slot(owned_.get(), stride_, i);
            int64_t ranked =
                c[0].load(kRelaxed) == 0 ? INT64_MIN : static_cast<int64_t>(c[3].load(kRelaxed));
            if (ranked < oldest) {
                oldest = ranked;
                s = c;
            }
        }
    }
    size_t count = 0;
    while (count < entries.size() && count < kept_ && entries[count].item <= kMaxItem) {
        ++count;
    }
    uint64_t seq = s[0].load(kRelaxed);
    s[0].store(seq + 1, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s[1].store(user.hi, kRelaxed);
    s[2].store(user.lo, kRelaxed);
    s[3].store(static_cast<uint64_t>(now_ms), kRelaxed);
    s[4].store(uint64_t{group} << 32 | count, kRelaxed);
    for (size_t k = 0; k < count; ++k) {
        const PublishedRanking::Entry& e = entries[k];
        uint64_t item = uint64_t{e.item} << 2 | (e.source & 3U);
        auto score = std::bit_cast<uint32_t>(static_cast<float>(e.score));
        s[kHeader + k].store(item << 32 | score, kRelaxed);
    }
    s[0].store(seq + 2, std::memory_order_release);
}

void PublishedRankings::remove(const UserFingerprint& user, uint32_t item) {
    std::atomic<uint64_t>* s = owned_ == nullptr ? nullptr : find(user);
    if (s == nullptr) {
        return;
    }
    uint64_t head = s[4].load(kRelaxed);
    size_t count = head & 0xffffffffU;
    size_t at = 0;
    while (at < count && (s[kHeader + at].load(kRelaxed) >> 34) != item) {
        ++at;
    }
    if (at == count) {
        return;
    }
    uint64_t seq = s[0].load(kRelaxed);
    s[0].store(seq + 1, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    for (size_t k = at; k + 1 < count; ++k) {
        s[kHeader + k].store(s[kHeader + k + 1].load(kRelaxed), kRelaxed);
    }
    s[4].store(head - 1, kRelaxed);
    s[0].store(seq + 2, std::memory_order_release);
}

void PublishedRankings::erase(const UserFingerprint& user) {
    std::atomic<uint64_t>* s = owned_ == nullptr ? nullptr : find(user);
    if (s == nullptr) {
        return;
    }
    uint64_t seq = s[0].load(kRelaxed);
    s[0].store(seq + 1, kRelaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s[1].store(0, kRelaxed);
    s[2].store(0, kRelaxed);
    s[3].store(0, kRelaxed);
    s[4].store(0, kRelaxed);
    s[0].store(seq + 2, std::memory_order_release);
}

bool PublishedRankings::read(const UserFingerprint& user, int64_t now_ms, size_t n,
                             PublishedRanking& out) const {
    std::atomic<uint64_t>* words = words_.load(std::memory_order_acquire);
    if (words == nullptr) {
        return false;
    }
    size_t first = bucket(user);
    constexpr int kTries = 4;
    for (size_t i = first; i < first + kWays; ++i) {
        const std::atomic<uint64_t>* s = slot(words, stride_, i);
        for (int t = 0; t < kTries; ++t) {
            uint64_t seq = s[0].load(std::memory_order_acquire);
            if (seq == 0) {
                break;  // never written
            }
            if ((seq & 1) != 0) {
                continue;  // being written
            }
            bool mine = s[1].load(kRelaxed) == user.hi && s[2].load(kRelaxed) == user.lo;
            auto ranked = static_cast<int64_t>(s[3].load(kRelaxed));
            uint64_t head = s[4].load(kRelaxed);
            size_t count = head & 0xffffffffU;
            bool usable = mine && ranked <= now_ms && now_ms - ranked <= max_age_ms_ &&
                          count <= kept_ && count >= n;
            if (usable) {
                out.entries.resize(n);
                for (size_t k = 0; k < n; ++k) {
                    uint64_t w = s[kHeader + k].load(kRelaxed);
                    out.entries[k].item = static_cast<uint32_t>(w >> 34);
                    out.entries[k].source = static_cast<uint8_t>((w >> 32) & 3U);
                    out.entries[k].score =
                        std::bit_cast<float>(static_cast<uint32_t>(w & 0xffffffffU));
                }
                out.group = static_cast<uint32_t>(head >> 32);
                out.ranked_ms = ranked;
            }
            std::atomic_thread_fence(std::memory_order_acquire);
            if (s[0].load(kRelaxed) != seq) {
                continue;  // rewritten meanwhile: read again
            }
            if (mine) {
                return usable;
            }
            break;
        }
    }
    return false;
}

}  // namespace eddy
