// SPDX-License-Identifier: Apache-2.0
#include "common/hyperloglog.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace eddy {
namespace {

constexpr uint64_t kMurmurM = 0xc6a4a7935bd1e995ULL;
constexpr int kMurmurR = 47;

// Seeds keep values of different types apart ("1" vs 1 vs true).
constexpr uint64_t kSeedString = 0x9e3779b97f4a7c15ULL;
constexpr uint64_t kSeedInt = 0xbf58476d1ce4e5b9ULL;
constexpr uint64_t kSeedDouble = 0x94d049bb133111ebULL;
constexpr uint64_t kSeedBool = 0x2545f4914f6cdd1dULL;
constexpr uint64_t kSeedVector = 0x7fb5d329728ea185ULL;
constexpr uint64_t kSeedNull = 0x81dadef4bc2dd44dULL;

uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

// Ertl (2017), "New cardinality estimation algorithms for HyperLogLog
// sketches", equations for sigma and tau, as in Redis.
double sigma(double x) {
    if (x == 1.0) {
        return std::numeric_limits<double>::infinity();
    }
    double y = 1.0;
    double z = x;
    double previous = 0;
    do {
        x *= x;
        previous = z;
        z += x * y;
        y += y;
    } while (z != previous);
    return z;
}

double tau(double x) {
    if (x == 0.0 || x == 1.0) {
        return 0.0;
    }
    double y = 1.0;
    double z = 1.0 - x;
    double previous = 0;
    do {
        x = std::sqrt(x);
        previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
    } while (z != previous);
    return z / 3.0;
}

}  // namespace

uint64_t hash_bytes(const void* bytes, size_t size, uint64_t seed) {
    const auto* data = static_cast<const unsigned char*>(bytes);
    uint64_t h = seed ^ (size * kMurmurM);
    const unsigned char* end = data + (size / 8) * 8;
    for (; data != end; data += 8) {
        uint64_t k = 0;
        std::memcpy(&k, data, 8);
        k *= kMurmurM;
        k ^= k >> kMurmurR;
        k *= kMurmurM;
        h ^= k;
        h *= kMurmurM;
    }
    size_t rest = size & 7;
    if (rest > 0) {
        for (size_t i = rest; i-- > 0;) {
            h ^= static_cast<uint64_t>(data[i]) << (8 * i);
        }
        h *= kMurmurM;
    }
    h ^= h >> kMurmurR;
    h *= kMurmurM;
    h ^= h >> kMurmurR;
    return h;
}

uint64_t hash_value(const Value& value) {
    switch (value.type()) {
        case ValueType::kString: {
            std::string_view s = value.as_string();
            return hash_bytes(s.data(), s.size(), kSeedString);
        }
        case ValueType::kInt:
            return mix64(static_cast<uint64_t>(value.as_int()) ^ kSeedInt);
        case ValueType::kDouble: {
            double d = value.as_double();
            // Integral doubles in int64 range hash like the int (5.0 == 5).
            if (d == std::trunc(d) && d >= -9.2e18 && d <= 9.2e18) {
                return mix64(static_cast<uint64_t>(static_cast<int64_t>(d)) ^ kSeedInt);
            }
            return mix64(std::bit_cast<uint64_t>(d) ^ kSeedDouble);
        }
        case ValueType::kBool:
            return mix64(static_cast<uint64_t>(value.as_bool()) ^ kSeedBool);
        case ValueType::kVector: {
            auto v = value.as_vector();
            return hash_bytes(v.data(), v.size_bytes(), kSeedVector);
        }
        case ValueType::kNull:
            break;
    }
    return mix64(kSeedNull);
}

HyperLogLog::HyperLogLog(int precision) : p_(std::clamp(precision, kMinPrecision, kMaxPrecision)) {}

void HyperLogLog::add_hash(uint64_t hash) {
    auto index = static_cast<uint32_t>(hash >> (64 - p_));
    uint64_t rest = hash << p_;
    int q = 64 - p_;
    auto rank = static_cast<uint8_t>(rest == 0 ? q + 1 : std::countl_zero(rest) + 1);
    set_register(index, rank);
}

void HyperLogLog::set_register(uint32_t index, uint8_t rank) {
    if (!dense_.empty()) {
        dense_[index] = std::max(dense_[index], rank);
        return;
    }
    uint32_t entry = index << 8 | rank;
    auto it = std::lower_bound(sparse_.begin(), sparse_.end(), index << 8);
    if (it != sparse_.end() && (*it >> 8) == index) {
        *it = std::max(*it, entry);
        return;
    }
    sparse_.insert(it, entry);
    if (sparse_.size() > sparse_limit()) {
        to_dense();
    }
}

void HyperLogLog::to_dense() {
    dense_.assign(registers(), 0);
    for (uint32_t e : sparse_) {
        dense_[e >> 8] = static_cast<uint8_t>(e & 0xff);
    }
    sparse_.clear();
}

bool HyperLogLog::merge(const HyperLogLog& other) {
    if (other.p_ != p_) {
        return false;
    }
    if (!other.dense_.empty()) {
        if (dense_.empty()) {
            to_dense();
        }
        for (size_t i = 0; i < dense_.size(); ++i) {
            dense_[i] = std::max(dense_[i], other.dense_[i]);
        }
        return true;
    }
    for (uint32_t e : other.sparse_) {
        set_register(e >> 8, static_cast<uint8_t>(e & 0xff));
    }
    return true;
}

double HyperLogLog::estimate() const {
    int q = 64 - p_;
    std::array<uint32_t, 66> histogram{};
    double m = static_cast<double>(registers());
    if (dense_.empty()) {
        histogram[0] = static_cast<uint32_t>(registers() - sparse_.size());
        for (uint32_t e : sparse_) {
            ++histogram[e & 0xff];
        }
    } else {
        for (uint8_t r : dense_) {
            ++histogram[r];
        }
    }
    double z = m * tau((m - histogram[static_cast<size_t>(q + 1)]) / m);
    for (int k = q; k >= 1; --k) {
        z += histogram[static_cast<size_t>(k)];
        z *= 0.5;
    }
    z += m * sigma(histogram[0] / m);
    constexpr double kAlphaInf = 0.721347520444481703680;  // 1 / (2 ln 2)
    return kAlphaInf * m * m / z;
}

void HyperLogLog::clear() {
    sparse_.clear();
    dense_.clear();
}

void HyperLogLog::encode(StateWriter& w) const {
    w.u8(static_cast<uint8_t>(p_));
    if (dense_.empty()) {
        w.u8(0);
        w.varint(sparse_.size());
        uint32_t previous = 0;
        for (uint32_t e : sparse_) {
            w.varint((e >> 8) - previous);  // indices ascend: small deltas
            w.u8(static_cast<uint8_t>(e & 0xff));
            previous = e >> 8;
        }
        return;
    }
    w.u8(1);
    w.str(std::string_view(reinterpret_cast<const char*>(dense_.data()), dense_.size()));
}

void HyperLogLog::to_json(JsonWriter& j) const {
    size_t set = dense_.empty()
                     ? sparse_.size()
                     : static_cast<size_t>(std::count_if(dense_.begin(), dense_.end(),
                                                         [](uint8_t v) { return v != 0; }));
    j.begin_object()
        .field("precision", p_)
        .field("representation", is_sparse() ? "sparse" : "dense")
        .field("registers_set", set)
        .field("estimate", estimate())
        .end_object();
}

bool HyperLogLog::decode(StateReader& r) {
    uint8_t p = 0;
    uint8_t mode = 0;
    if (!r.u8(p) || !r.u8(mode) || p < kMinPrecision || p > kMaxPrecision || mode > 1) {
        return false;
    }
    p_ = p;
    clear();
    auto max_rank = static_cast<uint8_t>(64 - p_ + 1);
    if (mode == 1) {
        std::string bytes;
        if (!r.str(bytes) || bytes.size() != registers()) {
            return false;
        }
        dense_.assign(bytes.begin(), bytes.end());
        return std::all_of(dense_.begin(), dense_.end(), [&](uint8_t v) { return v <= max_rank; });
    }
    uint64_t n = 0;
    if (!r.varint(n) || n > sparse_limit()) {
        return false;
    }
    sparse_.reserve(n);
    uint64_t index = 0;
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t delta = 0;
        uint8_t rank = 0;
        if (!r.varint(delta) || !r.u8(rank)) {
            return false;
        }
        index += delta;
        if ((i > 0 && delta == 0) || index >= registers() || rank == 0 || rank > max_rank) {
            return false;
        }
        sparse_.push_back(static_cast<uint32_t>(index) << 8 | rank);
    }
    return true;
}

}  // namespace eddy
