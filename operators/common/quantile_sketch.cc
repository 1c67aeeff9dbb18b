// SPDX-License-Identifier: Apache-2.0
#include "common/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace eddy {
namespace {

constexpr double kLevelDecay = 2.0 / 3.0;  // capacity ratio between neighbouring levels
constexpr size_t kMinCapacity = 2;
constexpr uint64_t kMaxLevels = 64;

uint64_t splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

QuantileSketch::QuantileSketch(int k) : k_(std::clamp(k, 8, 65535)) {
    levels_.emplace_back();
    update_capacities();
}

void QuantileSketch::update_capacities() {
    capacities_.resize(levels_.size());
    max_size_ = 0;
    for (size_t h = 0; h < levels_.size(); ++h) {
        double depth = static_cast<double>(levels_.size() - 1 - h);
        auto cap = static_cast<size_t>(std::ceil(k_ * std::pow(kLevelDecay, depth)));
        capacities_[h] = std::max(cap, kMinCapacity);
        max_size_ += capacities_[h];
    }
}

size_t QuantileSketch::retained() const {
    return size_;
}

void QuantileSketch::add(double v) {
    if (std::isnan(v)) {
        return;
    }
    if (n_ == 0) {
        min_ = max_ = v;
    } else {
        min_ = std::min(min_, v);
        max_ = std::max(max_, v);
    }
    ++n_;
    levels_[0].push_back(v);
    ++size_;
    if (size_ >= max_size_) {
        compress();
    }
}

void QuantileSketch::add_weighted(double v, size_t level) {
    if (levels_.size() <= level) {
        levels_.resize(level + 1);
        update_capacities();
    }
    levels_[level].push_back(v);
    ++size_;
}

void QuantileSketch::compact_level(size_t level) {
    if (level + 1 >= levels_.size()) {
        levels_.emplace_back();
        update_capacities();
    }
    std::vector<double>& items = levels_[level];
    std::sort(items.begin(), items.end());
    // An odd item stays behind so that total weight is preserved exactly.
    size_t even = items.size() & ~size_t{1};
    size_t offset = splitmix64(compactions_++) & 1;
    std::vector<double>& up = levels_[level + 1];
    for (size_t i = offset; i < even; i += 2) {
        up.push_back(items[i]);
    }
    size_ -= even / 2;
    if (even < items.size()) {
        items[0] = items.back();
    }
    items.resize(items.size() - even);
}

// Compacts the lowest level at or over its capacity (as in the reference
// implementation); levels above are left to fill lazily.
void QuantileSketch::compress() {
    for (size_t h = 0; h < levels_.size() && levels_.size() < kMaxLevels; ++h) {
        if (levels_[h].size() >= capacities_[h]) {
            compact_level(h);
            if (size_ < max_size_) {
                return;
            }
        }
    }
}

void QuantileSketch::merge(const QuantileSketch& other) {
    if (other.n_ == 0) {
        return;
    }
    if (n_ == 0) {
        min_ = other.min_;
        max_ = other.max_;
    } else {
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
    }
    n_ += other.n_;
    for (size_t h = 0; h < other.levels_.size(); ++h) {
        for (double v : other.levels_[h]) {
            add_weighted(v, h);
        }
    }
    size_t before = size_ + 1;
    while (size_ >= max_size_ && size_ < before) {
        before = size_;
        compress();
    }
}

double QuantileSketch::rank(double v) const {
    if (n_ == 0) {
        return 0;
    }
    uint64_t below = 0;
    for (size_t h = 0; h < levels_.size(); ++h) {
        for (double x : levels_[h]) {
            if (x <= v) {
                below += uint64_t{1} << h;
            }
        }
    }
    return static_cast<double>(below) / static_cast<double>(n_);
}

double QuantileSketch::quantile(double q) const {
    double out = 0;
    quantiles({&q, 1}, {&out, 1});
    return out;
}

void QuantileSketch::quantiles(std::span<const double> qs, std::span<double> out) const {
    bool sorted = false;
    for (size_t i = 0; i < qs.size() && i < out.size(); ++i) {
        double q = std::clamp(qs[i], 0.0, 1.0);
        if (n_ == 0) {
            out[i] = std::numeric_limits<double>::quiet_NaN();
            continue;
        }
        if (q <= 0 || q >= 1) {
            out[i] = q <= 0 ? min_ : max_;
            continue;
        }
        if (!sorted) {
            sorted = true;
            weighted_.clear();
            for (size_t h = 0; h < levels_.size(); ++h) {
                for (double x : levels_[h]) {
                    weighted_.emplace_back(x, uint64_t{1} << h);
                }
            }
            std::sort(weighted_.begin(), weighted_.end());
        }
        // Smallest x whose cumulative weight reaches ceil(q * n).
        auto target = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n_)));
        target = std::max<uint64_t>(target, 1);
        uint64_t cumulative = 0;
        out[i] = max_;
        for (const auto& [x, w] : weighted_) {
            cumulative += w;
            if (cumulative >= target) {
                out[i] = x;
                break;
            }
        }
    }
}

void QuantileSketch::encode(StateWriter& w) const {
    w.varint(static_cast<uint64_t>(k_));
    w.varint(n_);
    w.varint(compactions_);
    w.f64(min_);
    w.f64(max_);
    w.varint(levels_.size());
    for (const auto& level : levels_) {
        w.varint(level.size());
        for (double x : level) {
            w.f64(x);
        }
    }
}

void QuantileSketch::to_json(JsonWriter& j) const {
    j.begin_object().field("k", k_).field("count", n_);
    if (n_ == 0) {
        j.field("min", nullptr).field("max", nullptr);
    } else {
        j.field("min", min_).field("max", max_);
    }
    j.field("compactions", compactions_).field("retained", size_);
    if (n_ > 0) {
        j.key("quantiles").begin_object();
        for (auto [name, q] :
             {std::pair{"p25", 0.25}, std::pair{"p50", 0.5}, std::pair{"p75", 0.75},
              std::pair{"p90", 0.9}, std::pair{"p99", 0.99}}) {
            j.field(name, quantile(q));
        }
        j.end_object();
    }
    if (size_ <= kJsonItems) {
        j.key("levels").begin_array();
        for (const auto& level : levels_) {
            j.begin_array();
            for (double x : level) {
                j.value(x);
            }
            j.end_array();
        }
        j.end_array();
    }
    j.end_object();
}

bool QuantileSketch::decode(StateReader& r) {
    uint64_t k = 0;
    uint64_t n = 0;
    uint64_t compactions = 0;
    double lo = 0;
    double hi = 0;
    uint64_t nlevels = 0;
    if (!r.varint(k) || !r.varint(n) || !r.varint(compactions) || !r.f64(lo) || !r.f64(hi) ||
        !r.varint(nlevels) || k < 8 || k > 65535 || nlevels == 0 || nlevels > kMaxLevels) {
        return false;
    }
    std::vector<std::vector<double>> levels(nlevels);
    size_t size = 0;
    uint64_t weight = 0;
    for (uint64_t h = 0; h < nlevels; ++h) {
        uint64_t count = 0;
        if (!r.varint(count) || count > 4 * k + 4 * kMaxLevels) {
            return false;
        }
        levels[h].resize(count);
        for (uint64_t i = 0; i < count; ++i) {
            if (!r.f64(levels[h][i])) {
                return false;
            }
        }
        size += count;
        weight += count << h;
    }
    if (weight != n) {
        return false;
    }
    k_ = static_cast<int>(k);
    n_ = n;
    compactions_ = compactions;
    min_ = lo;
    max_ = hi;
    size_ = size;
    levels_ = std::move(levels);
    update_capacities();
    return true;
}

}  // namespace eddy
