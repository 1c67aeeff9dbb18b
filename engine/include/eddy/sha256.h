// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eddy {

/// SHA-256 (FIPS 180-4), streaming, allocating nothing: for stable hashes that
/// other systems can reproduce (experiment assignment, pseudonyms).
class Sha256 {
public:
    using Digest = std::array<uint8_t, 32>;

    Sha256() { reset(); }
    /// Starts a new message.
    void reset();
    void update(std::string_view bytes);
    /// The digest of everything given since reset(); reset() before reusing.
    Digest finish();
    /// The digest of one message.
    static Digest of(std::string_view bytes);

private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> state_{};
    std::array<uint8_t, 64> block_{};
    size_t used_ = 0;      ///< Bytes in block_.
    uint64_t length_ = 0;  ///< Bytes of the message so far.
};

/// HMAC-SHA256 (RFC 2104) under one key, set once: each mac() starts from
/// the hash states after the padded key, so it allocates nothing and costs
/// two SHA-256 runs over the message plus one block.
class HmacSha256 {
public:
    explicit HmacSha256(std::string_view key);
    Sha256::Digest mac(std::string_view message) const;

private:
    Sha256 inner_;
    Sha256 outer_;
};

/// Lower-case hexadecimal of `bytes` bytes of a digest into `out` (2 chars each).
void hex_digest(const Sha256::Digest& digest, size_t bytes, char* out);

}  // namespace eddy
