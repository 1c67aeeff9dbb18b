// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace eddy {

/// What went wrong, in one word. Each code has one sentence in status_code_text().
enum class StatusCode {
    kOk,
    kInvalidArgument,  ///< A configuration value or an argument is not acceptable.
    kNotFound,         ///< A named thing (file, component, field) does not exist.
    kIoError,          ///< Reading or writing a file, pipe or socket failed.
    kParseError,       ///< Input data could not be decoded.
    kUnsupported,      ///< The request is valid but this build cannot do it.
    kInternal,         ///< A bug in Eddy or a plugin; the message says where.
    kAborted,          ///< The job was stopped before the work finished.
};

/// One sentence describing a code, for logs and docs.
const char* status_code_text(StatusCode code);

/// The result of a fallible call: ok, or a code and a full-sentence message.
/// Cheap to return when ok (no allocation). Never ignore one.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok() { return {}; }
    static Status invalid_argument(std::string m) {
        return {StatusCode::kInvalidArgument, std::move(m)};
    }
    static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
    static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
    static Status parse_error(std::string m) { return {StatusCode::kParseError, std::move(m)}; }
    static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
    static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
    static Status aborted(std::string m) { return {StatusCode::kAborted, std::move(m)}; }

    bool is_ok() const { return code_ == StatusCode::kOk; }
    explicit operator bool() const { return is_ok(); }
    StatusCode code() const { return code_; }
    const std::string& message() const { return message_; }

    /// "io_error: cannot open /x: No such file or directory".
    std::string to_string() const;

private:
    StatusCode code_ = StatusCode::kOk;
    std::string message_;
};

/// A value or the Status that explains why there is none.
template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
    Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

    bool is_ok() const { return v_.index() == 0; }
    explicit operator bool() const { return is_ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The error; Status::ok() when a value is present.
    Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }

private:
    std::variant<T, Status> v_;
};

}  // namespace eddy

/// Returns early from the enclosing function when `expr` yields a failed Status.
#define EDDY_RETURN_IF_ERROR(expr)            \
    do {                                      \
        ::eddy::Status eddy_status_ = (expr); \
        if (!eddy_status_.is_ok()) {          \
            return eddy_status_;              \
        }                                     \
    } while (false)
