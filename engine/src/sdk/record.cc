// SPDX-License-Identifier: Apache-2.0
#include "eddy/record.h"

#include <algorithm>

namespace eddy {

void Record::set_value(FieldId id, const Value& v) {
    switch (v.type()) {
        case ValueType::kString:
            set(id, v.as_string());
            break;
        case ValueType::kVector:
            set(id, v.as_vector());
            break;
        default:
            put(id, v);
            break;
    }
}

bool Record::erase(FieldId id) {
    auto it =
        std::find_if(fields_.begin(), fields_.end(), [id](const Field& f) { return f.id == id; });
    if (it == fields_.end()) {
        return false;
    }
    fields_.erase(it);
    return true;
}

static Value copy_into(Arena& arena, const Value& v) {
    switch (v.type()) {
        case ValueType::kString:
            return Value::string_view(arena.copy(v.as_string()));
        case ValueType::kVector:
            return Value::vector_view(arena.copy(v.as_vector()));
        default:
            return v;
    }
}

void Record::assign(const Record& other) {
    time_ = other.time_;
    fields_.resize(other.fields_.size());
    for (size_t i = 0; i < other.fields_.size(); ++i) {
        fields_[i].id = other.fields_[i].id;
        fields_[i].value = copy_into(*arena_, other.fields_[i].value);
    }
    // A key that views one of the record's fields is re-pointed at the copy.
    key_ = copy_into(*arena_, other.key_);
}

Record& Batch::append() {
    if (size_ == records_.size()) {
        records_.push_back(std::make_unique<Record>(arena_.get()));
    }
    Record& r = *records_[size_++];
    r.clear();
    return r;
}

Record& Batch::append_copy(const Record& r) {
    Record& dst = append();
    dst.assign(r);
    return dst;
}

void Batch::clear() {
    size_ = 0;
    watermark_ = kNoWatermark;
    arena_->reset();
}

void Batch::copy_to(Batch& dst) const {
    dst.clear();
    for (size_t i = 0; i < size_; ++i) {
        dst.append_copy(*records_[i]);
    }
    dst.set_watermark(watermark_);
}

}  // namespace eddy
