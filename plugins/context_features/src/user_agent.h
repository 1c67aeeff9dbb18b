// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::context_features {

enum class DeviceClass : uint8_t { kUnknown, kDesktop, kMobile, kTablet, kTv, kConsole, kBot };
enum class BrowserFamily : uint8_t {
    kUnknown,
    kChrome,
    kFirefox,
    kSafari,
    kEdge,
    kOpera,
    kSamsungInternet,
    kIe,
    kOther
};
enum class OsFamily : uint8_t {
    kUnknown,
    kWindows,
    kMacos,
    kIos,
    kAndroid,
    kLinux,
    kChromeOs,
    kOther
};

/// The field values: "desktop", "samsung_internet", "chrome_os", ... (lower snake_case).
std::string_view name(DeviceClass d);
std::string_view name(BrowserFamily b);
std::string_view name(OsFamily o);

/// What a user agent says about the client. Value-initialized: all unknown.
struct UserAgentInfo {
    DeviceClass device = DeviceClass::kUnknown;
    BrowserFamily browser = BrowserFamily::kUnknown;
    OsFamily os = OsFamily::kUnknown;
};

/// Classifies a user-agent string with ordered substring rules (no regex, no
/// allocation); docs/plugins/context_features.md lists them. An empty or
/// all-blank agent is unknown on all three; a bot's browser and OS are other.
UserAgentInfo classify_user_agent(std::string_view ua);

/// A direct-mapped cache in front of classify_user_agent(): real traffic
/// repeats a few thousand agents. A slot keeps a copy of its agent, so it
/// allocates only when a longer agent than before lands in the slot. One per
/// operator instance; not thread-safe.
class UserAgentCache {
public:
    /// `slots` is rounded up to a power of two; 0 disables the cache.
    explicit UserAgentCache(size_t slots);
    UserAgentInfo classify(std::string_view ua);

private:
    struct Slot {
        std::string ua;
        UserAgentInfo info;
        bool used = false;
    };
    std::vector<Slot> slots_;
    size_t mask_ = 0;
};

}  // namespace eddy::context_features
