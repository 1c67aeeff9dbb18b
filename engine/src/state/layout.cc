// SPDX-License-Identifier: Apache-2.0
#include "state/layout.h"

namespace eddy::state {

std::string operator_family(std::string_view op) {
    return "op:" + std::string(op);
}
std::string timer_family(std::string_view op) {
    return "timers:" + std::string(op);
}

std::string spill_family(std::string_view op) {
    return "spill:" + std::string(op);
}

std::string entry_key(uint16_t group, uint8_t handle, std::string_view encoded_key) {
    std::string k;
    assign_entry_key(k, group, handle, encoded_key);
    return k;
}

void assign_entry_key(std::string& out, uint16_t group, uint8_t handle,
                      std::string_view encoded_key) {
    out.clear();
    put_u16(out, group);
    out.push_back(static_cast<char>(handle));
    out.append(encoded_key);
}

std::string timer_key(uint8_t domain, int64_t time, std::string_view encoded_key) {
    std::string k;
    put_u16(k, key_group_of_encoded(encoded_key));
    k.push_back(static_cast<char>(domain));
    put_time(k, time);
    k.append(encoded_key);
    return k;
}

uint16_t key_group_of_encoded(std::string_view encoded_key) {
    // Must match runtime/key_groups.h: FNV-1a over the key's bytes, mod 4096.
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 1; i < encoded_key.size(); ++i) {
        h ^= static_cast<unsigned char>(encoded_key[i]);
        h *= 1099511628211ull;
    }
    return static_cast<uint16_t>(h % 4096);
}

void put_u16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

uint16_t get_u16(std::string_view in) {
    return static_cast<uint16_t>((static_cast<unsigned char>(in[0]) << 8) |
                                 static_cast<unsigned char>(in[1]));
}

void put_time(std::string& out, int64_t t) {
    uint64_t u = static_cast<uint64_t>(t) ^ (uint64_t{1} << 63);
    for (int shift = 56; shift >= 0; shift -= 8) {
        out.push_back(static_cast<char>((u >> shift) & 0xff));
    }
}

int64_t get_time(std::string_view in) {
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i) {
        u = (u << 8) | static_cast<unsigned char>(in[static_cast<size_t>(i)]);
    }
    return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

uint16_t first_key_group(int shard, int parallelism) {
    // The smallest group g with g * parallelism / 4096 >= shard.
    uint64_t g = (static_cast<uint64_t>(shard) * 4096 + static_cast<uint64_t>(parallelism) - 1) /
                 static_cast<uint64_t>(parallelism);
    return static_cast<uint16_t>(g);
}

}  // namespace eddy::state
