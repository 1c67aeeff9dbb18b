// SPDX-License-Identifier: Apache-2.0
// SHA-256 (FIPS 180-4), streaming, with no allocation: the hash behind
// ab_assign's assignments. Its own code rather than OpenSSL's EVP interface,
// which on OpenSSL 3.0 allocates in every digest it starts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace eddy::ab_assign {

class Sha256 {
public:
    Sha256() { reset(); }
    /// Starts a new message.
    void reset();
    void update(std::string_view bytes);
    /// The digest of everything given since reset(); the hash must be reset to be reused.
    std::array<uint8_t, 32> finish();

private:
    void compress(const uint8_t* block);

    std::array<uint32_t, 8> state_{};
    std::array<uint8_t, 64> block_{};
    size_t used_ = 0;      ///< Bytes in block_.
    uint64_t length_ = 0;  ///< Bytes of the message so far.
};

}  // namespace eddy::ab_assign
