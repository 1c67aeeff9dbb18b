// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <concepts>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/json_writer.h"

namespace eddy {

/// Appends a compact binary encoding to a string: varints, zigzag ints,
/// little-endian doubles and floats, length-prefixed strings. For codecs.
class StateWriter {
public:
    explicit StateWriter(std::string& out) : out_(out) {}
    void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void varint(uint64_t v) {
        while (v >= 0x80) {
            out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
            v >>= 7;
        }
        out_.push_back(static_cast<char>(v));
    }
    void i64(int64_t v) {
        varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
    }
    void f64(double v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
    void f32(float v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
    void str(std::string_view s) {
        varint(s.size());
        out_.append(s);
    }
    void floats(std::span<const float> v) {
        varint(v.size());
        out_.append(reinterpret_cast<const char*>(v.data()), v.size_bytes());
    }

private:
    std::string& out_;
};

/// Reads what StateWriter wrote. Every read returns false (and stays false)
/// once the input is exhausted or malformed, so a codec can read everything
/// and check once.
class StateReader {
public:
    explicit StateReader(std::string_view in) : in_(in) {}
    bool u8(uint8_t& v) {
        if (!need(1)) {
            return false;
        }
        v = static_cast<uint8_t>(in_[0]);
        in_.remove_prefix(1);
        return true;
    }
    bool varint(uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            uint8_t b = 0;
            if (!u8(b)) {
                return false;
            }
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if ((b & 0x80) == 0) {
                return true;
            }
        }
        ok_ = false;
        return false;
    }
    bool i64(int64_t& v) {
        uint64_t z = 0;
        if (!varint(z)) {
            return false;
        }
        v = static_cast<int64_t>((z >> 1) ^ (~(z & 1) + 1));
        return true;
    }
    bool f64(double& v) { return raw(&v, sizeof v); }
    bool f32(float& v) { return raw(&v, sizeof v); }
    bool str(std::string& s) {
        uint64_t n = 0;
        if (!varint(n) || !need(n)) {
            return false;
        }
        s.assign(in_.substr(0, n));
        in_.remove_prefix(n);
        return true;
    }
    bool floats(std::vector<float>& v) {
        uint64_t n = 0;
        if (!varint(n) || !need(n * sizeof(float))) {
            return false;
        }
        v.resize(n);
        return raw(v.data(), n * sizeof(float));
    }
    /// Whether every read so far succeeded.
    bool ok() const { return ok_; }
    /// Whether everything was read.
    bool done() const { return ok_ && in_.empty(); }

private:
    bool need(uint64_t n) {
        if (!ok_ || in_.size() < n) {
            ok_ = false;
        }
        return ok_;
    }
    bool raw(void* dst, size_t n) {
        if (!need(n)) {
            return false;
        }
        std::memcpy(dst, in_.data(), n);
        in_.remove_prefix(n);
        return true;
    }
    std::string_view in_;
    bool ok_ = true;
};

/// Serialization of a state value. Specialize it for each state type:
///     template <> struct Codec<Session> {
///         static constexpr uint8_t kVersion = 1;
///         static void encode(const Session& s, StateWriter& w);
///         static bool decode(StateReader& r, uint8_t version, Session& s);
///         static void to_json(const Session& s, JsonWriter& j);  // optional
///     };
/// The runtime writes the version byte first and passes it to decode(), so a
/// codec can read values written by an older version of itself. to_json()
/// writes one JSON value (usually an object naming every field; times as
/// epoch milliseconds) for `eddy state get` and `eddy state dump`.
template <class T>
struct Codec;

/// A type with a usable Codec. Accepted signatures:
///     static constexpr uint8_t kVersion;
///     static void encode(const T&, StateWriter&);
///     static bool decode(StateReader&, uint8_t version, T&);
template <class T>
concept Encodable = requires(const T& value, T& target, StateWriter& w, StateReader& r) {
    { Codec<T>::kVersion } -> std::convertible_to<uint8_t>;
    Codec<T>::encode(value, w);
    { Codec<T>::decode(r, uint8_t{}, target) } -> std::same_as<bool>;
};

/// An Encodable type whose codec can also render a value as JSON:
///     static void to_json(const T&, JsonWriter&);
template <class T>
concept JsonRenderable = Encodable<T> && requires(const T& value, JsonWriter& j) {
    Codec<T>::to_json(value, j);
};

/// `value` encoded with its version byte.
template <Encodable T>
std::string encode_state(const T& value) {
    std::string out;
    StateWriter w(out);
    w.u8(Codec<T>::kVersion);
    Codec<T>::encode(value, w);
    return out;
}

/// Decodes what encode_state() wrote; false when the bytes are not a valid `T`.
template <Encodable T>
bool decode_state(std::string_view bytes, T& value) {
    StateReader r(bytes);
    uint8_t version = 0;
    return r.u8(version) && version <= Codec<T>::kVersion && Codec<T>::decode(r, version, value) &&
           r.done();
}

/// Decodes `bytes` (as encode_state() wrote them) and appends the value's
/// JSON to `out`; false, with `out` unchanged, when they are not a valid `T`.
template <JsonRenderable T>
bool state_to_json(std::string_view bytes, std::string& out) {
    T value{};
    if (!decode_state(bytes, value)) {
        return false;
    }
    JsonWriter j(out);
    Codec<T>::to_json(value, j);
    return true;
}

/// Heap bytes of common members, for codecs' heap_bytes() (see
/// HeapMeasured in state.h).
inline size_t heap_bytes_of(const std::string& s) {
    return s.capacity() > std::string().capacity() ? s.capacity() + 1 : 0;
}
template <class V>
size_t heap_bytes_of(const std::vector<V>& v) {
    return v.capacity() * sizeof(V);
}

template <>
struct Codec<int64_t> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const int64_t& v, StateWriter& w) { w.i64(v); }
    static bool decode(StateReader& r, uint8_t, int64_t& v) { return r.i64(v); }
    static void to_json(const int64_t& v, JsonWriter& j) { j.value(v); }
};

template <>
struct Codec<double> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const double& v, StateWriter& w) { w.f64(v); }
    static bool decode(StateReader& r, uint8_t, double& v) { return r.f64(v); }
    static void to_json(const double& v, JsonWriter& j) { j.value(v); }
};

template <>
struct Codec<std::string> {
    static constexpr uint8_t kVersion = 1;
    static void encode(const std::string& v, StateWriter& w) { w.str(v); }
    static bool decode(StateReader& r, uint8_t, std::string& v) { return r.str(v); }
    static void to_json(const std::string& v, JsonWriter& j) { j.value(v); }
    static size_t heap_bytes(const std::string& v) { return heap_bytes_of(v); }
};

}  // namespace eddy
