// SPDX-License-Identifier: Apache-2.0
#pragma once

// The generator's vocabulary: event types, devices, countries, address blocks,
// user agents, categories and the human segments' parameters. Included by
// io/generator.cc only.

#include <array>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "io/generator.h"

namespace eddy::io::vocab {

enum class EventType : uint8_t {
    kPageView,
    kClick,
    kAddToCart,
    kPurchase,
    kVideoPlay,
    kSearch,
    kScroll,
    kSignup
};
constexpr std::string_view kTypeNames[] = {"page_view",  "click",  "add_to_cart", "purchase",
                                           "video_play", "search", "scroll",      "signup"};

enum Device : uint8_t { kDesktop, kMobile, kTablet };
constexpr std::string_view kDeviceNames[] = {"desktop", "mobile", "tablet"};

enum Referrer : uint8_t { kDirect, kSearchEngine, kSocial, kEmail, kAds, kInternal };
constexpr std::string_view kReferrerNames[] = {"direct", "search", "social",
                                               "email",  "ads",    "internal"};

struct Country {
    std::string_view code;
    double weight;   // share of human users
    int utc_offset;  // hours, for the daily rhythm
};
constexpr Country kCountries[] = {
    {"US", 28, -5}, {"GB", 8, 0}, {"DE", 9, 1},   {"FR", 6, 1},  {"IN", 7, 5},
    {"BR", 5, -3},  {"JP", 4, 9}, {"CA", 4, -5},  {"ES", 3, 1},  {"IT", 3, 1},
    {"NL", 3, 1},   {"PL", 3, 1}, {"SE", 2, 1},   {"AU", 3, 10}, {"MX", 3, -6},
    {"KR", 2, 9},   {"TR", 2, 3}, {"ID", 2, 7},   {"NG", 1, 1},  {"ZA", 1, 2},
    {"CN", 1, 8},   {"RU", 1, 3}, {"FI", 0.5, 2}, {"IE", 1, 0},  {"SG", 1, 8},
};
constexpr size_t kNumCountries = std::size(kCountries);

constexpr uint8_t country_index(std::string_view code) {
    for (size_t i = 0; i < kNumCountries; ++i) {
        if (kCountries[i].code == code) {
            return static_cast<uint8_t>(i);
        }
    }
    return 0;
}

constexpr uint32_t ipv4(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    return (a << 24) | (b << 16) | (c << 8) | d;
}

/// An address block: `base` with its low `host_bits` random.
struct IpBlock {
    uint32_t base;
    int host_bits;
    uint8_t country;
};

// Data-centre blocks used by headless browsers and scrapers.
constexpr IpBlock kCloudBlocks[] = {
    {ipv4(3, 80, 0, 0), 20, country_index("US")},    {ipv4(18, 196, 0, 0), 17, country_index("DE")},
    {ipv4(34, 64, 0, 0), 22, country_index("US")},   {ipv4(35, 184, 0, 0), 19, country_index("US")},
    {ipv4(52, 0, 0, 0), 21, country_index("US")},    {ipv4(20, 40, 0, 0), 19, country_index("NL")},
    {ipv4(104, 248, 0, 0), 16, country_index("US")}, {ipv4(159, 89, 0, 0), 16, country_index("DE")},
    {ipv4(167, 99, 0, 0), 16, country_index("US")},  {ipv4(95, 216, 0, 0), 16, country_index("FI")},
    {ipv4(88, 99, 0, 0), 16, country_index("DE")},   {ipv4(51, 15, 0, 0), 16, country_index("FR")},
    {ipv4(45, 76, 0, 0), 16, country_index("US")},   {ipv4(139, 59, 0, 0), 16, country_index("SG")},
    {ipv4(13, 228, 0, 0), 17, country_index("SG")},
};

// First octets of consumer ISP space (humans and bots behind residential proxies).
constexpr uint8_t kResidentialOctets[] = {24,  31,  37,  46,  62,  67,  71,  73,  76,  77,  78,
                                          79,  80,  81,  82,  83,  84,  85,  86,  87,  89,  90,
                                          91,  92,  93,  94,  98,  99,  108, 109, 151, 174, 176,
                                          178, 186, 187, 188, 189, 190, 191, 197, 201};

// Long agents are split over lines; the missing commas are deliberate.
// NOLINTBEGIN(bugprone-suspicious-missing-comma)
constexpr std::string_view kDesktopAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36 Edg/119.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36 OPR/104.0.0.0",
};
constexpr std::string_view kMobileAgents[] = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.43 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.6045.163 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 12; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Mobile Safari/537.36",
};
constexpr std::string_view kTabletAgents[] = {
    "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/16.6 Mobile/15E148 Safari/604.1",
};
constexpr std::string_view kHeadlessAgents[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/119.0.6045.105 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 "
    "Safari/538.1",
};
constexpr std::string_view kToolAgents[] = {
    "python-requests/2.31.0", "curl/8.4.0",  "Scrapy/2.11.0 (+https://scrapy.org)",
    "Go-http-client/1.1",     "Java/17.0.9", "Wget/1.21.4",
    "okhttp/4.12.0",          "axios/1.6.2", "aiohttp/3.9.1 Python/3.11",
};
// NOLINTEND(bugprone-suspicious-missing-comma)

struct Crawler {
    std::string_view ua;
    Device device;
    IpBlock ips;
};
constexpr Crawler kCrawlers[] = {
    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     kDesktop,
     {ipv4(66, 249, 64, 0), 13, country_index("US")}},
    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/120.0.6099.71 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)",
     kMobile,
     {ipv4(66, 249, 64, 0), 13, country_index("US")}},
    {"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     kDesktop,
     {ipv4(157, 55, 32, 0), 12, country_index("US")}},
    {"Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     kDesktop,
     {ipv4(5, 255, 253, 0), 8, country_index("RU")}},
    {"Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     kDesktop,
     {ipv4(54, 36, 148, 0), 10, country_index("FR")}},
    {"Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     kDesktop,
     {ipv4(185, 191, 171, 0), 8, country_index("US")}},
    {"DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
     kDesktop,
     {ipv4(20, 191, 45, 0), 8, country_index("US")}},
    {"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     kDesktop,
     {ipv4(220, 181, 108, 0), 8, country_index("CN")}},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
     kDesktop,
     {ipv4(17, 58, 96, 0), 13, country_index("US")}},
    {"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
     kDesktop,
     {ipv4(69, 63, 176, 0), 12, country_index("US")}},
    {"Mozilla/5.0 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
     kDesktop,
     {ipv4(114, 119, 128, 0), 13, country_index("CN")}},
};

constexpr std::string_view kCategoryNames[] = {
    "shoes",   "electronics", "books",      "home",    "garden",  "toys",  "beauty",    "sports",
    "fashion", "grocery",     "automotive", "music",   "movies",  "games", "health",    "jewelry",
    "pets",    "office",      "baby",       "outdoor", "kitchen", "tools", "computers", "phones",
    "cameras", "furniture",   "travel",     "art",     "watches", "bags",
};

/// A human behaviour segment. Mix order: page_view, click, scroll, search, video_play.
/// Referrer order: direct, search, social, email, ads.
struct Archetype {
    std::string_view name;
    double share;           // of human users, renormalised over the segments in use
    double session_events;  // mean events per session
    double gap_median_h;    // median hours between sessions
    double dwell_median_s;  // median page_view dwell
    double dwell_sigma;
    double scroll_mean;  // typical page depth reached
    std::array<double, 5> mix;
    double p_cart;      // after viewing an item: add it to the cart
    double p_purchase;  // per step with a non-empty cart: check out
    double mobile, tablet;
    std::array<double, 5> referrers;
};
constexpr Archetype kArchetypes[kMaxGeneratorSegments] = {
    {"browser",
     0.50,
     5,
     36,
     6,
     0.8,
     0.35,
     {0.50, 0.25, 0.10, 0.10, 0.05},
     0.02,
     0.10,
     0.60,
     0.10,
     {0.30, 0.35, 0.25, 0.03, 0.07}},
    {"reader",
     0.30,
     9,
     14,
     40,
     0.6,
     0.80,
     {0.45, 0.12, 0.33, 0.04, 0.06},
     0.01,
     0.10,
     0.45,
     0.20,
     {0.40, 0.35, 0.15, 0.08, 0.02}},
    {"buyer",
     0.20,
     12,
     30,
     15,
     0.7,
     0.55,
     {0.45, 0.20, 0.10, 0.20, 0.05},
     0.15,
     0.30,
     0.40,
     0.10,
     {0.30, 0.30, 0.05, 0.20, 0.15}},
    {"searcher",
     0.15,
     7,
     20,
     5,
     0.6,
     0.30,
     {0.35, 0.20, 0.05, 0.38, 0.02},
     0.04,
     0.20,
     0.50,
     0.10,
     {0.20, 0.65, 0.05, 0.05, 0.05}},
    {"watcher",
     0.15,
     8,
     18,
     25,
     0.5,
     0.30,
     {0.30, 0.15, 0.05, 0.05, 0.45},
     0.01,
     0.10,
     0.55,
     0.25,
     {0.30, 0.20, 0.40, 0.05, 0.05}},
    {"bargain_hunter",
     0.15,
     10,
     10,
     4,
     0.6,
     0.45,
     {0.50, 0.30, 0.05, 0.12, 0.03},
     0.08,
     0.08,
     0.50,
     0.10,
     {0.20, 0.25, 0.10, 0.20, 0.25}},
};

}  // namespace eddy::io::vocab
