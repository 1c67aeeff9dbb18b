// SPDX-License-Identifier: Apache-2.0
#include "common/item_index.h"

#include <cstring>

namespace eddy {

bool encode_item_id(const Value& item, std::string& out) {
    out.clear();
    if (item.is_string()) {
        out.push_back('s');
        out.append(item.as_string());
        return true;
    }
    if (item.is_int()) {
        int64_t v = item.as_int();
        out.push_back('i');
        out.append(reinterpret_cast<const char*>(&v), sizeof v);
        return true;
    }
    return false;
}

Value decode_item_id(std::string_view id) {
    if (!id.empty() && id[0] == 'i' && id.size() == 1 + sizeof(int64_t)) {
        int64_t v = 0;
        std::memcpy(&v, id.data() + 1, sizeof v);
        return Value::integer(v);
    }
    return Value::string_view(id.empty() ? id : id.substr(1));
}

uint32_t ItemIndex::find(std::string_view id) const {
    Map::const_accessor found;
    return map_.find(found, id) ? found->second : kNone;
}

void ItemIndex::encode(StateWriter& w) const {
    uint32_t n = size();
    w.varint(n);
    for (uint32_t i = 0; i < n; ++i) {
        w.str(entries_[i].id);
    }
}

void ItemIndex::add_restored(std::string_view id) {
    uint32_t i = next_.load(std::memory_order_relaxed);
    entries_.ensure(i);
    entries_[i].id.assign(id);
    entries_[i].ready.store(true, std::memory_order_release);
    Map::accessor acc;
    map_.insert(acc, id);
    acc->second = i;
    next_.store(i + 1, std::memory_order_release);
}

}  // namespace eddy
