// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "eddy/codec.h"

namespace eddy {

/// A mergeable KLL quantile sketch (Karnin, Lang, Liberty 2016) over doubles.
///
/// Values go into a stack of compactors; level h holds items of weight 2^h.
/// When the sketch is over capacity, the lowest full level is sorted and every
/// other item (odd or even positions) is promoted to the next level. Up to k
/// values the sketch is exact; beyond, the rank error is about 1.7/k (about 1%
/// at the default k = 200) and memory stays O(k) items.
///
/// Deterministic: the odd/even choice comes from a hash of the number of
/// compactions done so far (kept in the encoding), so replaying the same
/// values in the same order, or restoring from an encoding and continuing,
/// gives bit-identical results. NaN inputs are ignored.
/// Not thread-safe; one owner at a time.
class QuantileSketch {
public:
    /// `k` sets accuracy and size (clamped to [8, 65535]).
    explicit QuantileSketch(int k = 200);

    void add(double v);
    /// Adds everything `other` has seen. Both must have the same k; a sketch
    /// with another k is merged item by item with its weights (still correct).
    void merge(const QuantileSketch& other);

    /// The smallest seen value x with rank(x) >= q (q clamped to [0, 1]):
    /// quantile(0) is the minimum, quantile(1) the maximum, and with n exact
    /// values sorted x_1..x_n it is x_max(1, ceil(q * n)). NaN when empty.
    double quantile(double q) const;
    /// quantile(qs[i]) into out[i] for every i, sorting the items once.
    void quantiles(std::span<const double> qs, std::span<double> out) const;
    /// The fraction of seen values <= v; 0 when empty.
    double rank(double v) const;
    /// Number of values seen (including through merges).
    uint64_t count() const { return n_; }
    int k() const { return k_; }
    /// Number of stored items (for tests of the memory bound).
    size_t retained() const;

    void encode(StateWriter& w) const;
    /// Replaces this sketch with the decoded one; false on malformed input.
    bool decode(StateReader& r);
    /// An object: k, count, min, max, compactions, retained, the quantiles
    /// p25/p50/p75/p90/p99 and, while at most kJsonItems items are retained,
    /// the items themselves per level (an item of level h weighs 2^h).
    void to_json(JsonWriter& j) const;
    static constexpr size_t kJsonItems = 64;

private:
    void update_capacities();
    void compress();
    void compact_level(size_t level);
    void add_weighted(double v, size_t level);

    int k_;
    uint64_t n_ = 0;
    uint64_t compactions_ = 0;
    double min_ = 0;
    double max_ = 0;
    size_t size_ = 0;  // items retained over all levels
    std::vector<std::vector<double>> levels_;
    std::vector<size_t> capacities_;  // per level, derived from k_ and levels_.size()
    size_t max_size_ = 0;             // sum of capacities_
    // quantiles(): the items with their weights, kept to reuse the memory.
    mutable std::vector<std::pair<double, uint64_t>> weighted_;
};

template <>
struct Codec<QuantileSketch> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const QuantileSketch& s, StateWriter& w) { s.encode(w); }
    static bool decode(StateReader& r, uint8_t, QuantileSketch& s) { return s.decode(r); }
    static void to_json(const QuantileSketch& s, JsonWriter& j) { s.to_json(j); }
};

}  // namespace eddy
