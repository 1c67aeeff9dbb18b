// SPDX-License-Identifier: Apache-2.0
#include "bot_filter/ua_patterns.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include <re2/re2.h>
#include <re2/set.h>

namespace eddy::bot_filter {
namespace {

// Case-insensitive unless a tool's name is only ever written one way. Anchored
// (^) where the token is the whole product name at the start of the agent.
const std::vector<UaPattern> kBuiltins = [] {
    const std::pair<const char*, const char*> kList[] = {
        // Search engines and their helpers.
        {"googlebot",
         "(?i)googlebot|adsbot-google|mediapartners-google|google-inspectiontool|storebot-google|"
         "googleother"},
        {"bingbot", "(?i)bingbot|bingpreview|msnbot|adidxbot"},
        {"yandexbot", "(?i)yandex[a-z]*bot|yandeximages"},
        {"baiduspider", "(?i)baiduspider"},
        {"duckduckbot", "(?i)duckduck(?:bot|go-favicons-bot)"},
        {"applebot", "(?i)applebot"},
        {"sogou", "(?i)sogou (?:web|inst|pic) spider"},
        {"seznambot", "(?i)seznambot"},
        {"petalbot", "(?i)petalbot"},
        // SEO, archive and AI crawlers.
        {"ahrefsbot", "(?i)ahrefs(?:bot|siteaudit)"},
        {"semrushbot", "(?i)semrushbot"},
        {"mj12bot", "(?i)mj12bot"},
        {"dotbot", "(?i)dotbot"},
        {"bytespider", "(?i)bytespider"},
        {"gptbot", "(?i)gptbot|chatgpt-user|oai-searchbot"},
        {"ccbot", "(?i)ccbot"},
        {"claudebot", "(?i)claudebot|claude-web|anthropic-ai"},
        {"amazonbot", "(?i)amazonbot"},
        {"ia_archiver", "(?i)ia_archiver|archive\\.org_bot"},
        // Link previews.
        {"facebookexternalhit", "(?i)facebookexternalhit|facebookcatalog|meta-externalagent"},
        {"twitterbot", "(?i)twitterbot"},
        {"linkedinbot", "(?i)linkedinbot"},
        {"slackbot", "(?i)slackbot|slack-imgproxy"},
        {"discordbot", "(?i)discordbot"},
        {"telegrambot", "(?i)telegrambot"},
        {"whatsapp", "^WhatsApp/"},
        // Headless browsers and automation.
        {"headless-chrome", "HeadlessChrome"},
        {"phantomjs", "(?i)phantomjs"},
        {"slimerjs", "(?i)slimerjs"},
        {"selenium", "(?i)selenium|webdriver"},
        {"puppeteer", "(?i)puppeteer"},
        {"playwright", "(?i)playwright"},
        // HTTP libraries and command-line tools.
        {"python-requests", "(?i)python-requests"},
        {"python-urllib", "(?i)python-urllib"},
        {"httpx", "(?i)python-httpx|^httpx/"},
        {"aiohttp", "(?i)aiohttp"},
        {"scrapy", "(?i)scrapy"},
        {"curl", "(?i)^curl/"},
        {"wget", "(?i)^wget/"},
        {"go-http-client", "(?i)go-http-client"},
        {"java", "^Java/|(?i:apache-httpclient)"},
        {"okhttp", "(?i)^okhttp/"},
        {"axios", "(?i)^axios/"},
        {"node-fetch", "(?i)node-fetch|^undici"},
        {"libwww-perl", "(?i)libwww-perl|^lwp::"},
        {"ruby", "(?i)^ruby|faraday v"},
        {"guzzle", "(?i)guzzlehttp"},
        {"postman", "(?i)postmanruntime|insomnia/"},
        {"httpie", "(?i)^httpie/"},
        // Anything that calls itself a bot; then no agent at all.
        {"bot", "(?i)(?:bot|crawler|spider)\\b"},
        {"empty", "^\\s*$"},
    };
    std::vector<UaPattern> out;
    for (const auto& [name, regex] : kList) {
        out.push_back({name, regex, "built-in"});
    }
    return out;
}();

std::string trim(std::string_view s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) {
        return {};
    }
    size_t e = s.find_last_not_of(" \t\r\n");
    return std::string(s.substr(b, e - b + 1));
}

/// Just enough JSON for a list of pattern objects; tracks lines for messages.
class JsonPatternReader {
public:
    JsonPatternReader(std::string_view text, std::string file)
        : in_(text), file_(std::move(file)) {}

    Result<std::vector<UaPattern>> read() {
        std::vector<UaPattern> out;
        skip_ws();
        if (!eat('[')) {
            return fail("expected a JSON list `[` of pattern objects");
        }
        skip_ws();
        if (eat(']')) {
            return out;
        }
        while (true) {
            skip_ws();
            int line = line_;
            if (!eat('{')) {
                return fail("expected an object like {\"pattern\": \"Googlebot\"}");
            }
            std::optional<std::string> pattern, name;
            int pattern_line = line;
            skip_ws();
            if (!eat('}')) {
                while (true) {
                    skip_ws();
                    std::string key;
                    if (!string(key)) {
                        return fail("expected a quoted field name");
                    }
                    skip_ws();
                    if (!eat(':')) {
                        return fail("expected `:` after \"" + key + "\"");
                    }
                    skip_ws();
                    if (key == "pattern" || key == "name") {
                        int at = line_;
                        std::string v;
                        if (!string(v)) {
                            return fail("\"" + key + "\" must be a string");
                        }
                        if (key == "pattern") {
                            pattern = std::move(v);
                            pattern_line = at;
                        } else {
                            name = std::move(v);
                        }
                    } else if (!skip_value()) {
                        return fail("malformed value of \"" + key + "\"");
                    }
                    skip_ws();
                    if (eat('}')) {
                        break;
                    }
                    if (!eat(',')) {
                        return fail("expected `,` or `}` in an object");
                    }
                }
            }
            if (!pattern) {
                return Status::invalid_argument(file_ + ":" + std::to_string(line) +
                                                ": the object has no \"pattern\" field");
            }
            std::string origin = file_ + ":" + std::to_string(pattern_line);
            out.push_back({name ? *name : *pattern, std::move(*pattern), std::move(origin)});
            skip_ws();
            if (eat(']')) {
                break;
            }
            if (!eat(',')) {
                return fail("expected `,` or `]` after an object");
            }
        }
        skip_ws();
        if (pos_ != in_.size()) {
            return fail("unexpected text after the list");
        }
        return out;
    }

private:
    Status fail(const std::string& what) const {
        return Status::invalid_argument(file_ + ":" + std::to_string(line_) + ": " + what +
                                        " (not a valid JSON pattern list)");
    }
    bool eat(char c) {
        if (pos_ < in_.size() && in_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void skip_ws() {
        while (pos_ < in_.size() && std::strchr(" \t\r\n", in_[pos_]) != nullptr) {
            line_ += in_[pos_] == '\n' ? 1 : 0;
            ++pos_;
        }
    }
    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (cp >> 6)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xe0 | (cp >> 12)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            out.push_back(static_cast<char>(0xf0 | (cp >> 18)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }
    bool hex4(uint32_t& cp) {
        if (pos_ + 4 > in_.size()) {
            return false;
        }
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            char c = in_[pos_++];
            cp <<= 4;
            if (c >= '0' && c <= '9') {
                cp |= static_cast<uint32_t>(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                cp |= static_cast<uint32_t>(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                cp |= static_cast<uint32_t>(c - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }
    bool string(std::string& out) {
        if (!eat('"')) {
            return false;
        }
        while (pos_ < in_.size()) {
            char c = in_[pos_++];
            if (c == '"') {
                return true;
            }
            if (c == '\n') {
                return false;
            }
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (pos_ >= in_.size()) {
                return false;
            }
            char e = in_[pos_++];
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    out.push_back(e);
                    break;
                case 'b':
                    out.push_back('\b');
                    break;
                case 'f':
                    out.push_back('\f');
                    break;
                case 'n':
                    out.push_back('\n');
                    break;
                case 'r':
                    out.push_back('\r');
                    break;
                case 't':
                    out.push_back('\t');
                    break;
                case 'u': {
                    uint32_t cp = 0;
                    if (!hex4(cp)) {
                        return false;
                    }
                    if (cp >= 0xd800 && cp < 0xdc00 && eat('\\') && eat('u')) {
                        uint32_t lo = 0;
                        if (!hex4(lo) || lo < 0xdc00 || lo > 0xdfff) {
                            return false;
                        }
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default:
                    return false;
            }
        }
        return false;
    }
    bool skip_value(int depth = 0) {
        if (depth > 64 || pos_ >= in_.size()) {
            return false;
        }
        char c = in_[pos_];
        if (c == '"') {
            std::string ignored;
            return string(ignored);
        }
        if (c == '[' || c == '{') {
            const char close = c == '[' ? ']' : '}';
            ++pos_;
            skip_ws();
            if (eat(close)) {
                return true;
            }
            while (true) {
                skip_ws();
                if (close == '}') {
                    std::string key;
                    if (!string(key)) {
                        return false;
                    }
                    skip_ws();
                    if (!eat(':')) {
                        return false;
                    }
                    skip_ws();
                }
                if (!skip_value(depth + 1)) {
                    return false;
                }
                skip_ws();
                if (eat(close)) {
                    return true;
                }
                if (!eat(',')) {
                    return false;
                }
            }
        }
        // A number or a literal: everything up to a delimiter.
        size_t start = pos_;
        while (pos_ < in_.size() && std::strchr(",]} \t\r\n", in_[pos_]) == nullptr) {
            ++pos_;
        }
        return pos_ > start;
    }

    std::string_view in_;
    std::string file_;
    size_t pos_ = 0;
    int line_ = 1;
};

}  // namespace

const std::vector<UaPattern>& builtin_ua_patterns() {
    return kBuiltins;
}

Result<std::vector<UaPattern>> load_ua_patterns(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return Status::not_found("cannot read the patterns file `" + path +
                                 "`: " + std::strerror(errno));
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    const std::string text = buf.str();
    size_t first = text.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && text[first] == '[') {
        return JsonPatternReader(text, path).read();
    }
    std::vector<UaPattern> out;
    int line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) {
            end = text.size();
        }
        ++line_no;
        std::string line = trim(std::string_view(text).substr(pos, end - pos));
        pos = end + 1;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        out.push_back({line, line, path + ":" + std::to_string(line_no)});
    }
    return out;
}

struct UaMatcher::Engine {
    explicit Engine(const RE2::Options& options) : set(options, RE2::UNANCHORED) {}
    RE2::Set set;
    std::vector<std::unique_ptr<RE2>> singles;  // used if the set's DFA runs out of memory
};

UaMatcher::UaMatcher() = default;
UaMatcher::~UaMatcher() = default;

Result<std::unique_ptr<UaMatcher>> UaMatcher::compile(std::vector<UaPattern> patterns) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(int64_t{256} << 20);
    std::unique_ptr<UaMatcher> m(new UaMatcher());
    m->engine_ = std::make_unique<Engine>(options);
    for (const UaPattern& p : patterns) {
        std::string error;
        if (m->engine_->set.Add(p.regex, &error) < 0) {
            std::string where =
                p.origin == "built-in" ? "built-in pattern `" + p.name + "`" : p.origin;
            return Status::invalid_argument(where + ": pattern `" + p.regex +
                                            "` does not compile: " + error +
                                            " (patterns use RE2 syntax: no look-arounds or "
                                            "back-references)");
        }
        m->engine_->singles.push_back(std::make_unique<RE2>(p.regex, options));
    }
    if (!patterns.empty() && !m->engine_->set.Compile()) {
        return Status::invalid_argument("the " + std::to_string(patterns.size()) +
                                        " user-agent patterns do not fit in one matcher (RE2 "
                                        "ran out of memory); use fewer patterns");
    }
    m->patterns_ = std::move(patterns);
    return m;
}

int UaMatcher::match(std::string_view ua) const {
    if (patterns_.empty()) {
        return -1;
    }
    std::vector<int> hits;
    RE2::Set::ErrorInfo info{};
    const re2::StringPiece text(ua.data(), ua.size());
    if (engine_->set.Match(text, &hits, &info)) {
        int best = hits.front();
        for (int h : hits) {
            best = h < best ? h : best;
        }
        return best;
    }
    if (info.kind == RE2::Set::kNoError) {
        return -1;
    }
    for (size_t i = 0; i < engine_->singles.size(); ++i) {
        if (RE2::PartialMatch(text, *engine_->singles[i])) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

}  // namespace eddy::bot_filter
