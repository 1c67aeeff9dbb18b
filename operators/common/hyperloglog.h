// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "eddy/codec.h"
#include "eddy/value.h"

namespace eddy {

/// A stable 64-bit hash of `bytes` (MurmurHash64A), the same on every run and
/// machine, so that sketches can be stored and merged across restarts.
uint64_t hash_bytes(const void* bytes, size_t size, uint64_t seed = 0);

/// A stable 64-bit hash of a field value for distinct counting. Strings hash
/// their bytes; an int and a double with the same integral value (5 and 5.0)
/// hash alike; "5" and 5 differ. Null hashes to a fixed value (callers skip it).
uint64_t hash_value(const Value& value);

/// A HyperLogLog distinct-count sketch (Flajolet et al. 2007) with Ertl's
/// improved estimator (2017), which needs no empirical bias tables and is
/// accurate from 0 to billions. 2^precision registers of 6 bits; the standard
/// error is 1.04 / sqrt(2^precision): 0.81% at the default precision 14.
///
/// Small sketches are sparse: a sorted list of (register, rank) entries that
/// becomes the dense register array once it would exceed 1/8 of its size, so a
/// per-key, per-pane sketch of a few values costs a few bytes. Sketches with
/// the same precision merge losslessly. Not thread-safe; one owner at a time.
class HyperLogLog {
public:
    static constexpr int kDefaultPrecision = 14;
    static constexpr int kMinPrecision = 4;
    static constexpr int kMaxPrecision = 18;

    /// `precision` is clamped to [kMinPrecision, kMaxPrecision].
    explicit HyperLogLog(int precision = kDefaultPrecision);

    /// Adds one item by its 64-bit hash (see hash_value()).
    void add_hash(uint64_t hash);
    void add(const Value& value) { add_hash(hash_value(value)); }
    /// Adds everything `other` has seen; false (and no change) when the
    /// precisions differ.
    bool merge(const HyperLogLog& other);
    /// The estimated number of distinct items added; 0 when empty.
    double estimate() const;

    bool empty() const { return dense_.empty() && sparse_.empty(); }
    /// Forgets everything, keeping allocated memory for reuse.
    void clear();
    int precision() const { return p_; }
    bool is_sparse() const { return dense_.empty(); }

    void encode(StateWriter& w) const;
    /// Replaces this sketch with the decoded one; false on malformed input.
    bool decode(StateReader& r);
    /// An object: precision, representation (sparse or dense), the number of
    /// non-zero registers and the estimated distinct count.
    void to_json(JsonWriter& j) const;

private:
    size_t registers() const { return size_t{1} << p_; }
    size_t sparse_limit() const { return registers() / 8; }
    void set_register(uint32_t index, uint8_t rank);
    void to_dense();

    int p_;
    std::vector<uint32_t> sparse_;  // (index << 8 | rank), sorted by index, unique index
    std::vector<uint8_t> dense_;    // 2^p ranks; empty while sparse
};

template <>
struct Codec<HyperLogLog> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const HyperLogLog& h, StateWriter& w) { h.encode(w); }
    static bool decode(StateReader& r, uint8_t, HyperLogLog& h) { return h.decode(r); }
    static void to_json(const HyperLogLog& h, JsonWriter& j) { h.to_json(j); }
};

}  // namespace eddy
