// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <array>
#include <cmath>
#include <memory>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "popularity/popularity.h"

namespace eddy {

struct PopularityModel::Impl {
    ItemIndex items;
    ItemIndex groups;  // group 0 is the global ranking (id "")
    std::array<std::atomic<ChunkedArray<double>*>, kMaxGroups> columns{};
    int64_t origin = kNoRecTime;  // t0 of the log-domain scores (atomic_ref)
    PrequentialCounts counts;
    /// Per group: what the last merge added from other processes (scale-out;
    /// touched only while no shard runs).
    std::vector<std::unique_ptr<ChunkedArray<double>>> merged;

    Impl() {
        bool created = false;
        groups.intern("", created, [this](uint32_t g) { make_column(g); });
    }
    ~Impl() {
        for (auto& c : columns) {
            delete c.load(std::memory_order_relaxed);
        }
    }
    void make_column(uint32_t g) {
        if (g < kMaxGroups) {
            columns[g].store(new ChunkedArray<double>(kNoScore), std::memory_order_release);
        }
    }
    ChunkedArray<double>* column(uint32_t g) const {
        return g < kMaxGroups ? columns[g].load(std::memory_order_acquire) : nullptr;
    }
};

PopularityModel::PopularityModel() : impl_(std::make_unique<Impl>()) {}
PopularityModel::~PopularityModel() = default;
PopularityModel::PopularityModel(PopularityModel&& other) noexcept
    : impl_(std::move(other.impl_)), half_life_ms_(other.half_life_ms_) {
    other.impl_ = std::make_unique<Impl>();
}
PopularityModel& PopularityModel::operator=(PopularityModel&& other) noexcept {
    std::swap(impl_, other.impl_);
    std::swap(half_life_ms_, other.half_life_ms_);
    return *this;
}

ItemIndex& PopularityModel::items() {
    return impl_->items;
}
const ItemIndex& PopularityModel::items() const {
    return impl_->items;
}
PrequentialCounts& PopularityModel::counts() {
    return impl_->counts;
}

uint32_t PopularityModel::group(std::string_view id) {
    if (uint32_t g = impl_->groups.find(id); g != ItemIndex::kNone) {
        return impl_->column(g) != nullptr ? g : kNoItem;
    }
    if (impl_->groups.size() >= kMaxGroups) {
        return kNoItem;
    }
    bool created = false;
    uint32_t g = impl_->groups.intern(id, created, [this](uint32_t i) { impl_->make_column(i); });
    return impl_->column(g) != nullptr ? g : kNoItem;
}

uint32_t PopularityModel::find_group(std::string_view id) const {
    uint32_t g = impl_->groups.find(id);
    return g != ItemIndex::kNone && impl_->column(g) != nullptr ? g : kNoItem;
}

std::string_view PopularityModel::group_id(uint32_t g) const {
    return impl_->groups.id(g);
}

void PopularityModel::add_item(uint32_t item) {
    impl_->column(0)->ensure(item);
}

const ChunkedArray<double>* PopularityModel::column(uint32_t group) const {
    return impl_->column(group);
}

namespace {

/// log2(2^a + 2^b), exact when one side is -inf.
double log2_add(double a, double b) {
    if (a < b) {
        std::swap(a, b);
    }
    if (b == PopularityModel::kNoScore) {
        return a;
    }
    return a + std::log1p(std::exp2(b - a)) * (1 / std::numbers::ln2);
}

/// log2(2^a - 2^b) for a >= b (a score without a part of it); kNoScore when
/// nothing is left.
double log2_sub(double a, double b) {
    if (b == PopularityModel::kNoScore) {
        return a;
    }
    if (a <= b) {
        return PopularityModel::kNoScore;
    }
    return a + std::log1p(-std::exp2(b - a)) * (1 / std::numbers::ln2);
}

/// A plain weighted count plus another (kNoScore: none).
double linear_add(double a, double b) {
    return a == PopularityModel::kNoScore ? b : b == PopularityModel::kNoScore ? a : a + b;
}

void add_to(ChunkedArray<double>& col, uint32_t item, double x, bool log_domain) {
    col.ensure(item);
    std::atomic_ref<double> s(col[item]);
    if (!log_domain) {
        double cur = s.load(std::memory_order_relaxed);
        if (cur == PopularityModel::kNoScore) {
            // First add: start from 0 (a CAS, as another shard may start it too).
            if (s.compare_exchange_strong(cur, x, std::memory_order_relaxed)) {
                return;
            }
        }
        s.fetch_add(x, std::memory_order_relaxed);
        return;
    }
    double cur = s.load(std::memory_order_relaxed);
    while (!s.compare_exchange_weak(cur, log2_add(cur, x), std::memory_order_relaxed)) {
    }
}

}  // namespace

void PopularityModel::add(uint32_t group, uint32_t item, double w, int64_t t, double half_life_ms) {
    double x = w;
    bool log_domain = half_life_ms > 0;
    if (log_domain) {
        std::atomic_ref<int64_t> origin(impl_->origin);
        int64_t t0 = origin.load(std::memory_order_relaxed);
        if (t0 == kNoRecTime) {
            // The first event sets the origin; a shard that loses the race reads the winner's.
            int64_t expected = kNoRecTime;
            origin.compare_exchange_strong(expected, t, std::memory_order_relaxed);
            t0 = expected == kNoRecTime ? t : expected;
        }
        x = std::log2(w) + static_cast<double>(t - t0) / half_life_ms;
    }
    add_to(*impl_->column(0), item, x, log_domain);
    if (group != 0) {
        add_to(*impl_->column(group), item, x, log_domain);
    }
}

double PopularityModel::stored(uint32_t group, uint32_t item) const {
    const ChunkedArray<double>* col = impl_->column(group);
    if (col == nullptr || !col->has(item)) {
        return kNoScore;
    }
    return std::atomic_ref<double>(const_cast<double&>((*col)[item]))
        .load(std::memory_order_relaxed);
}

double PopularityModel::decayed(double stored, int64_t now, double half_life_ms) const {
    if (half_life_ms <= 0) {
        return stored;
    }
    int64_t t0 = std::atomic_ref<int64_t>(impl_->origin).load(std::memory_order_relaxed);
    return std::exp2(stored - static_cast<double>(now - t0) / half_life_ms);
}

double PopularityModel::own_part(uint32_t group, uint32_t item) const {
    double total = stored(group, item);
    const auto& merged = impl_->merged;
    if (group >= merged.size() || merged[group] == nullptr || !merged[group]->has(item)) {
        return total;
    }
    double added = (*merged[group])[item];
    // A model with decay has an origin once it has a score (a decoded
    // peer's half-life is not known here).
    if (impl_->origin != kNoRecTime) {
        return log2_sub(total, added);
    }
    if (added == kNoScore) {
        return total;
    }
    return total != kNoScore && total - added > 0 ? total - added : kNoScore;
}

namespace {

/// The number of scored items, then (index delta, score) pairs.
void encode_scores(const std::vector<std::pair<uint32_t, double>>& scored, StateWriter& w) {
    w.varint(scored.size());
    uint32_t last = 0;
    for (const auto& [i, s] : scored) {
        w.varint(i - last);
        w.f64(s);
        last = i;
    }
}

}  // namespace

// Layout: origin, counts, item ids, group ids, then per group the scored
// items (encode_scores); version 2 adds per group the merged part likewise.
void PopularityModel::encode(StateWriter& w, uint8_t version) const {
    w.i64(impl_->origin);
    impl_->counts.encode(w);
    impl_->items.encode(w);
    impl_->groups.encode(w);
    uint32_t groups = std::min(impl_->groups.size(), kMaxGroups);
    std::vector<std::pair<uint32_t, double>> scored;
    for (uint32_t g = 0; g < groups; ++g) {
        scored.clear();
        scan(g, [&scored](uint32_t i, double s) { scored.emplace_back(i, s); });
        encode_scores(scored, w);
    }
    if (version < 2) {
        return;
    }
    const uint32_t items = impl_->items.size();
    for (uint32_t g = 0; g < groups; ++g) {
        scored.clear();
        if (g < impl_->merged.size() && impl_->merged[g] != nullptr) {
            const ChunkedArray<double>& col = *impl_->merged[g];
            for (uint32_t i = 0; i < items; ++i) {
                if (col.has(i) && col[i] != kNoScore) {
                    scored.emplace_back(i, col[i]);
                }
            }
        }
        encode_scores(scored, w);
    }
}

void Merge<PopularityModel>::merge(PopularityModel& own,
                                   std::span<const PopularityModel* const> peers) {
    PopularityModel::Impl& impl = *own.impl_;
    const double half_life = own.half_life_ms_;
    const bool log_domain = half_life > 0;
    constexpr double kNoScore = PopularityModel::kNoScore;
    // The others' own parts, by this model's group and item.
    std::vector<std::unique_ptr<ChunkedArray<double>>> next;
    for (const PopularityModel* peer : peers) {
        const PopularityModel::Impl& theirs = *peer->impl_;
        // A model with decay has an origin once it has a score.
        if (log_domain != (theirs.origin != kNoRecTime)) {
            continue;
        }
        if (log_domain && impl.origin == kNoRecTime) {
            impl.origin = theirs.origin;  // no event here yet: take theirs
        }
        const double shift =
            log_domain ? static_cast<double>(theirs.origin - impl.origin) / half_life : 0;
        const uint32_t groups = std::min(theirs.groups.size(), PopularityModel::kMaxGroups);
        for (uint32_t g = 0; g < groups; ++g) {
            uint32_t h = own.group(theirs.groups.id(g));
            if (h == kNoItem) {
                continue;  // this model has kMaxGroups groups
            }
            if (next.size() <= h) {
                next.resize(h + 1);
            }
            if (next[h] == nullptr) {
                next[h] = std::make_unique<ChunkedArray<double>>(kNoScore);
            }
            ChunkedArray<double>& sums = *next[h];
            peer->scan(g, [&](uint32_t i, double) {
                double part = peer->own_part(g, i);
                if (part == kNoScore) {
                    return;
                }
                bool created = false;
                uint32_t j = impl.items.intern(theirs.items.id(i), created,
                                               [&own](uint32_t k) { own.add_item(k); });
                if (j == ItemIndex::kNone) {
                    return;
                }
                sums.ensure(j);
                sums[j] = log_domain ? log2_add(sums[j], part + shift) : linear_add(sums[j], part);
            });
        }
    }
    // Every score becomes its own part plus the others' current parts.
    const uint32_t groups = std::min(impl.groups.size(), PopularityModel::kMaxGroups);
    const uint32_t items = impl.items.size();
    for (uint32_t h = 0; h < groups; ++h) {
        ChunkedArray<double>* col = impl.column(h);
        const bool had = h < impl.merged.size() && impl.merged[h] != nullptr;
        const ChunkedArray<double>* add = h < next.size() ? next[h].get() : nullptr;
        if (col == nullptr || (!had && add == nullptr)) {
            continue;
        }
        for (uint32_t j = 0; j < items; ++j) {
            double part = own.own_part(h, j);
            double extra = add != nullptr && add->has(j) ? (*add)[j] : kNoScore;
            double total = log_domain ? log2_add(part, extra) : linear_add(part, extra);
            if (total == kNoScore && !col->has(j)) {
                continue;
            }
            col->ensure(j);
            (*col)[j] = total;
        }
    }
    impl.merged = std::move(next);
}

void PopularityModel::to_json(JsonWriter& j) const {
    j.begin_object();
    j.key("origin");
    if (impl_->origin == kNoRecTime) {
        j.value(nullptr);
    } else {
        j.value(impl_->origin);
    }
    counts_to_json(impl_->counts, j);
    j.field("items", impl_->items.size()).key("groups").begin_array();
    for (uint32_t g = 1; g < impl_->groups.size(); ++g) {
        item_id_to_json(impl_->groups.id(g), j);
    }
    j.end_array().key("top").begin_array();
    TopN top;
    top.reset(100);
    scan(0, [&top](uint32_t i, double s) { top.offer(s, i); });
    for (const TopN::Entry& e : top.sorted()) {
        j.begin_object().key("item");
        item_id_to_json(impl_->items.id(e.item), j);
        j.field("stored_score", e.score).end_object();
    }
    j.end_array().end_object();
}

bool PopularityModel::decode(StateReader& r, uint8_t version) {
    impl_ = std::make_unique<Impl>();
    r.i64(impl_->origin);
    impl_->counts.decode(r);
    uint64_t n = 0;
    if (!r.varint(n) || n > ChunkedArray<double>::kCapacity) {
        return false;
    }
    std::string id;
    for (uint64_t i = 0; i < n; ++i) {
        if (!r.str(id) || impl_->items.find(id) != ItemIndex::kNone) {
            return false;
        }
        impl_->items.add_restored(id);
    }
    uint64_t groups = 0;
    if (!r.varint(groups) || groups == 0 || groups > kMaxGroups) {
        return false;
    }
    for (uint64_t g = 0; g < groups; ++g) {
        if (!r.str(id)) {
            return false;
        }
        if (g > 0) {
            impl_->groups.add_restored(id);
            impl_->make_column(static_cast<uint32_t>(g));
        }
    }
    auto read_scores = [&](ChunkedArray<double>& col) {
        uint64_t count = 0;
        if (!r.varint(count) || count > n) {
            return false;
        }
        uint64_t item = 0;
        for (uint64_t k = 0; k < count; ++k) {
            uint64_t delta = 0;
            double s = 0;
            r.varint(delta);
            r.f64(s);
            item += delta;
            if (!r.ok() || item >= n) {
                return false;
            }
            col.ensure(static_cast<uint32_t>(item));
            col[static_cast<uint32_t>(item)] = s;
        }
        return true;
    };
    for (uint64_t g = 0; g < groups; ++g) {
        if (!read_scores(*impl_->column(static_cast<uint32_t>(g)))) {
            return false;
        }
    }
    if (version >= 2) {
        impl_->merged.resize(groups);
        for (uint64_t g = 0; g < groups; ++g) {
            auto col = std::make_unique<ChunkedArray<double>>(kNoScore);
            if (!read_scores(*col)) {
                return false;
            }
            impl_->merged[g] = std::move(col);
        }
    }
    for (uint32_t i = 0; i < n; ++i) {
        impl_->column(0)->ensure(i);
    }
    return r.ok();
}

}  // namespace eddy
