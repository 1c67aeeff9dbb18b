// SPDX-License-Identifier: Apache-2.0
#include "io/generator.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "io/generator_random.h"
#include "io/generator_vocab.h"

namespace eddy::io {

using sampling::cumulative;
using sampling::mix64;
using sampling::pick;
using sampling::Rng;
using vocab::Archetype;
using vocab::Crawler;
using vocab::Device;
using vocab::EventType;
using vocab::IpBlock;
using vocab::kArchetypes;
using vocab::kCategoryNames;
using vocab::kCloudBlocks;
using vocab::kCountries;
using vocab::kCrawlers;
using vocab::kDesktop;
using vocab::kDesktopAgents;
using vocab::kDeviceNames;
using vocab::kDirect;
using vocab::kHeadlessAgents;
using vocab::kInternal;
using vocab::kMobile;
using vocab::kMobileAgents;
using vocab::kNumCountries;
using vocab::kReferrerNames;
using vocab::kResidentialOctets;
using vocab::kTablet;
using vocab::kTabletAgents;
using vocab::kToolAgents;
using vocab::kTypeNames;
using vocab::Referrer;

namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;
constexpr int64_t kDay = 24 * kHour;

// Lognormal time between sessions (humans: scaled by the segment and activity),
// crawls, headless runs and scraper bursts: median hours and sigma.
constexpr double kHumanGapSigma = 1.0;
constexpr double kCrawlGapH = 14, kCrawlGapSigma = 0.8;
constexpr double kHeadlessGapH = 16, kHeadlessGapSigma = 0.8;
constexpr double kScraperPauseH = 24, kScraperPauseSigma = 0.9;

int64_t clamp_ms(double ms, int64_t lo, int64_t hi) {
    return std::clamp(static_cast<int64_t>(ms), lo, hi);
}

double round2(double x) {
    return std::round(std::clamp(x, 0.0, 1.0) * 100) / 100;
}

constexpr uint8_t kBotSegment = 255;

struct Group {
    uint16_t begin = 0;
    uint16_t size = 0;
};

struct UserState {
    Rng rng;
    uint32_t ip = 0;       // of the current session
    uint32_t home_ip = 0;  // humans; bots behind residential proxies
    uint64_t events = 0;
    uint32_t sessions = 0;
    int32_t session_left = 0;
    int32_t cur_item = -1;
    int32_t crawl_pos = 0;
    std::array<int32_t, 4> cart{};
    float activity = 1;
    float scroll = 0;
    std::array<uint16_t, 3> pref{};
    int16_t cur_cat = -1;
    uint16_t ua = 0;
    uint8_t segment = 0;
    BotKind bot = BotKind::kNone;
    uint8_t device = kDesktop;
    uint8_t home_device = kDesktop;
    uint8_t country = 0;
    uint8_t referrer = kDirect;
    uint8_t cart_n = 0;
    EventType last = EventType::kPageView;
    bool in_session = false;
    bool landing = false;
    bool signed_up = false;
    bool purchasing = false;
    bool cloud = false;     // bots: data-centre addresses
    bool rotating = false;  // scrapers: new agent and address per burst
};

struct HeapEntry {
    int64_t time;
    uint32_t user;
    // std::push_heap builds a max-heap; the earliest (time, user) must be on top.
    bool operator<(const HeapEntry& o) const {
        return time != o.time ? time > o.time : user > o.user;
    }
};

}  // namespace

/// One generated event before it becomes a record; agent, address, device and
/// country come from the user's state.
struct Event {
    int64_t ts = 0;
    uint32_t user = 0;
    EventType type = EventType::kPageView;
    int32_t item = -1;
    int32_t category = -1;
    int64_t dwell_ms = 0;
    double scroll = 0;
    uint8_t referrer = kInternal;
};

struct ClickstreamGenerator::Model {
    explicit Model(const GeneratorOptions& o);

    /// Pops the earliest user, produces its event, and schedules its next one.
    void generate(Event& e);
    int64_t next_time() const { return heap.front().time; }

    uint64_t user_seed(uint32_t user) const {
        return mix64(seed ^ mix64(user + 0x5851f42d4c957f2dULL));
    }
    int32_t category_of(int32_t item) const { return item % categories; }
    /// Index of (segment, category) in the segments x categories tables.
    size_t slot(int segment, int32_t c) const {
        return static_cast<size_t>(segment) * static_cast<size_t>(categories) +
               static_cast<size_t>(c);
    }
    int32_t items_in(int32_t c) const { return (items - c + categories - 1) / categories; }
    int32_t zipf_item(Rng& rng, int32_t c, uint8_t segment) const;
    int32_t user_category(UserState& u) const;
    int32_t favourite(const UserState& u, uint32_t user, int k) const;
    uint16_t agent_for(uint32_t user, uint8_t device) const;
    uint32_t residential_ip(Rng& rng) const;
    static uint32_t block_ip(Rng& rng, const IpBlock& b) {
        return b.base | static_cast<uint32_t>(rng.below(uint64_t{1} << b.host_bits));
    }
    uint32_t cloud_ip(UserState& u) const;

    void init_user(uint32_t i, BotKind bot);
    int64_t human_step(UserState& u, uint32_t user, Event& e);
    int64_t crawler_step(UserState& u, Event& e);
    int64_t headless_step(UserState& u, Event& e);
    int64_t scraper_step(UserState& u, Event& e);
    void start_human_session(UserState& u, uint32_t user);
    int64_t human_gap(UserState& u, int64_t from);

    uint64_t seed;
    int64_t start;
    Rng noise;  // missing fields and lateness: apart, so that behaviour does not depend on them
    int32_t items;
    int32_t categories;
    int segments;
    std::vector<std::string> category_names;
    std::vector<std::string_view> agents;
    std::vector<uint8_t> agent_device;
    Group desktop, mobile, tablet, headless, tools, crawlers;
    std::vector<double> zipf_cdf;           // by rank within a category
    std::vector<double> segment_cdf;        // segments x categories
    std::vector<int32_t> segment_rotation;  // segments x categories: the segment's own favourites
    std::array<double, kMaxGeneratorSegments> segment_mix{};
    std::array<double, kNumCountries> country_cdf{};
    std::vector<UserState> users;
    std::vector<HeapEntry> heap;
};

ClickstreamGenerator::Model::Model(const GeneratorOptions& o)
    : seed(o.seed),
      start(o.start_ms),
      noise(mix64(o.seed ^ 0x13198a2e03707344ULL)),
      items(static_cast<int32_t>(o.items)),
      categories(o.categories),
      segments(o.segments) {
    Rng setup(mix64(seed ^ 0x243f6a8885a308d3ULL));

    for (int c = 0; c < categories; ++c) {
        std::string name(kCategoryNames[c % std::size(kCategoryNames)]);
        if (c >= static_cast<int>(std::size(kCategoryNames))) {
            name.append("_").append(std::to_string(c / std::size(kCategoryNames) + 1));
        }
        category_names.push_back(std::move(name));
    }

    auto add_group = [this](Group& g, auto& list, Device device) {
        g.begin = static_cast<uint16_t>(agents.size());
        for (std::string_view ua : list) {
            agents.push_back(ua);
            agent_device.push_back(device);
        }
        g.size = static_cast<uint16_t>(agents.size() - g.begin);
    };
    add_group(desktop, kDesktopAgents, kDesktop);
    add_group(mobile, kMobileAgents, kMobile);
    add_group(tablet, kTabletAgents, kTablet);
    add_group(headless, kHeadlessAgents, kDesktop);
    add_group(tools, kToolAgents, kDesktop);
    crawlers.begin = static_cast<uint16_t>(agents.size());
    for (const Crawler& c : kCrawlers) {
        agents.push_back(c.ua);
        agent_device.push_back(c.device);
    }
    crawlers.size = static_cast<uint16_t>(std::size(kCrawlers));

    // Zipf popularity (s = 1) by rank within a category.
    const int32_t max_per_category = items_in(0);
    zipf_cdf.resize(static_cast<size_t>(max_per_category));
    double sum = 0;
    for (int32_t r = 0; r < max_per_category; ++r) {
        zipf_cdf[static_cast<size_t>(r)] = sum += 1.0 / (r + 1);
    }

    // Each segment focuses on its own slice of a shuffled category list.
    std::vector<int32_t> order(static_cast<size_t>(categories));
    for (int32_t c = 0; c < categories; ++c) {
        order[static_cast<size_t>(c)] = c;
    }
    for (size_t i = order.size(); i > 1; --i) {
        std::swap(order[i - 1], order[setup.below(i)]);
    }
    const int focus = std::max(1, std::min(6, categories / segments));
    segment_cdf.resize(slot(segments, 0));
    segment_rotation.resize(segment_cdf.size());
    for (int s = 0; s < segments; ++s) {
        std::vector<double> w(static_cast<size_t>(categories));
        for (int32_t c = 0; c < categories; ++c) {
            w[static_cast<size_t>(c)] = setup.lognormal(1.0, 0.5);
        }
        for (int k = 0; k < focus; ++k) {
            w[static_cast<size_t>(order[static_cast<size_t>((s * focus + k) % categories)])] *= 8;
        }
        double acc = 0;
        for (int32_t c = 0; c < categories; ++c) {
            const size_t at = slot(s, c);
            segment_cdf[at] = acc += w[static_cast<size_t>(c)];
            segment_rotation[at] =
                static_cast<int32_t>(setup.below(static_cast<uint64_t>(items_in(c))));
        }
    }
    double acc = 0;
    for (int s = 0; s < segments; ++s) {
        segment_mix[static_cast<size_t>(s)] = acc += kArchetypes[s].share;
    }
    acc = 0;
    for (size_t c = 0; c < kNumCountries; ++c) {
        country_cdf[c] = acc += kCountries[c].weight;
    }

    // Bots are a seeded random subset of the users; kinds take turns so each is present.
    const auto n = static_cast<uint32_t>(o.users);
    const auto bots = static_cast<uint32_t>(std::llround(o.bot_share * static_cast<double>(n)));
    std::vector<uint32_t> ids(n);
    for (uint32_t i = 0; i < n; ++i) {
        ids[i] = i;
    }
    for (uint32_t i = 0; i < bots; ++i) {  // partial Fisher-Yates: the first `bots` are chosen
        std::swap(ids[i], ids[i + setup.below(n - i)]);
    }
    std::vector<BotKind> kind(n, BotKind::kNone);
    for (uint32_t i = 0; i < bots; ++i) {
        kind[ids[i]] = static_cast<BotKind>(1 + i % 3);
    }
    users.resize(n);
    heap.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        init_user(i, kind[i]);
    }
    std::make_heap(heap.begin(), heap.end());
}

void ClickstreamGenerator::Model::init_user(uint32_t i, BotKind bot) {
    UserState& u = users[i];
    u.rng = Rng(user_seed(i));
    Rng& rng = u.rng;
    u.bot = bot;
    u.home_ip = residential_ip(rng);
    u.country = static_cast<uint8_t>(pick(country_cdf.data(), kNumCountries, rng.uniform()));
    double gap_h = 0;
    double gap_sigma = 0;
    switch (bot) {
        case BotKind::kNone: {
            u.segment = static_cast<uint8_t>(
                pick(segment_mix.data(), static_cast<size_t>(segments), rng.uniform()));
            const Archetype& a = kArchetypes[u.segment];
            u.activity = static_cast<float>(rng.lognormal(1.0, 0.7));
            const double d = rng.uniform();
            u.home_device = d < a.mobile ? kMobile : d < a.mobile + a.tablet ? kTablet : kDesktop;
            const double* cdf = &segment_cdf[slot(u.segment, 0)];
            for (uint16_t& p : u.pref) {
                p = static_cast<uint16_t>(
                    pick(cdf, static_cast<size_t>(categories), rng.uniform()));
            }
            gap_h = a.gap_median_h / u.activity;
            gap_sigma = kHumanGapSigma;
            break;
        }
        case BotKind::kCrawler: {
            const auto k = rng.below(crawlers.size);
            u.ua = static_cast<uint16_t>(crawlers.begin + k);
            u.country = kCrawlers[k].ips.country;
            u.crawl_pos = static_cast<int32_t>(rng.below(static_cast<uint64_t>(items)));
            gap_h = kCrawlGapH;
            gap_sigma = kCrawlGapSigma;
            break;
        }
        case BotKind::kHeadless:
            u.ua =
                static_cast<uint16_t>(rng.chance(0.35) ? headless.begin + rng.below(headless.size)
                                                       : desktop.begin + rng.below(desktop.size));
            u.cloud = rng.chance(0.75);
            gap_h = kHeadlessGapH;
            gap_sigma = kHeadlessGapSigma;
            break;
        case BotKind::kScraper:
            u.rotating = rng.chance(0.45);
            u.ua = static_cast<uint16_t>(tools.begin + rng.below(tools.size));
            u.cloud = !u.rotating;
            gap_h = kScraperPauseH;
            gap_sigma = kScraperPauseSigma;
            break;
    }
    if (bot != BotKind::kNone) {
        u.segment = kBotSegment;
        u.signed_up = true;
        u.device = agent_device[u.ua];
    }
    u.ip = u.home_ip;
    // Start as if the stream had always been running: the time to a user's first
    // session is the residual of a length-biased gap (lognormal: median * e^(sigma^2)),
    // so the first day is not busier than the rest.
    const double biased =
        rng.lognormal(gap_h * kHour * sampling::det_exp(gap_sigma * gap_sigma), gap_sigma);
    heap.push_back({start + static_cast<int64_t>(rng.uniform() * biased), i});
}

uint32_t ClickstreamGenerator::Model::residential_ip(Rng& rng) const {
    const uint32_t a = kResidentialOctets[rng.below(std::size(kResidentialOctets))];
    return (a << 24) | static_cast<uint32_t>(rng.below(uint64_t{1} << 24) | 1);
}

uint32_t ClickstreamGenerator::Model::cloud_ip(UserState& u) const {
    const IpBlock& b = kCloudBlocks[u.rng.below(std::size(kCloudBlocks))];
    u.country = b.country;
    return block_ip(u.rng, b);
}

uint16_t ClickstreamGenerator::Model::agent_for(uint32_t user, uint8_t device) const {
    const Group& g = device == kMobile ? mobile : device == kTablet ? tablet : desktop;
    return static_cast<uint16_t>(g.begin + mix64(user_seed(user) ^ device) % g.size);
}

int32_t ClickstreamGenerator::Model::zipf_item(Rng& rng, int32_t c, uint8_t segment) const {
    const int32_t n = items_in(c);
    auto r = static_cast<int32_t>(pick(zipf_cdf.data(), static_cast<size_t>(n), rng.uniform()));
    if (segment != kBotSegment && rng.chance(0.5)) {
        r = (r + segment_rotation[slot(segment, c)]) % n;
    }
    return r * categories + c;
}

int32_t ClickstreamGenerator::Model::user_category(UserState& u) const {
    if (u.rng.chance(0.55)) {
        return u.pref[u.rng.below(u.pref.size())];
    }
    const double* cdf = &segment_cdf[slot(u.segment, 0)];
    return static_cast<int32_t>(pick(cdf, static_cast<size_t>(categories), u.rng.uniform()));
}

int32_t ClickstreamGenerator::Model::favourite(const UserState& u, uint32_t user, int k) const {
    Rng rng(user_seed(user) ^ (0x9e37ULL * static_cast<uint64_t>(k + 1)));
    return zipf_item(rng, u.pref[static_cast<size_t>(k) % u.pref.size()], u.segment);
}

void ClickstreamGenerator::Model::generate(Event& e) {
    std::pop_heap(heap.begin(), heap.end());
    HeapEntry& top = heap.back();
    UserState& u = users[top.user];
    e = Event{};
    e.ts = top.time;
    e.user = top.user;
    switch (u.bot) {
        case BotKind::kNone:
            top.time = human_step(u, top.user, e);
            break;
        case BotKind::kCrawler:
            top.time = crawler_step(u, e);
            break;
        case BotKind::kHeadless:
            top.time = headless_step(u, e);
            break;
        case BotKind::kScraper:
            top.time = scraper_step(u, e);
            break;
    }
    std::push_heap(heap.begin(), heap.end());
}

void ClickstreamGenerator::Model::start_human_session(UserState& u, uint32_t user) {
    const Archetype& a = kArchetypes[u.segment];
    Rng& rng = u.rng;
    u.in_session = true;
    u.landing = true;
    ++u.sessions;
    u.session_left =
        1 + static_cast<int32_t>(std::min(200.0, rng.exponential(a.session_events - 1)));
    u.device = u.home_device;
    if (rng.chance(0.2)) {  // the same person on another device
        u.device = u.home_device == kMobile ? kDesktop : kMobile;
    }
    u.ua = agent_for(user, u.device);
    // Mobile carriers hand out a new address per session; homes keep theirs.
    u.ip = u.device == kMobile ? u.home_ip ^ static_cast<uint32_t>(rng.below(1 << 16)) : u.home_ip;
    const auto ref = cumulative(a.referrers);
    u.referrer = static_cast<uint8_t>(pick(ref.data(), ref.size(), rng.uniform()));
    u.cur_cat = -1;
    u.cur_item = -1;
    u.cart_n = 0;
    u.purchasing = false;
    u.scroll = 0;
}

int64_t ClickstreamGenerator::Model::human_gap(UserState& u, int64_t from) {
    const Archetype& a = kArchetypes[u.segment];
    const double median = a.gap_median_h * kHour / u.activity;
    int64_t next =
        from + clamp_ms(u.rng.lognormal(median, kHumanGapSigma), 40 * kMinute, 45 * kDay);
    // People rarely start sessions at night: move most night starts to the morning.
    const int64_t tz = kCountries[u.country].utc_offset * kHour;
    const int64_t local = ((next + tz) % kDay + kDay) % kDay;
    if (local < 6 * kHour && u.rng.chance(0.75)) {
        next += 7 * kHour - local + static_cast<int64_t>(u.rng.uniform() * 4 * kHour);
    }
    return next;
}

int64_t ClickstreamGenerator::Model::human_step(UserState& u, uint32_t user, Event& e) {
    if (!u.in_session) {
        start_human_session(u, user);
    }
    const Archetype& a = kArchetypes[u.segment];
    Rng& rng = u.rng;
    EventType type;
    if (u.purchasing && u.cart_n > 0) {
        type = EventType::kPurchase;
    } else if (u.landing) {
        if (!u.signed_up && u.sessions == 1 && rng.chance(0.3)) {
            type = EventType::kSignup;
        } else {
            type = rng.chance(std::min(0.9, a.mix[3] * 1.5)) ? EventType::kSearch
                                                             : EventType::kPageView;
        }
    } else if (u.cart_n > 0 && rng.chance(a.p_purchase)) {
        u.purchasing = true;
        type = EventType::kPurchase;
    } else if (u.cur_item >= 0 && u.cart_n < u.cart.size() &&
               (u.last == EventType::kPageView || u.last == EventType::kScroll ||
                u.last == EventType::kVideoPlay) &&
               rng.chance(a.p_cart)) {
        type = EventType::kAddToCart;
    } else {
        static constexpr EventType kMixTypes[] = {EventType::kPageView, EventType::kClick,
                                                  EventType::kScroll, EventType::kSearch,
                                                  EventType::kVideoPlay};
        const auto mix = cumulative(a.mix);
        type = kMixTypes[pick(mix.data(), mix.size(), rng.uniform())];
        if ((type == EventType::kScroll || type == EventType::kVideoPlay) && u.cur_item < 0) {
            type = EventType::kPageView;
        }
    }

    const double page_dwell = a.dwell_median_s * kSecond;
    double dwell = 0;
    switch (type) {
        case EventType::kPageView: {
            int32_t item;
            if (u.last == EventType::kClick && u.cur_item >= 0) {
                item = u.cur_item;
            } else if (u.last == EventType::kSearch && u.cur_cat >= 0) {
                item = zipf_item(rng, u.cur_cat, u.segment);
            } else if (rng.chance(0.12)) {
                item = favourite(u, user, static_cast<int>(rng.below(5)));
            } else {
                const int32_t c = u.cur_cat >= 0 && rng.chance(0.6) ? u.cur_cat : user_category(u);
                item = zipf_item(rng, c, u.segment);
            }
            u.cur_item = item;
            u.cur_cat = static_cast<int16_t>(category_of(item));
            u.scroll =
                static_cast<float>(std::clamp(a.scroll_mean + 0.25 * rng.normal(), 0.0, 1.0));
            dwell = rng.lognormal(page_dwell, a.dwell_sigma);
            break;
        }
        case EventType::kClick: {
            const int32_t c = u.cur_cat >= 0 ? u.cur_cat : user_category(u);
            u.cur_item = zipf_item(rng, c, u.segment);
            u.cur_cat = static_cast<int16_t>(c);
            dwell = rng.lognormal(1500, 0.5);
            break;
        }
        case EventType::kScroll:
            u.scroll = std::min(1.0f, u.scroll + static_cast<float>(rng.uniform(0.1, 0.35)));
            dwell = rng.lognormal(page_dwell / 3, a.dwell_sigma);
            break;
        case EventType::kSearch:
            u.cur_cat = static_cast<int16_t>(user_category(u));
            u.cur_item = -1;
            u.scroll = 0;
            dwell = rng.lognormal(7000, 0.6);
            break;
        case EventType::kVideoPlay:
            dwell = rng.lognormal(page_dwell * 2, 0.7);
            break;
        case EventType::kAddToCart:
            u.cart[u.cart_n++] = u.cur_item;
            dwell = rng.lognormal(5000, 0.5);
            break;
        case EventType::kPurchase:
            u.cur_item = u.cart[--u.cart_n];
            u.cur_cat = static_cast<int16_t>(category_of(u.cur_item));
            u.purchasing = u.cart_n > 0;
            dwell = rng.lognormal(12000, 0.5);
            break;
        case EventType::kSignup:
            u.cur_item = -1;
            u.cur_cat = -1;
            dwell = rng.lognormal(45000, 0.4);
            break;
    }
    if (type != EventType::kSignup && type != EventType::kSearch) {
        e.item = u.cur_item;
    }
    if (type != EventType::kSignup) {
        e.category = u.cur_cat;
    }
    e.type = type;
    e.dwell_ms = clamp_ms(dwell, 150, 20 * kMinute);
    e.scroll = type == EventType::kSearch || type == EventType::kSignup ? 0.0 : round2(u.scroll);
    e.referrer = u.landing ? u.referrer : static_cast<uint8_t>(kInternal);
    u.landing = false;
    u.last = type;
    if (u.sessions == 1) {
        u.signed_up = true;
    }
    if (--u.session_left <= 0 && u.purchasing) {
        u.session_left = u.cart_n;  // finish the checkout
    }
    if (u.session_left > 0) {
        return e.ts + e.dwell_ms + static_cast<int64_t>(rng.exponential(700));
    }
    u.in_session = false;
    return human_gap(u, e.ts + e.dwell_ms);
}

int64_t ClickstreamGenerator::Model::crawler_step(UserState& u, Event& e) {
    Rng& rng = u.rng;
    const Crawler& c = kCrawlers[u.ua - crawlers.begin];
    if (!u.in_session) {
        u.in_session = true;
        ++u.sessions;
        u.session_left = static_cast<int32_t>(clamp_ms(rng.lognormal(60, 0.7), 10, 1500));
        u.ip = block_ip(rng, c.ips);
    }
    // Crawlers walk the catalogue in id order and now and then follow a link elsewhere.
    u.crawl_pos = rng.chance(0.85) ? (u.crawl_pos + 1) % items
                                   : static_cast<int32_t>(rng.below(static_cast<uint64_t>(items)));
    e.type = rng.chance(0.003) ? EventType::kAddToCart : EventType::kPageView;
    e.item = u.crawl_pos;
    e.category = category_of(e.item);
    e.dwell_ms = rng.between(50, 400);
    e.scroll = 0;
    e.referrer = kDirect;
    if (--u.session_left > 0) {
        return e.ts + rng.between(500, 4000);
    }
    u.in_session = false;
    return e.ts +
           clamp_ms(rng.lognormal(kCrawlGapH * kHour, kCrawlGapSigma), 40 * kMinute, 14 * kDay);
}

int64_t ClickstreamGenerator::Model::headless_step(UserState& u, Event& e) {
    Rng& rng = u.rng;
    if (!u.in_session) {
        u.in_session = true;
        u.landing = true;
        ++u.sessions;
        u.session_left = static_cast<int32_t>(clamp_ms(rng.lognormal(80, 0.6), 20, 3000));
        u.ip = u.cloud ? cloud_ip(u) : u.home_ip;
        u.cur_item = -1;
        u.cart_n = 0;
    }
    static constexpr std::array<double, 5> kMix = {0.50, 0.20, 0.15, 0.08, 0.07};
    static constexpr EventType kTypes[] = {EventType::kPageView, EventType::kClick,
                                           EventType::kScroll, EventType::kSearch,
                                           EventType::kAddToCart};
    const auto mix = cumulative(kMix);
    e.type = kTypes[pick(mix.data(), mix.size(), rng.uniform())];
    if (u.cur_item < 0 && (e.type == EventType::kScroll || e.type == EventType::kAddToCart)) {
        e.type = EventType::kPageView;
    }
    // Headless browsers pick items uniformly: no taste, no popularity.
    switch (e.type) {
        case EventType::kPageView:
        case EventType::kClick:
            u.cur_item = static_cast<int32_t>(rng.below(static_cast<uint64_t>(items)));
            e.item = u.cur_item;
            e.category = category_of(e.item);
            e.scroll = rng.chance(0.5) ? 1.0 : 0.0;
            break;
        case EventType::kSearch:
            u.cur_item = -1;
            e.category = static_cast<int32_t>(rng.below(static_cast<uint64_t>(categories)));
            break;
        default:
            e.item = u.cur_item;
            e.category = category_of(e.item);
            e.scroll = 1.0;
            break;
    }
    e.dwell_ms = rng.between(200, 900);
    e.referrer = u.landing ? kDirect : kInternal;
    u.landing = false;
    if (--u.session_left > 0) {
        return e.ts + e.dwell_ms + rng.between(30, 250);
    }
    u.in_session = false;
    return e.ts + clamp_ms(rng.lognormal(kHeadlessGapH * kHour, kHeadlessGapSigma), 40 * kMinute,
                           14 * kDay);
}

int64_t ClickstreamGenerator::Model::scraper_step(UserState& u, Event& e) {
    Rng& rng = u.rng;
    if (!u.in_session) {  // a burst: one category, page after page
        u.in_session = true;
        ++u.sessions;
        u.session_left = static_cast<int32_t>(clamp_ms(rng.lognormal(150, 0.6), 50, 3000));
        u.cur_cat = static_cast<int16_t>(rng.below(static_cast<uint64_t>(categories)));
        u.crawl_pos = 0;
        if (u.rotating) {
            const Group& g = rng.chance(0.7) ? desktop : mobile;
            u.ua = static_cast<uint16_t>(g.begin + rng.below(g.size));
            u.device = agent_device[u.ua];
            u.ip = residential_ip(rng);
            u.country =
                static_cast<uint8_t>(pick(country_cdf.data(), kNumCountries, rng.uniform()));
        } else {
            u.ip = cloud_ip(u);
        }
    }
    e.category = u.cur_cat;
    if (rng.chance(0.08)) {
        e.type = EventType::kSearch;
    } else {
        e.type = EventType::kPageView;
        if (u.crawl_pos >= items_in(u.cur_cat)) {
            u.crawl_pos = 0;
        }
        e.item = u.crawl_pos++ * categories + u.cur_cat;
    }
    e.dwell_ms = rng.between(5, 60);
    e.scroll = 0;
    e.referrer = kDirect;
    if (--u.session_left > 0) {
        return e.ts + rng.between(5, 80);
    }
    u.in_session = false;
    return e.ts + clamp_ms(rng.lognormal(kScraperPauseH * kHour, kScraperPauseSigma), 2 * kMinute,
                           7 * kDay);
}

// ---------------------------------------------------------------------------

namespace {

std::string_view format_id(char* buf, size_t size, char prefix, int64_t n) {
    buf[0] = prefix;
    auto r = std::to_chars(buf + 1, buf + size, n);
    return {buf, static_cast<size_t>(r.ptr - buf)};
}

/// Dotted quad; `buf` holds at least 16 characters.
std::string_view format_ip(char* buf, uint32_t ip) {
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        const unsigned octet = (ip >> shift) & 0xFF;
        if (octet >= 100) {
            buf[n++] = static_cast<char>('0' + octet / 100);
        }
        if (octet >= 10) {
            buf[n++] = static_cast<char>('0' + octet / 10 % 10);
        }
        buf[n++] = static_cast<char>('0' + octet % 10);
        buf[n++] = '.';
    }
    return {buf, n - 1};
}

/// `prefix` followed by `text` or by the number `n`, in `buf`.
std::string_view format_path(char* buf, size_t size, std::string_view prefix,
                             std::string_view text) {
    const size_t n = std::min(prefix.size(), size);
    std::memcpy(buf, prefix.data(), n);
    const size_t m = std::min(text.size(), size - n);
    std::memcpy(buf + n, text.data(), m);
    return {buf, n + m};
}
std::string_view format_path(char* buf, size_t size, std::string_view prefix, int64_t n) {
    std::memcpy(buf, prefix.data(), prefix.size());
    auto r = std::to_chars(buf + prefix.size(), buf + size, n);
    return {buf, static_cast<size_t>(r.ptr - buf)};
}

}  // namespace

ClickstreamGenerator::ClickstreamGenerator(const GeneratorOptions& options,
                                           const GeneratorFields& fields)
    : options_(options), fields_(fields), model_(std::make_unique<Model>(options)) {
    done_ = model_->users.empty();
}

ClickstreamGenerator::~ClickstreamGenerator() = default;

bool ClickstreamGenerator::bounded_out(int64_t now_ms) {
    if (options_.events && emitted_ >= static_cast<uint64_t>(*options_.events)) {
        return true;
    }
    if (options_.duration_ms) {
        if (options_.live()) {
            if (!live_start_ms_) {
                live_start_ms_ = now_ms;
            }
            return now_ms - *live_start_ms_ >= *options_.duration_ms;
        }
        return model_->next_time() - options_.start_ms >= *options_.duration_ms;
    }
    return false;
}

bool ClickstreamGenerator::next(Record& record, int64_t now_ms) {
    if (done_ || bounded_out(now_ms)) {
        done_ = true;
        return false;
    }
    emit(record, now_ms);
    return true;
}

bool ClickstreamGenerator::skip(uint64_t n) {
    Batch scratch;
    for (uint64_t i = 0; i < n; ++i) {
        // A live `duration` counts wall time, which replaying does not use.
        const bool ended =
            options_.live() ? options_.events && emitted_ >= static_cast<uint64_t>(*options_.events)
                            : bounded_out(0);
        if (done_ || ended) {
            return false;
        }
        if (scratch.size() == 1024) {
            scratch.clear();
        }
        emit(scratch.append(), 0);
    }
    return true;
}

void ClickstreamGenerator::emit(Record& record, int64_t now_ms) {
    Event e;
    model_->generate(e);
    UserState& u = model_->users[e.user];
    if (u.events++ == 0) {
        ++users_seen_;
        bots_seen_ += u.bot != BotKind::kNone ? 1 : 0;
    }
    ++emitted_;

    Rng& noise = model_->noise;
    int64_t ts = options_.live() ? now_ms : e.ts;
    if (options_.out_of_order_rate > 0 && noise.chance(options_.out_of_order_rate) &&
        options_.max_out_of_order_ms > 0) {
        ts -= noise.between(1, options_.max_out_of_order_ms);
        if (!options_.live()) {
            ts = std::max(ts, options_.start_ms);
        }
    }
    const double miss = options_.missing_rate;
    auto keep = [&] { return miss <= 0 || !noise.chance(miss); };

    const Model& m = *model_;
    const GeneratorFields& f = fields_;
    char buf[64];
    record.set_time(ts);
    record.set(f.ts, ts);
    record.set(f.user_id, format_id(buf, sizeof buf, 'u', e.user + 1));
    record.set(f.type, kTypeNames[static_cast<size_t>(e.type)]);
    if (e.item >= 0 && keep()) {
        record.set(f.item_id, format_id(buf, sizeof buf, 'i', e.item + 1));
    }
    std::string_view category;
    if (e.category >= 0) {
        category = m.category_names[static_cast<size_t>(e.category)];
        if (keep()) {
            record.set(f.category, category);
        }
    }
    if (keep()) {
        std::string_view url;
        switch (e.type) {
            case EventType::kAddToCart:
                url = "/cart";
                break;
            case EventType::kPurchase:
                url = "/checkout/complete";
                break;
            case EventType::kSignup:
                url = "/signup";
                break;
            case EventType::kSearch:
                url = format_path(buf, sizeof buf, "/search?q=", category);
                break;
            default:
                url = format_path(buf, sizeof buf, "/p/", int64_t{e.item} + 1);
        }
        record.set(f.url, url);
    }
    if (keep()) {
        record.set(f.dwell_ms, e.dwell_ms);
    }
    if (keep()) {
        record.set(f.scroll_pct, e.scroll);
    }
    if (keep()) {
        record.set(f.ua, m.agents[u.ua]);
    }
    if (keep()) {
        record.set(f.ip, format_ip(buf, u.ip));
    }
    if (keep()) {
        record.set(f.device, kDeviceNames[u.device]);
    }
    if (keep()) {
        record.set(f.country, kCountries[u.country].code);
    }
    if (keep()) {
        record.set(f.referrer, kReferrerNames[e.referrer]);
    }
}

// ---------------------------------------------------------------------------

std::vector<UserTruth> ClickstreamGenerator::truth() const {
    std::vector<UserTruth> out;
    out.reserve(users_seen_);
    for (size_t i = 0; i < model_->users.size(); ++i) {
        const UserState& u = model_->users[i];
        if (u.events == 0) {
            continue;
        }
        UserTruth t;
        t.user = static_cast<int64_t>(i) + 1;
        t.is_bot = u.bot != BotKind::kNone;
        t.bot_kind = u.bot;
        t.segment = t.is_bot ? "bot" : std::string(kArchetypes[u.segment].name);
        t.events = u.events;
        t.sessions = u.sessions;
        out.push_back(std::move(t));
    }
    return out;
}

Status ClickstreamGenerator::write_truth(const std::string& path) const {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) {
        return Status::io_error("cannot write the ground-truth file '" + path +
                                "': " + std::strerror(errno));
    }
    std::string line;
    for (const UserTruth& t : truth()) {
        line = t.to_json();
        line += '\n';
        if (std::fwrite(line.data(), 1, line.size(), f) != line.size()) {
            break;
        }
    }
    const bool failed = std::ferror(f) != 0;
    const int saved = errno;
    if (std::fclose(f) != 0 || failed) {
        return Status::io_error("cannot write the ground-truth file '" + path +
                                "': " + std::strerror(failed ? saved : errno));
    }
    return Status::ok();
}

const char* bot_kind_name(BotKind kind) {
    switch (kind) {
        case BotKind::kNone:
            return "none";
        case BotKind::kCrawler:
            return "crawler";
        case BotKind::kHeadless:
            return "headless";
        case BotKind::kScraper:
            return "scraper";
    }
    return "none";
}

std::string UserTruth::to_json() const {
    std::string s = "{\"user_id\":\"u";
    s.append(std::to_string(user)).append("\",\"is_bot\":").append(is_bot ? "true" : "false");
    s.append(",\"bot_kind\":");
    if (is_bot) {
        s.append("\"").append(bot_kind_name(bot_kind)).append("\"");
    } else {
        s.append("null");
    }
    s.append(",\"segment\":\"").append(segment).append("\",\"events\":");
    s.append(std::to_string(events)).append(",\"sessions\":").append(std::to_string(sessions));
    s.append("}");
    return s;
}

GeneratorFields GeneratorFields::resolve(const std::function<FieldId(std::string_view)>& field_of) {
    GeneratorFields f{};
    f.ts = field_of("ts");
    f.user_id = field_of("user_id");
    f.type = field_of("type");
    f.item_id = field_of("item_id");
    f.category = field_of("category");
    f.url = field_of("url");
    f.dwell_ms = field_of("dwell_ms");
    f.scroll_pct = field_of("scroll_pct");
    f.ua = field_of("ua");
    f.ip = field_of("ip");
    f.device = field_of("device");
    f.country = field_of("country");
    f.referrer = field_of("referrer");
    return f;
}

}  // namespace eddy::io
