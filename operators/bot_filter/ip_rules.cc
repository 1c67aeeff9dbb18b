// SPDX-License-Identifier: Apache-2.0
#include "bot_filter/ip_rules.h"

#include <charconv>
#include <cstring>

#include <arpa/inet.h>

namespace eddy::bot_filter {
namespace {

constexpr size_t kMaxIpText = 64;

uint64_t load_be64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) {
        v = (v << 8) | p[i];
    }
    return v;
}

IpAddress mask_of(int prefix) {
    IpAddress m;
    if (prefix >= 64) {
        m.hi = ~uint64_t{0};
        m.lo = prefix >= 128 ? ~uint64_t{0} : ~(~uint64_t{0} >> (prefix - 64));
    } else {
        m.hi = prefix == 0 ? 0 : ~(~uint64_t{0} >> prefix);
    }
    return m;
}

std::string format_ip(const IpAddress& ip) {
    unsigned char bytes[16];
    for (int i = 0; i < 8; ++i) {
        bytes[i] = static_cast<unsigned char>(ip.hi >> (56 - 8 * i));
        bytes[8 + i] = static_cast<unsigned char>(ip.lo >> (56 - 8 * i));
    }
    char buf[INET6_ADDRSTRLEN];
    const bool v4 = ip.hi == 0 && (ip.lo >> 32) == 0xffff;
    if (v4) {
        inet_ntop(AF_INET, bytes + 12, buf, sizeof buf);
    } else {
        inet_ntop(AF_INET6, bytes, buf, sizeof buf);
    }
    return buf;
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) {
    if (text.empty() || text.size() >= kMaxIpText) {
        return std::nullopt;
    }
    char buf[kMaxIpText];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    IpAddress ip;
    if (text.find(':') == std::string_view::npos) {
        unsigned char v4[4];
        if (inet_pton(AF_INET, buf, v4) != 1) {
            return std::nullopt;
        }
        ip.lo = (uint64_t{0xffff} << 32) | (uint64_t{v4[0]} << 24) | (uint64_t{v4[1]} << 16) |
                (uint64_t{v4[2]} << 8) | uint64_t{v4[3]};
        return ip;
    }
    unsigned char v6[16];
    if (inet_pton(AF_INET6, buf, v6) != 1) {
        return std::nullopt;
    }
    ip.hi = load_be64(v6);
    ip.lo = load_be64(v6 + 8);
    return ip;
}

std::optional<Cidr> parse_cidr(std::string_view text, std::string& error) {
    const std::string quoted = "`" + std::string(text) + "`";
    size_t slash = text.find('/');
    std::string_view addr = text.substr(0, slash);
    std::optional<IpAddress> ip = parse_ip(addr);
    if (!ip) {
        error =
            quoted + " is not an IPv4 or IPv6 address or range like 10.0.0.0/8 or 2001:db8::/32";
        return std::nullopt;
    }
    const bool v4 = addr.find(':') == std::string_view::npos;
    const int width = v4 ? 32 : 128;
    int prefix = width;
    if (slash != std::string_view::npos) {
        std::string_view p = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || prefix < 0 ||
            prefix > width) {
            error = quoted + " has a bad prefix length: it must be 0-" + std::to_string(width);
            return std::nullopt;
        }
    }
    Cidr c;
    c.mask = mask_of(v4 ? prefix + 96 : prefix);
    c.network = {ip->hi & c.mask.hi, ip->lo & c.mask.lo};
    if (c.network.hi != ip->hi || c.network.lo != ip->lo) {
        error = quoted + " has host bits set; did you mean `" + format_ip(c.network) + "/" +
                std::to_string(prefix) + "`?";
        return std::nullopt;
    }
    c.text = std::string(text);
    return c;
}

}  // namespace eddy::bot_filter
