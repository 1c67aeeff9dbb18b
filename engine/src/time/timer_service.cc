// SPDX-License-Identifier: Apache-2.0
#include "time/timer_service.h"

#include <cstring>

namespace eddy {

TimerService::Entry TimerService::make_entry(const Value& key, int64_t time) {
    Entry e{time, key.type(), 0, {}};
    switch (key.type()) {
        case ValueType::kBool:
            e.number = key.as_bool() ? 1 : 0;
            break;
        case ValueType::kInt:
            e.number = key.as_int();
            break;
        case ValueType::kDouble: {
            double d = key.as_double();
            std::memcpy(&e.number, &d, sizeof d);
            break;
        }
        case ValueType::kString:
            e.text = std::string(key.as_string());
            break;
        case ValueType::kVector: {
            auto v = key.as_vector();
            e.text.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
            break;
        }
        case ValueType::kNull:
            break;
    }
    return e;
}

Value TimerService::key_of(const Entry& e) {
    switch (e.type) {
        case ValueType::kBool:
            return Value::boolean(e.number != 0);
        case ValueType::kInt:
            return Value::integer(e.number);
        case ValueType::kDouble: {
            double d = 0;
            std::memcpy(&d, &e.number, sizeof d);
            return Value::number(d);
        }
        case ValueType::kString:
            return Value::string_view(e.text);
        case ValueType::kVector:
            return Value::vector_view(
                {reinterpret_cast<const float*>(e.text.data()), e.text.size() / sizeof(float)});
        case ValueType::kNull:
            break;
    }
    return Value::null();
}

void TimerService::set(TimeDomain domain, const Value& key, int64_t time) {
    if (timers(domain).insert(make_entry(key, time)).second) {
        ++unsaved_;
    }
}

void TimerService::cancel(TimeDomain domain, const Value& key, int64_t time) {
    auto& set = timers(domain);
    auto it = set.find(make_entry(key, time));
    if (it != set.end()) {
        removed(domain, std::move(set.extract(it).value()));
    }
}

size_t TimerService::drop_if(const std::function<bool(const Value&)>& drop) {
    size_t dropped = 0;
    for (std::set<Entry>* set : {&event_, &processing_}) {
        for (auto it = set->begin(); it != set->end();) {
            if (!drop(key_of(*it))) {
                ++it;
                continue;
            }
            if (!it->saved) {
                --unsaved_;
            }
            it = set->erase(it);
            ++dropped;
        }
    }
    return dropped;
}

void TimerService::removed(TimeDomain domain, Entry&& e) {
    if (!e.saved) {
        --unsaved_;
    } else if (track_changes_) {
        removed_.emplace_back(domain, std::move(e));
    }
}

void TimerService::drain_changes(
    const std::function<void(bool, TimeDomain, int64_t, const Value&)>& f) {
    for (auto& [domain, e] : removed_) {
        auto& set = timers(domain);
        if (auto it = set.find(e); it != set.end()) {
            // Removed and set again: what the last drain saw.
            it->saved = true;
            --unsaved_;
        } else {
            f(false, domain, e.time, key_of(e));
        }
    }
    removed_.clear();
    for (TimeDomain domain : {TimeDomain::kEventTime, TimeDomain::kProcessingTime}) {
        for (auto it = timers(domain).begin(); unsaved_ > 0 && it != timers(domain).end(); ++it) {
            if (!it->saved) {
                f(true, domain, it->time, key_of(*it));
                it->saved = true;
                --unsaved_;
            }
        }
    }
}

void TimerService::mark_clean() {
    for (TimeDomain domain : {TimeDomain::kEventTime, TimeDomain::kProcessingTime}) {
        for (const Entry& e : timers(domain)) {
            e.saved = true;
        }
    }
    unsaved_ = 0;
    removed_.clear();
}

void TimerService::for_each(const std::function<void(TimeDomain, int64_t, const Value&)>& f) const {
    for (const Entry& e : event_) {
        f(TimeDomain::kEventTime, e.time, key_of(e));
    }
    for (const Entry& e : processing_) {
        f(TimeDomain::kProcessingTime, e.time, key_of(e));
    }
}

size_t TimerService::fire_due(TimeDomain domain, int64_t time,
                              const std::function<void(const Timer&)>& fire) {
    auto& set = timers(domain);
    size_t fired = 0;
    while (!set.empty() && set.begin()->time <= time) {
        Entry e = std::move(set.extract(set.begin()).value());
        Timer t{domain, e.time, key_of(e)};
        fire(t);
        ++fired;
        // After firing: `t.key` may point into `e`.
        removed(domain, std::move(e));
    }
    return fired;
}

int64_t TimerService::next(TimeDomain domain) const {
    const auto& set = domain == TimeDomain::kEventTime ? event_ : processing_;
    return set.empty() ? INT64_MAX : set.begin()->time;
}

}  // namespace eddy
