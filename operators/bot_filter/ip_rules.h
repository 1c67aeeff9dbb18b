// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::bot_filter {

/// An IPv4 or IPv6 address as 128 bits; IPv4 is stored IPv4-mapped
/// (::ffff:a.b.c.d), so IPv4 ranges also match IPv4-mapped IPv6 addresses.
struct IpAddress {
    uint64_t hi = 0;
    uint64_t lo = 0;
};

/// Parses dotted IPv4 or any RFC 4291 IPv6 text; nullopt when it is neither.
/// Allocation-free (hot path).
std::optional<IpAddress> parse_ip(std::string_view text);

/// A range `address/prefix`; a bare address is a single-address range.
struct Cidr {
    IpAddress network;
    IpAddress mask;
    std::string text;  ///< As written, for `bot_rule`.
};

/// Parses `10.0.0.0/8`, `2001:db8::/32` or `203.0.113.7`. On failure returns
/// nullopt and sets `error` to a sentence (bad address, prefix out of range,
/// host bits set, with the corrected range as a hint).
std::optional<Cidr> parse_cidr(std::string_view text, std::string& error);

/// An ordered list of ranges; find() returns the first range holding an address.
class CidrList {
public:
    void add(Cidr c) { ranges_.push_back(std::move(c)); }
    bool empty() const { return ranges_.empty(); }
    size_t size() const { return ranges_.size(); }
    const Cidr& at(size_t i) const { return ranges_[i]; }
    /// Index of the first range containing `ip`, or -1. Linear: meant for
    /// lists of up to a few hundred ranges.
    int find(const IpAddress& ip) const {
        for (size_t i = 0; i < ranges_.size(); ++i) {
            const Cidr& c = ranges_[i];
            if ((ip.hi & c.mask.hi) == c.network.hi && (ip.lo & c.mask.lo) == c.network.lo) {
                return static_cast<int>(i);
            }
        }
        return -1;
    }

private:
    std::vector<Cidr> ranges_;
};

}  // namespace eddy::bot_filter
