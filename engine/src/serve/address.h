// SPDX-License-Identifier: Apache-2.0
// `host:port` addresses to listen on, shared by `serve.listen`, `--http` and
// their validation. Header-only, so that topology/ can check them too.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace eddy {

struct ListenAddress {
    std::string host;
    int port = 0;  ///< 0: any free port (tests)

    /// `host:port`, with an IPv6 host in brackets.
    std::string to_string() const {
        return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
               std::to_string(port);
    }

    /// Whether only this machine can connect (127.0.0.0/8, ::1, localhost).
    bool loopback() const {
        return host == "localhost" || host == "::1" || host.starts_with("127.");
    }
};

/// Parses `host:port` (`[::1]:8080` for IPv6); returns an empty string and
/// fills `out`, or says what is wrong.
inline std::string parse_listen_address(std::string_view text, ListenAddress& out) {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        return "expected host:port, got '" + std::string(text) + "'";
    }
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        return "write an IPv6 host in brackets, like [::1]:8080, got '" + std::string(text) + "'";
    }
    int p = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (host.empty() || ec != std::errc() || end != port.data() + port.size() || p < 0 ||
        p > 65535) {
        return "expected host:port with a port from 0 to 65535, got '" + std::string(text) + "'";
    }
    out.host = std::string(host);
    out.port = p;
    return {};
}

/// The reason `text` is not a host:port address, or an empty string.
inline std::string check_listen_address(std::string_view text) {
    ListenAddress a;
    return parse_listen_address(text, a);
}

}  // namespace eddy
