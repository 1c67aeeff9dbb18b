// SPDX-License-Identifier: Apache-2.0
#include "runtime/tap.h"

#include <charconv>
#include <cstdint>

namespace eddy {

namespace {

size_t event_bytes(const TapEvent& e) {
    size_t n = sizeof(TapEvent) + e.json.size();
    for (const std::string& s : e.inputs) {
        n += s.size();
    }
    for (const StoredState& s : e.before) {
        n += s.stored.size();
    }
    for (const StoredState& s : e.after) {
        n += s.stored.size();
    }
    return n;
}

}  // namespace

void read_stored_states(const std::vector<StateHandle*>& states, std::string_view encoded_key,
                        std::string_view only, std::vector<StoredState>& out) {
    std::string value;
    for (StateHandle* h : states) {
        if (!h->keyed() || (!only.empty() && h->name() != only)) {
            continue;
        }
        StoredState& s = out.emplace_back();
        s.name = h->name();
        s.version = h->format_version();
        s.stored.assign(sizeof(int64_t), '\0');  // the touched time: not tracked here
        value.clear();
        s.found = h->lookup(encoded_key, value);
        s.stored += value;
    }
}

Tap::Tap(TapRequest request, size_t component, const FieldTable& fields)
    : request_(std::move(request)),
      component_(component),
      encoder_([&fields](FieldId id) { return fields.name(id); }) {
    if (request_.key) {
        const std::string& k = *request_.key;
        int64_t n = 0;
        auto [end, ec] = std::from_chars(k.data(), k.data() + k.size(), n);
        if (ec == std::errc() && end == k.data() + k.size()) {
            key_int_ = n;
        }
    }
}

bool Tap::reads(size_t component, std::string_view output) const {
    if (!reads_component(component)) {
        return false;
    }
    return request_.output == "*" || request_.output == output;
}

bool Tap::is_key(const Value& v) const {
    if (!request_.key) {
        return false;
    }
    if (v.is_string()) {
        return v.as_string() == *request_.key;
    }
    return v.is_int() && key_int_ && v.as_int() == *key_int_;
}

bool Tap::matches(const Record& record, const std::vector<FieldId>& key_fields) const {
    if (!request_.key || is_key(record.key())) {
        return true;
    }
    for (FieldId f : key_fields) {
        const Value* v = record.get(f);
        if (v != nullptr && is_key(*v)) {
            return true;
        }
    }
    return false;
}

bool Tap::sampled() {
    if (request_.sample >= 1) {
        return true;
    }
    // splitmix64: a cheap, well-mixed stream, one per tap.
    uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53 < request_.sample;
}

std::string Tap::encode(const Record& record) {
    std::string json;
    encoder_.append(record, json);
    return json;
}

void Tap::offer(std::string_view component, std::string_view output, int shard, const Batch& batch,
                const std::vector<FieldId>& key_fields) {
    for (size_t i = 0; i < batch.size() && !ended(); ++i) {
        const Record& r = batch[i];
        if (!matches(r, key_fields) || !sampled()) {
            continue;
        }
        TapEvent e;
        e.component = component;
        e.output = output;
        e.shard = shard;
        e.time = r.time();
        e.json = encode(r);
        deliver(std::move(e));
    }
}

void Tap::deliver(TapEvent&& event) {
    push(std::move(event));
    if (request_.limit != 0 && ++taken_ >= request_.limit) {
        end("limit reached");
    }
}

void Tap::push(TapEvent&& event) {
    size_t bytes = event_bytes(event);
    {
        std::lock_guard lock(mu_);
        if (!end_reason_.empty()) {
            return;
        }
        if (queue_.size() >= request_.capacity || queued_bytes_ + bytes > request_.capacity_bytes) {
            ++dropped_;
            return;
        }
        queued_bytes_ += bytes;
        queue_.push_back(std::move(event));
    }
    cv_.notify_one();
}

void Tap::end(std::string reason) {
    {
        std::lock_guard lock(mu_);
        if (!end_reason_.empty()) {
            return;
        }
        end_reason_ = std::move(reason);
        ended_.store(true, std::memory_order_release);
    }
    cv_.notify_all();
}

std::string Tap::end_reason() const {
    std::lock_guard lock(mu_);
    return end_reason_;
}

bool Tap::take(std::vector<TapEvent>& out, std::chrono::milliseconds wait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, wait, [&] { return !queue_.empty() || !end_reason_.empty(); });
    bool more = end_reason_.empty();
    while (!queue_.empty()) {
        out.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    queued_bytes_ = 0;
    return more;
}

uint64_t Tap::take_dropped() {
    std::lock_guard lock(mu_);
    uint64_t n = dropped_;
    dropped_ = 0;
    return n;
}

}  // namespace eddy
