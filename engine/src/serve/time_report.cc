// SPDX-License-Identifier: Apache-2.0
#include "serve/time_report.h"

#include <cstdint>

#include "eddy/json_writer.h"

namespace eddy::serve {
namespace {

/// An event time: null before the first watermark, "end" once the input
/// has ended (the end of time), else milliseconds.
void time_value(JsonWriter& j, int64_t t) {
    if (t == kNoWatermark) {
        j.value(nullptr);
    } else if (t == kEndOfTime) {
        j.value("end");
    } else {
        j.value(t);
    }
}

/// A timer: null when there is none.
void timer_value(JsonWriter& j, int64_t t) {
    if (t == INT64_MAX) {
        j.value(nullptr);
    } else {
        j.value(t);
    }
}

void write_instance(JsonWriter& j, const TimeReport::Instance& in) {
    j.begin_object();
    j.key("components").begin_array();
    for (const std::string& c : in.components) {
        j.value(c);
    }
    j.end_array();
    j.key("kind").value(in.sink ? "sink" : "operators");
    j.key("shard").value(static_cast<int64_t>(in.shard));
    j.key("parallelism").value(static_cast<int64_t>(in.parallelism));
    j.key("answered").value(in.answered);
    if (!in.answered) {
        j.key("reason").value(in.stopped ? "the job has stopped" : "busy: did not answer in time");
        j.end_object();
        return;
    }
    j.key("watermark");
    time_value(j, in.watermark);
    // What holds the watermark back: the active inputs at the minimum.
    bool any_active = false;
    for (const TimeReport::Input& i : in.inputs) {
        any_active |= !i.idle;
    }
    j.key("inputs").begin_array();
    for (const TimeReport::Input& i : in.inputs) {
        j.begin_object().key("from").value(i.from).key("watermark");
        time_value(j, i.watermark);
        j.key("idle").value(i.idle);
        j.key("holds_back").value(!i.idle && i.watermark == in.watermark);
        j.end_object();
    }
    j.end_array();
    j.key("held_back_by").begin_array();
    for (const TimeReport::Input& i : in.inputs) {
        if (!i.idle && i.watermark == in.watermark) {
            j.value(i.from);
        }
    }
    j.end_array();
    j.key("idle_inputs").begin_array();
    for (const TimeReport::Input& i : in.inputs) {
        if (i.idle) {
            j.value(i.from);
        }
    }
    j.end_array();
    j.key("all_inputs_idle").value(!in.inputs.empty() && !any_active);
    j.key("operators").begin_array();
    for (const TimeReport::OperatorTimers& op : in.operators) {
        j.begin_object().key("name").value(op.name);
        j.key("next_event_timer");
        timer_value(j, op.next_event_time);
        // How much further the watermark must go for it to fire.
        j.key("event_time_to_go_ms");
        if (op.next_event_time == INT64_MAX || in.watermark == kNoWatermark ||
            in.watermark == kEndOfTime) {
            j.value(nullptr);
        } else {
            j.value(op.next_event_time > in.watermark ? op.next_event_time - in.watermark
                                                      : int64_t{0});
        }
        j.key("next_processing_timer");
        timer_value(j, op.next_processing_time);
        j.key("pending_timers").value(static_cast<int64_t>(op.pending));
        j.end_object();
    }
    j.end_array();
    j.end_object();
}

}  // namespace

std::string time_report_json(const TimeReport& report) {
    JsonWriter j;
    j.begin_object();
    j.key("processing_time").value(report.processing_time);
    j.key("sources").begin_array();
    for (const TimeReport::Source& s : report.sources) {
        j.begin_object().key("name").value(s.name).key("watermark");
        time_value(j, s.watermark);
        j.key("max_event_time");
        time_value(j, s.max_event_time);
        j.key("max_out_of_orderness_ms").value(s.max_out_of_orderness_ms);
        j.key("idle_timeout_ms");
        if (s.idle_timeout_ms < 0) {
            j.value(nullptr);
        } else {
            j.value(s.idle_timeout_ms);
        }
        j.key("idle").value(s.idle).key("ended").value(s.ended);
        j.end_object();
    }
    j.end_array();
    j.key("instances").begin_array();
    for (const TimeReport::Instance& in : report.instances) {
        write_instance(j, in);
    }
    j.end_array();
    j.end_object();
    return j.str();
}

}  // namespace eddy::serve
