// SPDX-License-Identifier: Apache-2.0
// consent: the spec and its cross-field rules.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "eddy/registry.h"

#include "consent/consent.h"

namespace eddy {
namespace {

std::string check_consent(const Config& cfg) {
    std::vector<std::string> purposes = cfg.strings("purposes");
    if (purposes.empty()) {
        return "`purposes` is empty; name the purposes an event needs, e.g. `[analytics]`";
    }
    for (size_t i = 0; i < purposes.size(); ++i) {
        if (purposes[i].empty()) {
            return "`purposes` has an empty name";
        }
        if (std::find(purposes.begin(), purposes.begin() + static_cast<std::ptrdiff_t>(i),
                      purposes[i]) != purposes.begin() + static_cast<std::ptrdiff_t>(i)) {
            return "`purposes` lists `" + purposes[i] + "` twice";
        }
    }
    bool strip = cfg.string("action") == "strip";
    if (strip && (!cfg.has("strip") || cfg.strings("strip").empty())) {
        return "`action: strip` needs `strip`, the fields to remove, e.g. `[ip, ua]`";
    }
    if (!strip && cfg.has("strip")) {
        return "`strip` only applies with `action: strip`; with `action: drop` events are "
               "dropped whole";
    }
    if (cfg.string("purpose_field") == cfg.string("granted_field")) {
        return "`purpose_field` and `granted_field` must be different fields";
    }
    if (cfg.has("consent_file") && cfg.string("consent_file").empty()) {
        return "`consent_file` is empty; give the path of a JSON Lines file or remove it";
    }
    return "";
}

}  // namespace

ComponentSpec consent_spec() {
    return OperatorSpec("consent")
        .summary(
            "Passes each key's events only for the purposes it consented to; drops or strips "
            "the others. Consent comes from a consent stream and/or a JSON Lines file.")
        .description(
            "Keyed by the user key. Its input (or `inputs: [events, consents]`, keyed alike) "
            "carries two kinds of records, told apart by `purpose_field`: a record that has "
            "it is a consent record (`granted_field` true or false, the event time is when "
            "it takes effect) and is consumed, never passed on; any other record is an "
            "event. An event passes when every purpose in `purposes` is granted as of its "
            "event time: by the latest consent change at or before that time. Otherwise "
            "`action: drop` drops it and `action: strip` passes it without the `strip` "
            "fields. A key with no consent for a purpose as of the event time is judged by "
            "`unknown` (deny by default).\n\n"
            "`decide_at: watermark` (default) holds each event, in keyed state, until the "
            "watermark passes its time, so that every consent record up to that time has "
            "arrived on either input, however the two inputs interleave: a consent change "
            "applies exactly from its event time on, at the cost of the watermark's delay and "
            "of state for the held events. Events already behind the watermark when they "
            "arrive are decided at once. `decide_at: arrival` decides each event when it "
            "arrives, by the consent known then: a consent record that arrives after events "
            "it should govern does not apply to them. Use it when consent is known before "
            "the events (a `consent_file`, a consent stream read well ahead) or when the "
            "delay is unacceptable.\n\n"
            "Consent history per key and purpose is kept from the latest change at or "
            "before the watermark on; an event older than every kept change (very late) is "
            "judged by `unknown`. `consent_file` is read at startup: one JSON object per line "
            "with `file_key_field` (a string or an integer, matching the key), `purpose`, "
            "`granted` and optionally `file_time_field` (epoch ms; absent: from the "
            "beginning of time); a malformed line stops the job at startup with its line "
            "number. Every shard holds the whole file in memory; the stream wins a tie with "
            "the file. Consent records for other purposes are counted and ignored; one whose "
            "purpose is not a string or whose granted is not true or false goes to `errors`. "
            "Metrics: `eddy_consent_dropped_total`, `eddy_consent_stripped_total`, "
            "`eddy_consent_updates_total`, `eddy_consent_ignored_total`, "
            "`eddy_consent_late_updates_total`. See docs/privacy.md.")
        .keyed(KeyMode::kRequired)
        .param(Param::list("purposes")
                   .required()
                   .doc("The purposes an event needs consent for; all must be granted.")
                   .example("[analytics, personalization]"))
        .param(Param::enumeration("action", {"drop", "strip"})
                   .default_value("drop")
                   .doc("What happens to an event without consent: `drop` it, or `strip` the "
                        "`strip` fields and pass the rest."))
        .param(Param::list("strip")
                   .doc("Fields removed from events without consent (with `action: strip`).")
                   .example("[ip, ua, item_id]"))
        .param(Param::enumeration("unknown", {"deny", "allow"})
                   .default_value("deny")
                   .doc("How a purpose without any consent record for the key (as of the "
                        "event's time) counts: `deny` (opt-in) or `allow` (opt-out)."))
        .param(Param::enumeration("decide_at", {"watermark", "arrival"})
                   .default_value("watermark")
                   .doc("When an event is decided: once the watermark passes its time (exact "
                        "in event time, delayed), or when it arrives (immediate, by the consent "
                        "known then)."))
        .param(Param::string("purpose_field")
                   .default_value("purpose")
                   .doc("The field that makes a record a consent record, naming its purpose."))
        .param(Param::string("granted_field")
                   .default_value("granted")
                   .doc("The field of a consent record that says whether the purpose is "
                        "granted (true or false)."))
        .param(Param::string("consent_file")
                   .doc("A JSON Lines file of consent records read at startup.")
                   .example("/var/lib/consent/export.jsonl"))
        .param(Param::string("file_key_field")
                   .default_value("user_id")
                   .doc("The field of `consent_file` records that holds the key."))
        .param(Param::string("file_time_field")
                   .default_value("ts")
                   .doc("The field of `consent_file` records with the time (epoch ms) from "
                        "which the consent applies."))
        .keyed_state<ConsentState>(
            "consent",
            "Per key: the consent changes per purpose (time, granted), from the latest at "
            "or before the watermark on, and the events held until the watermark passes "
            "their time.")
        .rule(check_consent)
        .example("Drop events of users without analytics consent", R"(sources:
  clicks: {type: generator, events: 100}
  consents:
    type: file
    path: consents.jsonl            # {"user_id":"u1","purpose":"analytics","granted":true,"ts":...}
    event_time: {field: ts, unit: ms}
    watermark: {idle_timeout: 10s}
operators:
  consented:
    type: consent
    inputs: [clicks, consents]
    key: user_id
    purposes: [analytics]
)")
        .example("Strip personal fields from events without ads consent", R"(operators:
  ads_safe:
    type: consent
    input: clicks
    key: user_id
    purposes: [ads]
    action: strip
    strip: [ip, ua, referrer]
    decide_at: arrival
)")
        .factory(consent::make_operator);
}

}  // namespace eddy

EDDY_REGISTER_OPERATOR(consent) {
    return eddy::consent_spec();
}
