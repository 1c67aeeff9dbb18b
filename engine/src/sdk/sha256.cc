// SPDX-License-Identifier: Apache-2.0
#include "eddy/sha256.h"

#include <algorithm>
#include <cstring>

namespace eddy {
namespace {

constexpr std::array<uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotr(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

}  // namespace

void Sha256::reset() {
    state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    used_ = 0;
    length_ = 0;
}

void Sha256::update(std::string_view bytes) {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t n = bytes.size();
    length_ += n;
    if (used_ > 0) {
        size_t take = std::min(n, block_.size() - used_);
        std::memcpy(block_.data() + used_, p, take);
        used_ += take;
        p += take;
        n -= take;
        if (used_ < block_.size()) {
            return;
        }
        compress(block_.data());
        used_ = 0;
    }
    for (; n >= 64; p += 64, n -= 64) {
        compress(p);
    }
    std::memcpy(block_.data(), p, n);
    used_ = n;
}

Sha256::Digest Sha256::finish() {
    uint64_t bits = length_ * 8;
    block_[used_++] = 0x80;
    if (used_ > 56) {
        std::memset(block_.data() + used_, 0, 64 - used_);
        compress(block_.data());
        used_ = 0;
    }
    std::memset(block_.data() + used_, 0, 56 - used_);
    for (int i = 0; i < 8; ++i) {
        block_[56 + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    }
    compress(block_.data());
    Digest digest;
    for (size_t i = 0; i < 8; ++i) {
        for (size_t b = 0; b < 4; ++b) {
            digest[4 * i + b] = static_cast<uint8_t>(state_[i] >> (24 - 8 * b));
        }
    }
    return digest;
}

void Sha256::compress(const uint8_t* block) {
    std::array<uint32_t, 64> w;
    for (size_t i = 0; i < 16; ++i) {
        w[i] = (uint32_t{block[4 * i]} << 24) | (uint32_t{block[4 * i + 1]} << 16) |
               (uint32_t{block[4 * i + 2]} << 8) | uint32_t{block[4 * i + 3]};
    }
    for (size_t i = 16; i < 64; ++i) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (size_t i = 0; i < 64; ++i) {
        uint32_t t1 =
            h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kRound[i] + w[i];
        uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
}

Sha256::Digest Sha256::of(std::string_view bytes) {
    Sha256 h;
    h.update(bytes);
    return h.finish();
}

HmacSha256::HmacSha256(std::string_view key) {
    std::array<uint8_t, 64> k{};
    if (key.size() > k.size()) {
        Sha256::Digest d = Sha256::of(key);
        std::memcpy(k.data(), d.data(), d.size());
    } else {
        std::memcpy(k.data(), key.data(), key.size());
    }
    std::array<char, 64> pad;
    for (size_t i = 0; i < k.size(); ++i) {
        pad[i] = static_cast<char>(k[i] ^ 0x36);
    }
    inner_.update(std::string_view(pad.data(), pad.size()));
    for (size_t i = 0; i < k.size(); ++i) {
        pad[i] = static_cast<char>(k[i] ^ 0x5c);
    }
    outer_.update(std::string_view(pad.data(), pad.size()));
}

Sha256::Digest HmacSha256::mac(std::string_view message) const {
    Sha256 inner = inner_;
    inner.update(message);
    Sha256::Digest d = inner.finish();
    Sha256 outer = outer_;
    outer.update(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
    return outer.finish();
}

void hex_digest(const Sha256::Digest& digest, size_t bytes, char* out) {
    constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < bytes && i < digest.size(); ++i) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 0xf];
    }
}

}  // namespace eddy
