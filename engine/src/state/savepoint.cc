// SPDX-License-Identifier: Apache-2.0
#include "state/savepoint.h"

#include <charconv>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>

#include <rocksdb/utilities/checkpoint.h>

#include "eddy/codec.h"

#include "state/layout.h"
#include "state/store.h"

namespace eddy::state {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMarkerHeader = "eddy-savepoint 1";
// Only the meta family is read; the checkpoint itself streams files.
constexpr uint64_t kSavepointMemory = 64ull << 20;

template <class T>
bool parse_number(std::string_view text, T& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
}

std::string utc_now() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

Status write_marker(const fs::path& dir, const SavepointInfo& info) {
    fs::path tmp = dir / (std::string(kSavepointMarker) + ".tmp");
    {
        std::ofstream out(tmp);
        out << kMarkerHeader << "\n"
            << "topology=" << info.topology << "\n"
            << "checkpoint=" << info.checkpoint_id << "\n"
            << "checkpoint_time_ms=" << info.checkpoint_time_ms << "\n"
            << "created=" << info.created << "\n";
        out.flush();
        if (!out) {
            return Status::io_error("cannot write '" + tmp.string() + "'");
        }
    }
    std::error_code ec;
    fs::rename(tmp, dir / kSavepointMarker, ec);
    if (ec) {
        return Status::io_error("cannot write '" + (dir / kSavepointMarker).string() +
                                "': " + ec.message());
    }
    return Status::ok();
}

Result<SavepointInfo> snapshot(const std::string& state_dir, const std::string& out_dir) {
    StateStore::OpenError error = StateStore::OpenError::kNone;
    auto opened = StateStore::open(state_dir, kSavepointMemory, &error);
    if (!opened.is_ok()) {
        if (error == StateStore::OpenError::kLocked) {
            return Status::io_error("state dir '" + state_dir +
                                    "' is in use by a running job; stop the job first (SIGTERM "
                                    "takes a last checkpoint), then take the savepoint");
        }
        return opened.status();
    }
    StateStore& store = *opened.value();
    SavepointInfo info;
    info.topology = store.get_meta("topology").value_or("");
    auto checkpoint = store.get_meta("checkpoint");
    if (!checkpoint) {
        return Status::invalid_argument("state dir '" + state_dir +
                                        "' holds no checkpoint yet; run the job until it "
                                        "checkpoints, then take the savepoint");
    }
    StateReader r(*checkpoint);
    if (!r.varint(info.checkpoint_id) || !r.i64(info.checkpoint_time_ms)) {
        return Status::io_error("state dir '" + state_dir + "' has an unreadable checkpoint id");
    }
    info.created = utc_now();

    rocksdb::Checkpoint* raw = nullptr;
    rocksdb::Status s = rocksdb::Checkpoint::Create(&store.db(), &raw);
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    if (s.ok()) {
        s = cp->CreateCheckpoint(out_dir);
    }
    if (!s.ok()) {
        return Status::io_error("cannot create savepoint '" + out_dir + "' from '" + state_dir +
                                "': " + s.ToString());
    }
    EDDY_RETURN_IF_ERROR(write_marker(out_dir, info));
    return info;
}

}  // namespace

Result<SavepointInfo> create_savepoint(const std::string& state_dir, const std::string& out_dir) {
    std::error_code ec;
    if (!fs::exists(fs::path(state_dir) / "CURRENT", ec)) {
        return Status::not_found("'" + state_dir + "' is not a state dir (no RocksDB files there)");
    }
    if (fs::exists(out_dir, ec)) {
        return Status::invalid_argument("savepoint dir '" + out_dir +
                                        "' already exists; choose a new path");
    }
    fs::path parent = fs::absolute(fs::path(out_dir), ec).parent_path();
    fs::create_directories(parent, ec);
    if (ec) {
        return Status::io_error("cannot create '" + parent.string() + "': " + ec.message());
    }
    auto info = snapshot(state_dir, out_dir);
    if (!info.is_ok()) {
        fs::remove_all(out_dir, ec);
    }
    return info;
}

Result<SavepointInfo> read_savepoint(const std::string& dir) {
    fs::path marker = fs::path(dir) / kSavepointMarker;
    std::ifstream in(marker);
    std::string line;
    if (!in || !std::getline(in, line) || line != kMarkerHeader) {
        return Status::not_found("'" + dir +
                                 "' is not an Eddy savepoint (no SAVEPOINT file); create one "
                                 "with `eddy savepoint create STATE_DIR OUT_DIR`");
    }
    SavepointInfo info;
    while (std::getline(in, line)) {
        size_t eq = line.find('=');
        if (eq == std::string::npos) {
            continue;
        }
        std::string key = line.substr(0, eq);
        std::string value = line.substr(eq + 1);
        bool ok = true;
        if (key == "topology") {
            info.topology = value;
        } else if (key == "checkpoint") {
            ok = parse_number(value, info.checkpoint_id);
        } else if (key == "checkpoint_time_ms") {
            ok = parse_number(value, info.checkpoint_time_ms);
        } else if (key == "created") {
            info.created = value;
        }
        if (!ok) {
            return Status::parse_error("'" + marker.string() + "' has a malformed line: " + line);
        }
    }
    if (!fs::exists(fs::path(dir) / "CURRENT")) {
        return Status::io_error("savepoint '" + dir + "' has a marker but no RocksDB files");
    }
    return info;
}

Status install_savepoint(const std::string& savepoint_dir, const std::string& state_dir) {
    std::error_code ec;
    if (fs::exists(state_dir, ec)) {
        return Status::invalid_argument("state dir '" + state_dir + "' already exists");
    }
    fs::path target(state_dir);
    fs::path tmp = target;
    tmp += ".savepoint-copy";
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) {
        return Status::io_error("cannot create '" + tmp.string() + "': " + ec.message());
    }
    for (const fs::directory_entry& entry : fs::directory_iterator(savepoint_dir, ec)) {
        const fs::path& from = entry.path();
        if (from.filename() == kSavepointMarker || !entry.is_regular_file()) {
            continue;
        }
        fs::path to = tmp / from.filename();
        // SST files never change once written, so the copy may share them.
        bool linked = false;
        if (from.extension() == ".sst") {
            std::error_code link_ec;
            fs::create_hard_link(from, to, link_ec);
            linked = !link_ec;
        }
        if (!linked) {
            fs::copy_file(from, to, ec);
        }
        if (ec) {
            std::string reason = ec.message();
            fs::remove_all(tmp, ec);
            return Status::io_error("cannot copy '" + from.string() + "' into '" + tmp.string() +
                                    "': " + reason);
        }
    }
    if (ec) {
        return Status::io_error("cannot read savepoint '" + savepoint_dir + "': " + ec.message());
    }
    fs::rename(tmp, target, ec);
    if (ec) {
        return Status::io_error("cannot move '" + tmp.string() + "' to '" + state_dir +
                                "': " + ec.message());
    }
    return Status::ok();
}

}  // namespace eddy::state
