// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/codec.h"
#include "eddy/config.h"
#include "eddy/operator.h"
#include "eddy/param.h"
#include "eddy/source.h"
#include "eddy/status.h"

namespace eddy {

enum class ComponentKind { kSource, kOperator, kSink };

/// "source", "operator" or "sink".
const char* component_kind_name(ComponentKind kind);

/// Whether an operator takes a `key:` (the field whose value partitions its state).
enum class KeyMode { kNone, kOptional, kRequired };

struct OutputSpec {
    std::string name;
    std::string doc;
};

/// A state handle an operator keeps (a KeyedValue or Global it registers in
/// open()), declared with OperatorSpec::keyed_state<T>() or global_state<T>():
/// for docs, and so that `eddy state get` and `eddy state dump` can decode
/// its values without running the operator.
struct StateSpec {
    std::string name;  ///< The handle's name, as registered in open().
    std::string doc;
    bool keyed = true;           ///< Per key (KeyedValue) rather than per instance (Global).
    bool shared = false;         ///< One value for all shards (Shared).
    uint8_t format_version = 0;  ///< Codec<T>::kVersion.
    /// Decodes a value as encode_state() wrote it (version byte first) and
    /// appends its JSON to `out`; false when the bytes are not a valid value.
    /// nullptr when Codec<T> has no to_json().
    bool (*to_json)(std::string_view encoded, std::string& out) = nullptr;
};

/// A titled YAML snippet for docs; checked by a test to validate.
struct ExampleSpec {
    std::string title;
    std::string yaml;
};

/// A cross-field rule: returns an empty string when the config is fine,
/// otherwise a full-sentence error reported by `eddy validate`.
using ConfigRule = std::function<std::string(const Config&)>;

using OperatorFactory = std::function<Result<std::unique_ptr<Operator>>(const Config&)>;
using SourceFactory = std::function<Result<std::unique_ptr<Source>>(const Config&)>;
using SinkFactory = std::function<Result<std::unique_ptr<Sink>>(const Config&)>;

/// Everything the engine knows about a component type. Built with
/// OperatorSpec, SourceSpec or SinkSpec; validation, `eddy operators` and
/// docs/operators.md are generated from it.
struct ComponentSpec {
    ComponentKind kind = ComponentKind::kOperator;
    std::string name;
    std::string summary;
    std::string description;
    std::vector<Param> params;
    std::vector<OutputSpec> outputs;  ///< Named outputs besides the main one.
    std::vector<ExampleSpec> examples;
    std::vector<ConfigRule> rules;
    KeyMode key = KeyMode::kNone;
    std::vector<StateSpec> states;  ///< State handles it keeps; empty when stateless.
    OperatorFactory make_operator;
    SourceFactory make_source;
    SinkFactory make_sink;
    /// Where it came from: "built-in" or a plugin's path. Set by the registry.
    std::string origin;

    const Param* find_param(std::string_view name) const;
    bool has_output(std::string_view name) const;
    const StateSpec* find_state(std::string_view name) const;
};

/// Fluent builder shared by the three kinds (CRTP keeps the chain typed).
template <class Self>
class SpecBuilder {
public:
    Self& summary(std::string s) {
        spec_.summary = std::move(s);
        return self();
    }
    Self& description(std::string s) {
        spec_.description = std::move(s);
        return self();
    }
    Self& param(Param p) {
        spec_.params.push_back(std::move(p));
        return self();
    }
    Self& output(std::string name, std::string doc) {
        spec_.outputs.push_back({std::move(name), std::move(doc)});
        return self();
    }
    Self& example(std::string title, std::string yaml) {
        spec_.examples.push_back({std::move(title), std::move(yaml)});
        return self();
    }
    Self& rule(ConfigRule r) {
        spec_.rules.push_back(std::move(r));
        return self();
    }
    /// The finished spec (a copy: specs are built once, at registration).
    operator ComponentSpec() const { return spec_; }  // NOLINT(google-explicit-constructor)
    ComponentSpec build() const { return spec_; }

protected:
    SpecBuilder(ComponentKind kind, std::string name) {
        spec_.kind = kind;
        spec_.name = std::move(name);
    }
    Self& self() { return static_cast<Self&>(*this); }
    ComponentSpec spec_;
};

class OperatorSpec : public SpecBuilder<OperatorSpec> {
public:
    explicit OperatorSpec(std::string name)
        : SpecBuilder(ComponentKind::kOperator, std::move(name)) {}
    OperatorSpec& keyed(KeyMode mode) {
        spec_.key = mode;
        return *this;
    }
    /// Declares a KeyedValue<T> named `name` that the operator registers in
    /// open(); `doc` says what it holds per key.
    template <Encodable T>
    OperatorSpec& keyed_state(std::string name, std::string doc) {
        return add_state<T>(std::move(name), std::move(doc), true);
    }
    /// Declares a Global<T> (one value per operator instance) named `name`.
    template <Encodable T>
    OperatorSpec& global_state(std::string name, std::string doc) {
        return add_state<T>(std::move(name), std::move(doc), false);
    }
    /// Declares a Shared<T> (one value for every shard, a model) named `name`.
    template <Encodable T>
    OperatorSpec& shared_state(std::string name, std::string doc) {
        add_state<T>(std::move(name), std::move(doc), false);
        spec_.states.back().shared = true;
        return *this;
    }
    OperatorSpec& factory(OperatorFactory f) {
        spec_.make_operator = std::move(f);
        return *this;
    }

private:
    template <Encodable T>
    OperatorSpec& add_state(std::string name, std::string doc, bool keyed) {
        StateSpec st{std::move(name), std::move(doc), keyed, false, Codec<T>::kVersion, nullptr};
        if constexpr (JsonRenderable<T>) {
            st.to_json = &state_to_json<T>;
        }
        spec_.states.push_back(std::move(st));
        return *this;
    }
};

class SourceSpec : public SpecBuilder<SourceSpec> {
public:
    explicit SourceSpec(std::string name) : SpecBuilder(ComponentKind::kSource, std::move(name)) {}
    SourceSpec& factory(SourceFactory f) {
        spec_.make_source = std::move(f);
        return *this;
    }
};

class SinkSpec : public SpecBuilder<SinkSpec> {
public:
    explicit SinkSpec(std::string name) : SpecBuilder(ComponentKind::kSink, std::move(name)) {}
    SinkSpec& factory(SinkFactory f) {
        spec_.make_sink = std::move(f);
        return *this;
    }
};

/// A factory that builds `T` from a Config with `T(const Config&)`.
template <class Base, class T>
Result<std::unique_ptr<Base>> make_component(const Config& cfg) {
    return std::unique_ptr<Base>(std::make_unique<T>(cfg));
}

}  // namespace eddy
