// SPDX-License-Identifier: Apache-2.0
#include "eddy/arena.h"

#include <string>

#include <gtest/gtest.h>

#include "eddy/record.h"

namespace eddy {
namespace {

TEST(ArenaTest, AfterResetTheSameLoadFitsInOneBlockWithoutAllocating) {
    Arena arena(1024);
    std::string text(300, 'x');
    for (int i = 0; i < 20; ++i) {
        arena.copy(text);
    }
    EXPECT_GT(arena.block_count(), 1u);
    arena.reset();
    EXPECT_EQ(arena.block_count(), 1u);
    size_t reserved = arena.reserved();
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 20; ++i) {
            arena.copy(text);
        }
        EXPECT_EQ(arena.block_count(), 1u);
        EXPECT_EQ(arena.reserved(), reserved);
        arena.reset();
    }
}

TEST(ArenaTest, CopiesStayValidUntilReset) {
    Arena arena(16);
    std::string_view a = arena.copy("hello");
    std::string_view b = arena.copy(std::string(100, 'y'));
    EXPECT_EQ(a, "hello");
    EXPECT_EQ(b, std::string(100, 'y'));
    EXPECT_EQ(arena.used(), 105u);
}

TEST(ArenaTest, FullBatchesStopAllocatingAfterTheFirst) {
    Batch batch;
    std::string payload(400, 'p');
    size_t reserved = 0;
    for (int round = 0; round < 4; ++round) {
        batch.clear();
        for (size_t i = 0; i < Batch::kDefaultCapacity; ++i) {
            batch.append().set(FieldId{0}, std::string_view(payload));
        }
        if (round == 1) {
            reserved = batch.arena().reserved();
        } else if (round > 1) {
            EXPECT_EQ(batch.arena().reserved(), reserved);
            EXPECT_EQ(batch.arena().block_count(), 1u);
        }
    }
}

}  // namespace
}  // namespace eddy
