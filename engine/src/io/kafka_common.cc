// SPDX-License-Identifier: Apache-2.0
#include "io/kafka_common.h"

#include <charconv>

#include "record/event_time.h"

namespace eddy {

std::string kafka_param_place(const Config& cfg, std::string_view param) {
    std::string where = cfg.location_of(param).to_string();
    std::string out = "source '" + cfg.component() + "': parameter '" + std::string(param) + "'";
    return where.empty() ? out : out + " (" + where + ")";
}

namespace {

/// A scalar as librdkafka wants it: its text.
std::string scalar_text(const ConfigValue& v) {
    switch (v.kind()) {
        case ConfigValue::Kind::kBool:
            return v.as_bool() ? "true" : "false";
        case ConfigValue::Kind::kInt:
            return std::to_string(v.as_int());
        case ConfigValue::Kind::kDouble: {
            std::string s = std::to_string(v.as_double());
            return s;
        }
        default:
            return v.as_string();
    }
}

}  // namespace

Result<KafkaClientOptions> kafka_client_options(const Config& cfg) {
    KafkaClientOptions o;
    o.brokers = cfg.string("brokers");
    if (o.brokers.empty()) {
        return Status::invalid_argument(kafka_param_place(cfg, "brokers") +
                                        " is empty; give host:port[,host:port...]");
    }
    if (cfg.has("properties")) {
        const ConfigValue& props = cfg.value("properties");
        for (const ConfigValue::Entry& e : props.entries()) {
            if (!e.second.is_scalar() || e.second.is_null()) {
                return Status::invalid_argument(kafka_param_place(cfg, "properties") + ": '" +
                                                e.first + "' must be a single value, got " +
                                                e.second.to_string());
            }
            o.properties.emplace_back(e.first, scalar_text(e.second));
        }
    }
    o.connect_timeout_ms = cfg.duration("connect_timeout").count();
    if (o.connect_timeout_ms <= 0) {
        return Status::invalid_argument(kafka_param_place(cfg, "connect_timeout") +
                                        " must be above 0");
    }
    return o;
}

Status fetch_metadata(rd_kafka_t* rk, const KafkaClientOptions& options, bool all_topics,
                      const std::string& who, const rd_kafka_metadata_t** metadata) {
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, all_topics ? 1 : 0, nullptr, metadata,
                                                static_cast<int>(options.connect_timeout_ms));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        return Status::io_error(who + "no answer from Kafka brokers '" + options.brokers +
                                "' within " + std::to_string(options.connect_timeout_ms / 1000) +
                                " s (" + rd_kafka_err2str(err) +
                                "); check `brokers` and that Kafka is running");
    }
    return Status::ok();
}

std::optional<int64_t> parse_time_ms(std::string_view text) {
    int64_t ms = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec == std::errc() && end == text.data() + text.size() && ms >= 0) {
        return ms;
    }
    return parse_iso8601_ms(text);
}

Status KafkaConf::set(const std::string& name, const std::string& value,
                      const std::string& component) {
    char errstr[512];
    if (rd_kafka_conf_set(conf_, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        return Status::invalid_argument("'" + component + "': Kafka setting '" + name + "' = '" +
                                        value + "': " + errstr);
    }
    return Status::ok();
}

Status KafkaConf::apply(const KafkaClientOptions& options, const std::string& component) {
    EDDY_RETURN_IF_ERROR(set("bootstrap.servers", options.brokers, component));
    for (const auto& [name, value] : options.properties) {
        EDDY_RETURN_IF_ERROR(set(name, value, component));
    }
    return Status::ok();
}

}  // namespace eddy
