// SPDX-License-Identifier: Apache-2.0
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eddy/registry.h"
#include "eddy/source.h"

#include "record/json.h"

namespace eddy {
namespace {

// Output is written in chunks of about this size, and at flush() and close().
constexpr size_t kBufferBytes = 1 << 20;

/// Writes JSON Lines to a file, or to standard output when `path` is empty.
class JsonLinesSink final : public Sink {
public:
    JsonLinesSink(std::string component, std::string path, bool append)
        : component_(std::move(component)), path_(std::move(path)), append_(append) {}
    ~JsonLinesSink() override {
        if (fd_ >= 0 && !path_.empty()) {
            ::close(fd_);
        }
    }

    Status open(SinkContext& ctx) override {
        encoder_ = std::make_unique<JsonEncoder>([&ctx](FieldId id) { return ctx.field_name(id); });
        buffer_.reserve(kBufferBytes + 64 * 1024);
        if (path_.empty()) {
            fd_ = STDOUT_FILENO;
            return Status::ok();
        }
        std::filesystem::path parent = std::filesystem::path(path_).parent_path();
        if (!parent.empty()) {
            std::error_code ec;
            std::filesystem::create_directories(parent, ec);
            if (ec) {
                return Status::io_error(prefix() + "cannot create directory '" + parent.string() +
                                        "': " + ec.message());
            }
        }
        // A resumed job adds to what the earlier run wrote, whatever `append` says.
        const bool resuming = ctx.resuming();
        int flags = O_CREAT | O_CLOEXEC;
        if (resuming) {
            flags |= O_RDWR | O_APPEND;  // read: to look at the last byte
        } else {
            flags |= O_WRONLY | (append_ ? O_APPEND : O_TRUNC);
        }
        fd_ = ::open(path_.c_str(), flags, 0644);
        if (fd_ < 0) {
            return Status::io_error(prefix() + "cannot open '" + path_ +
                                    "' for writing: " + std::strerror(errno));
        }
        return resuming ? end_torn_line(ctx) : Status::ok();
    }

    Status write(const Batch& batch) override {
        for (size_t i = 0; i < batch.size(); ++i) {
            encoder_->append(batch[i], buffer_);
            buffer_ += '\n';
            if (buffer_.size() >= kBufferBytes) {
                EDDY_RETURN_IF_ERROR(write_out());
            }
        }
        return Status::ok();
    }

    /// Hands everything buffered to the operating system (visible to readers).
    Status flush() override { return write_out(); }

    Status close() override {
        Status s = write_out();
        if (fd_ >= 0 && !path_.empty()) {
            if (::close(fd_) != 0 && s.is_ok()) {
                s = Status::io_error(prefix() + "cannot close '" + path_ +
                                     "': " + std::strerror(errno));
            }
        }
        fd_ = -1;
        return s;
    }

private:
    std::string prefix() const { return "sink '" + component_ + "': "; }

    // A crash can leave a partly written last line; ending it keeps the next
    // record on a line of its own (the torn line stays, as one bad line).
    Status end_torn_line(ComponentContext& ctx) {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            return Status::io_error(prefix() + "cannot stat '" + path_ +
                                    "': " + std::strerror(errno));
        }
        if (st.st_size == 0) {
            return Status::ok();
        }
        char last = 0;
        if (::pread(fd_, &last, 1, st.st_size - 1) != 1) {
            return Status::io_error(prefix() + "cannot read the end of '" + path_ +
                                    "': " + std::strerror(errno));
        }
        if (last == '\n') {
            return Status::ok();
        }
        ctx.log(LogLevel::kWarn, "'" + path_ +
                                     "' ends in a partial line from the earlier run; ending it "
                                     "with a newline before appending");
        buffer_ += '\n';
        return write_out();
    }
    std::string target() const { return path_.empty() ? "to stdout" : "'" + path_ + "'"; }

    Status write_out() {
        size_t done = 0;
        while (done < buffer_.size()) {
            if (fd_ < 0) {
                return Status::internal(prefix() + "write after close");
            }
            ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                int err = errno;
                buffer_.erase(0, done);
                return Status::io_error(prefix() + "cannot write " + target() + ": " +
                                        std::strerror(err));
            }
            done += static_cast<size_t>(n);
        }
        buffer_.clear();
        return Status::ok();
    }

    std::string component_;
    std::string path_;  // empty: stdout
    bool append_;
    int fd_ = -1;
    std::unique_ptr<JsonEncoder> encoder_;
    std::string buffer_;
};

class NullSink final : public Sink {
public:
    Status open(SinkContext&) override { return Status::ok(); }
    Status write(const Batch&) override { return Status::ok(); }
};

}  // namespace
}  // namespace eddy

EDDY_REGISTER_SINK(file) {
    using eddy::Param;
    return eddy::SinkSpec("file")
        .summary("Writes records to a file as JSON Lines, one object per line.")
        .description(
            "Fields are written in record order; doubles in shortest round-trip form (NaN and "
            "infinities as null); vectors as arrays. Parent directories are created. Output "
            "is buffered (about 1 MiB) and written at each flush and at the end; a write error "
            "such as a full disk stops the job. A job restarted from a checkpoint appends, "
            "even with `append: false`, so records after the last checkpoint may appear "
            "twice (at-least-once); a partial last line left by a crash is ended with a "
            "newline first.")
        .param(Param::string("path")
                   .required()
                   .doc("The file to write; parent directories are created.")
                   .example("out/recommendations.jsonl"))
        .param(Param::enumeration("format", {"json"})
                   .default_value("json")
                   .doc("The output format: `json` (JSON Lines)."))
        .param(Param::boolean("append").default_value(false).doc(
            "Append to an existing file instead of replacing it."))
        .example("A stream to a file, appending across runs", R"(sinks:
  archive:
    type: file
    input: clicks
    path: out/clicks.jsonl
    append: true
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Sink>> {
            return std::unique_ptr<eddy::Sink>(std::make_unique<eddy::JsonLinesSink>(
                cfg.component(), cfg.string("path"), cfg.has("append") && cfg.boolean("append")));
        });
}

EDDY_REGISTER_SINK(stdout) {
    return eddy::SinkSpec("stdout")
        .summary("Writes records to standard output as JSON Lines.")
        .description("Buffered like the file sink; a closed pipe stops the job with an error.")
        .example("Print everything", R"(sinks:
  print:
    type: stdout
    input: clicks
)")
        .factory([](const eddy::Config& cfg) -> eddy::Result<std::unique_ptr<eddy::Sink>> {
            return std::unique_ptr<eddy::Sink>(
                std::make_unique<eddy::JsonLinesSink>(cfg.component(), "", false));
        });
}

EDDY_REGISTER_SINK(null) {
    return eddy::SinkSpec("null")
        .summary("Discards every record (for benchmarks and dry runs).")
        .example("Measure throughput without output", R"(sinks:
  sink:
    type: null
    input: clicks
)")
        .factory([](const eddy::Config&) -> eddy::Result<std::unique_ptr<eddy::Sink>> {
            return std::unique_ptr<eddy::Sink>(std::make_unique<eddy::NullSink>());
        });
}
