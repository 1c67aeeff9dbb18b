// SPDX-License-Identifier: Apache-2.0
// Ordered substring rules; docs/plugins/context_features.md is the reference
// for the order and must change with it.
#include "user_agent.h"

#include <bit>
#include <functional>

namespace eddy::context_features {
namespace {

constexpr char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}
constexpr bool is_letter(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool has(std::string_view s, std::string_view token) {
    return s.find(token) != std::string_view::npos;
}

template <size_t N>
bool has_any(std::string_view s, const std::string_view (&tokens)[N]) {
    for (std::string_view t : tokens) {
        if (has(s, t)) {
            return true;
        }
    }
    return false;
}

/// Position of `needle` (lower case) in `s`, ignoring ASCII case; npos when absent.
size_t find_nocase(std::string_view s, std::string_view needle, size_t from = 0) {
    if (needle.empty() || needle.size() > s.size()) {
        return std::string_view::npos;
    }
    for (size_t i = from; i + needle.size() <= s.size(); ++i) {
        if (lower(s[i]) != needle[0]) {
            continue;
        }
        size_t j = 1;
        while (j < needle.size() && lower(s[i + j]) == needle[j]) {
            ++j;
        }
        if (j == needle.size()) {
            return i;
        }
    }
    return std::string_view::npos;
}

/// An agent in ASCII lower case, for the case-insensitive rules: copied once
/// into a stack buffer so that each token is a plain (memchr-driven) find.
/// Agents longer than the buffer are searched in place, more slowly.
class Lowered {
public:
    explicit Lowered(std::string_view s) : view_(s) {
        if (s.size() <= sizeof buf_) {
            for (size_t i = 0; i < s.size(); ++i) {
                buf_[i] = lower(s[i]);
            }
            view_ = std::string_view(buf_, s.size());
            copied_ = true;
        }
    }
    /// Where `token` (lower case) starts at or after `from`; npos when absent.
    size_t find(std::string_view token, size_t from = 0) const {
        return copied_ ? view_.find(token, from) : find_nocase(view_, token, from);
    }
    bool starts_with(std::string_view token) const {
        return copied_ ? view_.starts_with(token)
                       : find_nocase(view_.substr(0, token.size()), token) == 0;
    }
    template <size_t N>
    bool has_any(const std::string_view (&tokens)[N]) const {
        for (std::string_view t : tokens) {
            if (find(t) != std::string_view::npos) {
                return true;
            }
        }
        return false;
    }
    std::string_view view() const { return view_; }

private:
    char buf_[1024];
    std::string_view view_;
    bool copied_ = false;
};

// Rule 1, bots. Agents of HTTP libraries and tools start with their name;
// then crawlers, link previews and automation that do not end a word in "bot".
// clang-format off
constexpr std::string_view kToolPrefixes[] = {
    "curl/", "wget/", "java/", "axios/", "okhttp/", "httpie/", "python", "go-http-client",
    "aiohttp", "libwww-perl", "lwp::", "node-fetch", "undici", "postmanruntime",
    "insomnia/", "ruby", "guzzlehttp", "apache-httpclient", "whatsapp/"};
constexpr std::string_view kBotTokens[] = {
    "crawler", "spider", "slurp", "headless", "phantomjs", "slimerjs", "selenium", "webdriver",
    "puppeteer", "playwright", "lighthouse", "facebookexternalhit", "facebookcatalog",
    "meta-externalagent", "ia_archiver", "python-requests", "python-urllib", "scrapy",
    "google-inspectiontool", "googleother", "mediapartners-google", "feedfetcher", "bingpreview",
    "chatgpt-user", "anthropic-ai", "slack-imgproxy"};
// clang-format on

/// "bot" ending a word (Googlebot/, AhrefsBot;, bingbot) but not "robots" or
/// the phone brand Cubot.
bool has_bot_word(const Lowered& ua) {
    const std::string_view s = ua.view();
    for (size_t at = ua.find("bot"); at != std::string_view::npos; at = ua.find("bot", at + 1)) {
        const bool word_end = at + 3 == s.size() || !is_letter(s[at + 3]);
        const bool cubot = at >= 2 && lower(s[at - 2]) == 'c' && lower(s[at - 1]) == 'u';
        if (word_end && !cubot) {
            return true;
        }
    }
    return false;
}

bool is_bot(const Lowered& ua) {
    for (std::string_view p : kToolPrefixes) {
        if (ua.starts_with(p)) {
            return true;
        }
    }
    return ua.has_any(kBotTokens) || has_bot_word(ua);
}

// Rule 2, TVs and streaming sticks (ignoring case), before tablets: Android TVs
// do not say "Mobile".
constexpr std::string_view kTvTokens[] = {
    "smart-tv",   "smarttv", "smart tv", "hbbtv",     "googletv", "google tv",
    "android tv", "appletv", "apple tv", "crkey",     "roku",     "bravia",
    "netcast",    "web0s",   "tvos",     "philipstv", "viera"};
// Rule 3, game consoles, before desktops: an Xbox says "Windows NT 10.0".
constexpr std::string_view kConsoleTokens[] = {"PlayStation", "Xbox", "Nintendo"};
// Rule 5, phones.
constexpr std::string_view kMobileTokens[] = {"Mobi",       "iPhone", "iPod",      "Windows Phone",
                                              "BlackBerry", "BB10",   "Opera Mini"};
// Rule 6, desktops.
constexpr std::string_view kDesktopTokens[] = {"Windows", "Macintosh", "Mac OS X",
                                               "X11",     "CrOS",      "Linux"};

DeviceClass device_of(std::string_view ua, const Lowered& lowered) {
    if (lowered.has_any(kTvTokens) || has(ua, "; AFT")) {
        return DeviceClass::kTv;
    }
    if (has_any(ua, kConsoleTokens)) {
        return DeviceClass::kConsole;
    }
    // Rule 4, tablets: Android phones say "Mobile" (Chrome, Firefox, Samsung
    // Internet) or run Opera Mini, Android tablets do not.
    const bool android = has(ua, "Android");
    const bool android_tablet = android && !has(ua, "Mobi") && !has(ua, "Opera Mini");
    if (has(ua, "iPad") || android_tablet || has(ua, "Kindle") || has(ua, "Silk/") ||
        has(ua, "PlayBook") || (has(ua, "Tablet") && !has(ua, "Windows"))) {
        return DeviceClass::kTablet;
    }
    if (android || has_any(ua, kMobileTokens)) {
        return DeviceClass::kMobile;
    }
    if (has_any(ua, kDesktopTokens)) {
        return DeviceClass::kDesktop;
    }
    return DeviceClass::kUnknown;
}

// Browsers that build on Chromium or WebKit and so also say Chrome or Safari:
// checked before those, in this order.
constexpr std::string_view kEdgeTokens[] = {"Edg/", "Edge/", "EdgA/", "EdgiOS/"};
constexpr std::string_view kOperaTokens[] = {"OPR/", "OPiOS/", "OPT/", "Opera"};
constexpr std::string_view kOtherBrowserTokens[] = {
    "Vivaldi/", "YaBrowser/",  "UCBrowser/", "MiuiBrowser/", "HuaweiBrowser/",
    "Whale/",   "DuckDuckGo/", "Silk/",      "FBAN/",        "FBAV/",
    "FB_IAB",   "Instagram",   "Line/"};

BrowserFamily browser_of(std::string_view ua) {
    if (has_any(ua, kEdgeTokens)) {
        return BrowserFamily::kEdge;
    }
    if (has_any(ua, kOperaTokens)) {
        return BrowserFamily::kOpera;
    }
    if (has(ua, "SamsungBrowser/")) {
        return BrowserFamily::kSamsungInternet;
    }
    if (has_any(ua, kOtherBrowserTokens)) {
        return BrowserFamily::kOther;
    }
    if (has(ua, "Firefox/") || has(ua, "FxiOS/")) {
        return BrowserFamily::kFirefox;
    }
    if (has(ua, "CriOS/") || has(ua, "Chrome/") || has(ua, "Chromium/")) {
        return BrowserFamily::kChrome;
    }
    if (has(ua, "MSIE ") || has(ua, "Trident/")) {
        return BrowserFamily::kIe;
    }
    // Android's old stock browser also says Safari.
    if (has(ua, "Safari/") && !has(ua, "Android")) {
        return BrowserFamily::kSafari;
    }
    return BrowserFamily::kOther;
}

OsFamily os_of(std::string_view ua) {
    // iOS before macOS: iOS agents say "like Mac OS X".
    if (has(ua, "iPhone") || has(ua, "iPad") || has(ua, "iPod") || has(ua, "CPU OS ")) {
        return OsFamily::kIos;
    }
    // Android before Linux, which it also says.
    if (has(ua, "Android")) {
        return OsFamily::kAndroid;
    }
    if (has(ua, "Windows")) {
        return OsFamily::kWindows;
    }
    if (has(ua, "CrOS")) {
        return OsFamily::kChromeOs;
    }
    if (has(ua, "Macintosh") || has(ua, "Mac OS X")) {
        return OsFamily::kMacos;
    }
    if (has(ua, "Linux") || has(ua, "X11") || has(ua, "Ubuntu") || has(ua, "Fedora")) {
        return OsFamily::kLinux;
    }
    return OsFamily::kOther;
}

std::string_view trim(std::string_view s) {
    const size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) {
        return {};
    }
    return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

std::string_view name(DeviceClass d) {
    switch (d) {
        case DeviceClass::kDesktop:
            return "desktop";
        case DeviceClass::kMobile:
            return "mobile";
        case DeviceClass::kTablet:
            return "tablet";
        case DeviceClass::kTv:
            return "tv";
        case DeviceClass::kConsole:
            return "console";
        case DeviceClass::kBot:
            return "bot";
        case DeviceClass::kUnknown:
            break;
    }
    return "unknown";
}

std::string_view name(BrowserFamily b) {
    switch (b) {
        case BrowserFamily::kChrome:
            return "chrome";
        case BrowserFamily::kFirefox:
            return "firefox";
        case BrowserFamily::kSafari:
            return "safari";
        case BrowserFamily::kEdge:
            return "edge";
        case BrowserFamily::kOpera:
            return "opera";
        case BrowserFamily::kSamsungInternet:
            return "samsung_internet";
        case BrowserFamily::kIe:
            return "ie";
        case BrowserFamily::kOther:
            return "other";
        case BrowserFamily::kUnknown:
            break;
    }
    return "unknown";
}

std::string_view name(OsFamily o) {
    switch (o) {
        case OsFamily::kWindows:
            return "windows";
        case OsFamily::kMacos:
            return "macos";
        case OsFamily::kIos:
            return "ios";
        case OsFamily::kAndroid:
            return "android";
        case OsFamily::kLinux:
            return "linux";
        case OsFamily::kChromeOs:
            return "chrome_os";
        case OsFamily::kOther:
            return "other";
        case OsFamily::kUnknown:
            break;
    }
    return "unknown";
}

UserAgentInfo classify_user_agent(std::string_view ua) {
    ua = trim(ua);
    if (ua.empty()) {
        return {};
    }
    const Lowered lowered(ua);
    if (is_bot(lowered)) {
        return {DeviceClass::kBot, BrowserFamily::kOther, OsFamily::kOther};
    }
    return {device_of(ua, lowered), browser_of(ua), os_of(ua)};
}

UserAgentCache::UserAgentCache(size_t slots) {
    if (slots > 0) {
        slots_.resize(std::bit_ceil(slots));
        mask_ = slots_.size() - 1;
    }
}

UserAgentInfo UserAgentCache::classify(std::string_view ua) {
    if (slots_.empty()) {
        return classify_user_agent(ua);
    }
    Slot& slot = slots_[std::hash<std::string_view>{}(ua)&mask_];
    if (slot.used && slot.ua == ua) {
        return slot.info;
    }
    slot.info = classify_user_agent(ua);
    slot.ua.assign(ua);
    slot.used = true;
    return slot.info;
}

}  // namespace eddy::context_features
