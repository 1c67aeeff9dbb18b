// SPDX-License-Identifier: Apache-2.0
// The SDK's SHA-256 and HMAC-SHA256 against the published test vectors
// (FIPS 180-4 examples, RFC 4231).
#include "eddy/sha256.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

namespace eddy {
namespace {

std::string hex(const Sha256::Digest& d) {
    std::string out(64, '\0');
    hex_digest(d, d.size(), out.data());
    return out;
}

TEST(Sha256Test, StandardVectors) {
    EXPECT_EQ(hex(Sha256::of("")),
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex(Sha256::of("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // 56 bytes: the padding needs a second block.
    EXPECT_EQ(hex(Sha256::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, StreamingInUnevenPiecesEqualsOneShot) {
    // One million 'a' given in pieces of 1 to 97 bytes.
    Sha256 h;
    std::string piece;
    size_t given = 0;
    for (size_t n = 1; given < 1'000'000; n = n % 97 + 1) {
        size_t take = std::min(n, 1'000'000 - given);
        piece.assign(take, 'a');
        h.update(piece);
        given += take;
    }
    EXPECT_EQ(hex(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    h.reset();
    h.update("ab");
    h.update("c");
    EXPECT_EQ(hex(h.finish()), hex(Sha256::of("abc")));
}

TEST(Sha256Test, HmacRfc4231Vectors) {
    EXPECT_EQ(hex(HmacSha256(std::string(20, '\x0b')).mac("Hi There")),
              "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    EXPECT_EQ(hex(HmacSha256("Jefe").mac("what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // A key longer than a block is hashed first.
    HmacSha256 long_key(std::string(131, '\xaa'));
    EXPECT_EQ(hex(long_key.mac("Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    // The same object gives the same MAC again: mac() does not consume it.
    EXPECT_EQ(hex(long_key.mac("Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

}  // namespace
}  // namespace eddy
