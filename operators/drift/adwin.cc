// SPDX-License-Identifier: Apache-2.0
#include "drift/adwin.h"

#include <algorithm>
#include <cmath>

namespace eddy {

bool Adwin::add(double x, const AdwinParams& params, AdwinChange& change) {
    if (rows_.empty()) {
        rows_.emplace_back();
    }
    Row& first = rows_[0];
    first.total[static_cast<size_t>(first.count)] = x;
    first.m2[static_cast<size_t>(first.count)] = 0;
    ++first.count;
    double old_mean = mean();
    ++width_;
    total_ += x;
    m2_ += (x - old_mean) * (x - mean());
    compress();
    if (++ticks_ % std::max<int64_t>(1, params.check_every) != 0 || width_ < 2 * params.min_side) {
        return false;
    }
    return cut(params, change);
}

void Adwin::compress() {
    for (size_t i = 0; i < rows_.size() && rows_[i].count > kPerRow; ++i) {
        Row& row = rows_[i];
        double n = std::ldexp(1.0, static_cast<int>(i));
        double d = (row.total[0] - row.total[1]) / n;
        double total = row.total[0] + row.total[1];
        double m2 = row.m2[0] + row.m2[1] + n / 2 * d * d;
        for (int b = 2; b < row.count; ++b) {
            row.total[static_cast<size_t>(b - 2)] = row.total[static_cast<size_t>(b)];
            row.m2[static_cast<size_t>(b - 2)] = row.m2[static_cast<size_t>(b)];
        }
        row.count -= 2;
        if (i + 1 == rows_.size()) {
            rows_.emplace_back();  // invalidates `row`
        }
        Row& next = rows_[i + 1];
        next.total[static_cast<size_t>(next.count)] = total;
        next.m2[static_cast<size_t>(next.count)] = m2;
        ++next.count;
    }
}

// Finds the split with the largest margin |mean1 - mean0| - eps over the
// bound and drops everything older than it, then looks again: a step in the
// mean is cut once, near the step, instead of one bucket at a time.
bool Adwin::cut(const AdwinParams& params, AdwinChange& change) {
    const int64_t width_before = width_;
    const double total_before = total_;
    bool any = false;
    const auto min_side = static_cast<double>(params.min_side);
    while (width_ >= 2 * params.min_side) {
        const auto w = static_cast<double>(width_);
        const double v = variance();
        const double dd = std::log(2 * std::log(w) / params.delta);
        double n0 = 0;
        double s0 = 0;
        double best_margin = 0;
        double best_n0 = 0;
        for (size_t i = rows_.size(); i-- > 0;) {
            const Row& row = rows_[i];
            const double size = std::ldexp(1.0, static_cast<int>(i));
            for (int b = 0; b < row.count; ++b) {
                n0 += size;
                s0 += row.total[static_cast<size_t>(b)];
                const double n1 = w - n0;
                if (n1 < min_side) {
                    break;
                }
                if (n0 < min_side) {
                    continue;
                }
                const double m = 1 / n0 + 1 / n1;
                const double eps = std::sqrt(2 * m * v * dd) + 2.0 / 3.0 * dd * m;
                const double diff = (total_ - s0) / n1 - s0 / n0;
                if (std::abs(diff) - eps > best_margin) {
                    best_margin = std::abs(diff) - eps;
                    best_n0 = n0;
                    if (!any) {
                        change.threshold = eps;
                        change.difference = diff;
                    }
                }
            }
        }
        if (best_n0 == 0) {
            break;
        }
        any = true;
        for (double dropped = 0; dropped < best_n0 && width_ > 0;) {
            dropped += drop_oldest();
        }
    }
    if (any) {
        change.dropped = width_before - width_;
        change.after = mean();
        change.before = (total_before - total_) / static_cast<double>(change.dropped);
    }
    return any;
}

double Adwin::drop_oldest() {
    while (!rows_.empty() && rows_.back().count == 0) {
        rows_.pop_back();
    }
    if (rows_.empty()) {
        return 0;
    }
    const size_t i = rows_.size() - 1;
    Row& row = rows_[i];
    const double n = std::ldexp(1.0, static_cast<int>(i));
    const double t = row.total[0];
    const double m2 = row.m2[0];
    for (int b = 1; b < row.count; ++b) {
        row.total[static_cast<size_t>(b - 1)] = row.total[static_cast<size_t>(b)];
        row.m2[static_cast<size_t>(b - 1)] = row.m2[static_cast<size_t>(b)];
    }
    --row.count;
    const double rest = static_cast<double>(width_) - n;
    if (rest <= 0) {
        reset();
        return n;
    }
    const double rest_mean = (total_ - t) / rest;
    const double d = t / n - rest_mean;
    m2_ = std::max(0.0, m2_ - m2 - n * rest / static_cast<double>(width_) * d * d);
    total_ -= t;
    width_ = static_cast<int64_t>(rest);
    while (!rows_.empty() && rows_.back().count == 0) {
        rows_.pop_back();
    }
    return n;
}

void Codec<Adwin>::encode(const Adwin& a, StateWriter& w) {
    w.i64(a.width_);
    w.f64(a.total_);
    w.f64(a.m2_);
    w.i64(a.ticks_);
    w.varint(a.rows_.size());
    for (const Adwin::Row& row : a.rows_) {
        w.varint(static_cast<uint64_t>(row.count));
        for (int b = 0; b < row.count; ++b) {
            w.f64(row.total[static_cast<size_t>(b)]);
            w.f64(row.m2[static_cast<size_t>(b)]);
        }
    }
}

bool Codec<Adwin>::decode(StateReader& r, uint8_t, Adwin& a) {
    uint64_t rows = 0;
    if (!r.i64(a.width_) || !r.f64(a.total_) || !r.f64(a.m2_) || !r.i64(a.ticks_) ||
        !r.varint(rows) || rows > 64) {
        return false;
    }
    a.rows_.assign(rows, Adwin::Row{});
    for (Adwin::Row& row : a.rows_) {
        uint64_t count = 0;
        if (!r.varint(count) || count > Adwin::kPerRow) {
            return false;
        }
        row.count = static_cast<int>(count);
        for (size_t b = 0; b < count; ++b) {
            r.f64(row.total[b]);
            r.f64(row.m2[b]);
        }
    }
    return r.ok();
}

void Codec<Adwin>::to_json(const Adwin& a, JsonWriter& j) {
    j.begin_object()
        .field("width", a.width())
        .field("mean", a.mean())
        .field("variance", a.variance())
        .field("buckets", static_cast<int64_t>(a.rows_.size()))
        .end_object();
}

}  // namespace eddy
