// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "eddy/codec.h"
#include "eddy/spec.h"

#include "common/item_index.h"
#include "common/recommend.h"

namespace eddy {

/// The `item_similarity` operator's spec: incremental item-item cosine
/// similarity over each user's recent items, recommending the items most
/// similar to what the user just saw.
ComponentSpec item_similarity_spec();

/// An item's neighbour: its index and their co-occurrence count.
struct Neighbour {
    uint32_t item;
    uint32_t co;
};

/// Item-item co-occurrence shared by every shard (Shared<SimilarityModel>).
/// Per item (a row in chunked storage that never moves): its count c(i),
/// the co-occurrence counts c(i, j) with every item it met (an
/// open-addressing map), and up to K neighbours, the items j with the highest
/// cosine c(i, j) / sqrt(c(i) * c(j)) as last judged. A row changes as a unit
/// under its own spinlock, held for one event's updates to that row; counts
/// are read by other rows with relaxed atomic loads. The neighbour list is
/// kept incrementally (a pair whose count grows enters when it beats the
/// weakest neighbour) and rebuilt from all counts each time the row's
/// updates have doubled, since every c(j) keeps changing. Thread-safe except
/// encode/decode and moves, which the runtime calls while no shard runs.
class SimilarityModel {
public:
    SimilarityModel();
    ~SimilarityModel();
    SimilarityModel(SimilarityModel&& other) noexcept;
    SimilarityModel& operator=(SimilarityModel&& other) noexcept;

    ItemIndex& items();
    const ItemIndex& items() const;
    /// Prepares item i's row (called once when the item is added).
    void add_item(uint32_t item);
    /// The operator's K (`neighbours`), which merges keep per item too;
    /// set in open(), kept when a model is restored.
    void set_neighbours(size_t k);
    /// One event: c(item) += 1 and c(item, j) += 1 for each j in `recent`
    /// (distinct, without `item`), keeping at most `k` neighbours per row.
    void learn(uint32_t item, std::span<const uint32_t> recent, size_t k);
    /// c(item): this process's count plus, under scale-out, what the last
    /// merge added.
    uint64_t count(uint32_t item) const;
    /// c(item) from this process's events alone.
    uint64_t own_count(uint32_t item) const;
    /// Copies the item's neighbours into `out`; returns c(item). After a
    /// merge, the best K of this process's neighbours and the merged ones,
    /// each with both counts.
    uint64_t neighbours(uint32_t item, std::vector<Neighbour>& out) const;
    /// Distinct co-occurring pairs (each counted once per direction).
    uint64_t pairs() const;

    PrequentialCounts& counts();

    /// Version 1 leaves out the merged part (a model that is never merged,
    /// such as the recommend operator's).
    void encode(StateWriter& w, uint8_t version) const;
    bool decode(StateReader& r, uint8_t version);
    /// A summary: counts, and per item (the first 1,000) its count and
    /// neighbours (this process's own).
    void to_json(JsonWriter& j) const;

private:
    friend struct Merge<SimilarityModel>;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Scale-out (docs/scale-out.md, "Models"): c(i) and c(i, j) are sums over
/// events, so the processes' counts add up. A model keeps its own counts
/// apart from the merged ones, and each merge rebuilds the merged part from
/// the peers' own counts (items meet by id): an event counts once however
/// many merges pass. The merge keeps, per item, the merged c(i) and the K
/// pairs with the best cosine over both parts as they stand then, with
/// their merged c(i, j); neighbours() ranks this process's current
/// neighbours and those together. Prequential counts stay each process's.
/// The last model of a process that stopped publishing stays in.
template <>
struct Merge<SimilarityModel> {
    static constexpr bool kKeepDeparted = true;
    static void merge(SimilarityModel& own, std::span<const SimilarityModel* const> peers);
};

template <>
struct Codec<SimilarityModel> {
    static constexpr uint8_t kVersion = 2;  // 2: the merged part (scale-out) follows the rows
    static void encode(const SimilarityModel& m, StateWriter& w) { m.encode(w, kVersion); }
    static bool decode(StateReader& r, uint8_t version, SimilarityModel& m) {
        return m.decode(r, version);
    }
    static void to_json(const SimilarityModel& m, JsonWriter& j) { m.to_json(j); }
};

}  // namespace eddy
