// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "eddy/codec.h"

namespace eddy {

/// Settings of an Adwin detector; kept out of its state so that a restored
/// detector uses the operator's current configuration.
struct AdwinParams {
    double delta = 0.0001;    ///< Confidence: smaller means fewer false alarms, later detection.
    int64_t min_side = 5;     ///< Fewest values on each side of a cut.
    int64_t check_every = 1;  ///< Look for a cut after every this many values.
};

/// What a detected change looked like: the means of the older part that was
/// dropped and of the recent part that was kept, and the bound that their
/// difference exceeded.
struct AdwinChange {
    double before = 0;      ///< Mean of the dropped (older) values.
    double after = 0;       ///< Mean of the kept (recent) values.
    double difference = 0;  ///< Recent minus older mean at the cut.
    double threshold = 0;   ///< The cut's epsilon (Bernstein bound).
    int64_t dropped = 0;    ///< Values dropped from the window.
};

/// ADWIN2 (Bifet and Gavalda, 2007): an adaptive window over a numeric
/// stream, kept as an exponential histogram of buckets (at most 5 per size
/// 2^i), so memory and time per value are O(log W). After a value is added
/// the window is cut wherever two sub-windows have means further apart than
/// eps = sqrt(2 m v ln(2 ln(W) / delta)) + 2/3 m ln(2 ln(W) / delta), with
/// m = 1/n0 + 1/n1 and v the window's variance (the bound river and MOA use).
/// A cut is a detected change. Not thread-safe; allocation only when the
/// window doubles.
class Adwin {
public:
    /// Adds `x`; returns true (and fills `change`) when the window was cut.
    bool add(double x, const AdwinParams& params, AdwinChange& change);
    /// Number of values in the window.
    int64_t width() const { return width_; }
    double mean() const { return width_ > 0 ? total_ / static_cast<double>(width_) : 0; }
    double variance() const { return width_ > 0 ? m2_ / static_cast<double>(width_) : 0; }
    void reset() { *this = Adwin(); }

    static constexpr int kPerRow = 5;

private:
    friend struct Codec<Adwin>;
    struct Row {
        std::array<double, kPerRow + 1> total{};  // sum of the bucket's values
        std::array<double, kPerRow + 1> m2{};     // sum of squared deviations from its mean
        int count = 0;                            // index 0 is the oldest bucket
    };
    void compress();
    bool cut(const AdwinParams& params, AdwinChange& change);
    double drop_oldest();  // returns the values dropped

    std::vector<Row> rows_;  // row i holds buckets of 2^i values; higher rows are older
    int64_t width_ = 0;
    double total_ = 0;
    double m2_ = 0;
    int64_t ticks_ = 0;
};

template <>
struct Codec<Adwin> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const Adwin& a, StateWriter& w);
    static bool decode(StateReader& r, uint8_t version, Adwin& a);
    static void to_json(const Adwin& a, JsonWriter& j);
    static size_t heap_bytes(const Adwin& a) { return heap_bytes_of(a.rows_); }
};

}  // namespace eddy
