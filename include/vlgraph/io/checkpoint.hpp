// vlgraph/io/checkpoint.hpp — a Hugging Face model directory's weights: one
// `model.safetensors`, or shards listed by `model.safetensors.index.json`:
//
//   { "metadata": {...},                                   (ignored)
//     "weight_map": { "<tensor>": "model-00001-of-00002.safetensors", ... } }
//
// Shards are opened lazily, on the first request for one of their tensors, so
// the vision encoder of a large checkpoint loads without reading the header of
// any language-model shard. Every shard name must be a plain file name that
// resolves (symlinks followed) inside the directory. When a shard is opened it
// must hold exactly the tensors the index assigns to it.
//
//   auto ck = vl::checkpoint::open("Qwen3.6-27B");
//   std::vector<std::string> want = {"model.visual.patch_embed.proj.weight"};
//   auto loaded = vl::load_all(ck, want, vl::dtype::f32, [](double f, std::string_view) { return true; });
#pragma once

#include <vlgraph/dtype.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/tensor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vl {

// Index files larger than this are rejected (a 27B model's index is ~100 KB).
inline constexpr std::uint64_t checkpoint_max_index_bytes = 100'000'000;

// Parses and validates the text of a model.safetensors.index.json: returns its
// weight_map (tensor -> shard file name). Checks what can be checked without
// the file system: JSON shape, unique keys, tensor names, and shard names that
// are plain file names (not empty, absolute, "." / "..", or containing a path
// separator). `origin` starts every vl::format_error message.
inline std::map<std::string, std::string> parse_checkpoint_index(std::string_view text, std::string_view origin) {
    const std::string where(origin);
    if (const std::size_t bad = detail::invalid_utf8_at(text); bad != std::string_view::npos)
        throw format_error(where + ": not valid UTF-8 (byte " + std::to_string(bad) + ")");
    const nlohmann::json root = detail::parse_json_unique_keys(text, where);
    if (!root.is_object()) throw format_error(where + ": index must be a JSON object");
    if (!root.contains("weight_map")) throw format_error(where + ": missing \"weight_map\"");
    const auto& map = root["weight_map"];
    if (!map.is_object()) throw format_error(where + ": \"weight_map\" must be an object of tensor name -> shard file name");

    constexpr std::size_t max_file_name = 255;  // NAME_MAX
    std::map<std::string, std::string> out;
    for (const auto& [name, value] : map.items()) {
        if (const std::string problem = detail::tensor_name_problem(name); !problem.empty())
            throw format_error(where + ": weight_map: " + problem);
        const std::string at = where + ": weight_map: tensor " + detail::printable(name) + ": ";
        if (!value.is_string()) throw format_error(at + "shard must be a file name string (got " + json_summary(value) + ")");
        const auto& shard = value.get_ref<const std::string&>();
        if (shard.empty()) throw format_error(at + "shard file name is empty");
        if (shard.find('\0') != std::string::npos) throw format_error(at + "shard file name " + detail::printable(shard) + " contains a NUL byte");
        if (shard.front() == '/') throw format_error(at + "shard " + detail::printable(shard) + " is an absolute path");
        if (shard == ".." || shard.starts_with("../") || shard.find("/../") != std::string::npos || shard.ends_with("/.."))
            throw format_error(at + "shard " + detail::printable(shard) + " escapes the model directory ('..')");
        if (shard == "." || shard.find_first_of("/\\") != std::string::npos)
            throw format_error(at + "shard " + detail::printable(shard) + " must be a plain file name inside the model directory");
        if (shard.size() > max_file_name)
            throw format_error(at + "shard file name of " + std::to_string(shard.size()) + " bytes is too long");
        out.emplace(name, shard);
    }
    return out;
}

// The weights of a model directory. Move-only; safe to read from several threads.
class checkpoint {
public:
    static constexpr const char* single_file = "model.safetensors";
    static constexpr const char* index_file = "model.safetensors.index.json";

    static checkpoint open(const std::filesystem::path& dir) {
        namespace fs = std::filesystem;
        auto st = std::make_unique<state>();
        st->dir = dir;
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) throw io_error(dir.string() + ": not a directory");
        const fs::path index = dir / index_file;
        if (fs::exists(index, ec)) {
            st->indexed = true;
            std::map<std::string, std::size_t> shard_of_file;
            for (const auto& [name, file] : parse_checkpoint_index(read_index(dir), index.string())) {
                auto [it, added] = shard_of_file.try_emplace(file, st->shards.size());
                if (added) st->shards.push_back(resolve_shard(dir, file, name, index));
                st->shards[it->second].names.push_back(name);
                st->where.emplace(name, it->second);
            }
        } else if (fs::exists(dir / single_file, ec)) {
            st->shards.push_back(resolve_shard(dir, single_file, "", dir / single_file));
            const safetensors_file& f = st->open_shard(0);
            for (const auto& t : f.tensors()) {
                st->shards[0].names.push_back(t.name);
                st->where.emplace(t.name, 0);
            }
        } else {
            throw format_error(dir.string() + ": no " + single_file + " or " + index_file + " in the directory");
        }
        return checkpoint(std::move(st));
    }

    const std::filesystem::path& directory() const { return st_->dir; }
    // All tensor names, sorted.
    std::vector<std::string> names() const {
        std::vector<std::string> out;
        for (const auto& [name, _] : st_->where) out.push_back(name);
        return out;
    }
    bool contains(std::string_view name) const { return st_->where.find(name) != st_->where.end(); }

    // The header entry of `name` (opens its shard); throws vl::format_error "missing tensor" naming the directory.
    const tensor_info& info(std::string_view name) const { return shard_of(name).info(name); }
    // See safetensors_file::get / load.
    tensor get(std::string_view name) const { return shard_of(name).get(name); }
    tensor load(std::string_view name, dtype as) const { return shard_of(name).load(name, as); }
    // NaN/Inf values of a floating tensor (the format allows them; see safetensors_file).
    std::size_t count_nonfinite(std::string_view name) const { return shard_of(name).count_nonfinite(name); }

    // Bytes of all shard files on disk (from stat; no shard is opened).
    std::uint64_t total_bytes() const {
        std::uint64_t n = 0;
        for (const auto& s : st_->shards) n += s.file_bytes;
        return n;
    }
    std::size_t shard_count() const { return st_->shards.size(); }
    // How many shards have been opened so far.
    std::size_t open_shard_count() const {
        std::lock_guard lock(st_->mutex);
        return static_cast<std::size_t>(std::count_if(st_->shards.begin(), st_->shards.end(), [](const shard& s) { return s.file != nullptr; }));
    }
    // Opens every shard, running all the index/shard consistency checks now.
    void verify() const {
        for (std::size_t i = 0; i < st_->shards.size(); ++i) st_->open_shard(i);
    }

private:
    struct shard {
        std::string file_name;
        std::filesystem::path path;
        std::uint64_t file_bytes = 0;
        std::vector<std::string> names;  // tensors the index assigns to this shard
        std::unique_ptr<safetensors_file> file;  // null until first use
    };
    struct state {
        std::filesystem::path dir;
        bool indexed = false;  // shards come from an index (else: the single model.safetensors)
        std::vector<shard> shards;
        std::map<std::string, std::size_t, std::less<>> where;  // tensor -> shard
        std::mutex mutex;

        const safetensors_file& open_shard(std::size_t i) {
            std::lock_guard lock(mutex);
            shard& s = shards[i];
            if (s.file) return *s.file;
            // Checked and used through one descriptor: the symlink check of checkpoint::open is repeated on
            // the file actually opened now, so a link swapped in between cannot escape the directory.
            auto f = std::make_unique<safetensors_file>(safetensors_file::open(open_in_dir(dir, s.file_name)));
            if (indexed) check_against_index(i, *f);
            s.file = std::move(f);
            return *s.file;
        }
        void check_against_index(std::size_t i, const safetensors_file& f) const {
            const std::string at = dir.string() + ": shard " + detail::printable(shards[i].file_name) + ": ";
            for (const auto& name : shards[i].names)
                if (!f.contains(name)) throw format_error(at + "missing tensor " + detail::printable(name) + " that the index assigns to it");
            for (const auto& t : f.tensors()) {
                const auto it = where.find(t.name);
                if (it == where.end()) throw format_error(at + "holds tensor " + detail::printable(t.name) + " that the index does not list");
                if (it->second != i)
                    throw format_error(at + "holds tensor " + detail::printable(t.name) + " that the index assigns to shard " +
                                       detail::printable(shards[it->second].file_name) + " (a tensor in two shards)");
            }
        }
    };
    explicit checkpoint(std::unique_ptr<state> st) : st_(std::move(st)) {}

    const safetensors_file& shard_of(std::string_view name) const {
        const auto it = st_->where.find(name);
        if (it == st_->where.end()) throw format_error(st_->dir.string() + ": missing tensor " + detail::printable(name));
        return st_->open_shard(it->second);
    }

    // The index, confined to the directory; a FIFO or device is refused without blocking (io/file.hpp).
    static std::string read_index(const std::filesystem::path& dir) {
        return read_file_in_dir(dir, index_file, checkpoint_max_index_bytes, "an index");
    }

    // The shard's path after checking that it exists, is a regular file, and
    // does not escape the model directory through a symlink.
    static shard resolve_shard(const std::filesystem::path& dir, const std::string& file_name, const std::string& for_tensor,
                               const std::filesystem::path& origin) {
        namespace fs = std::filesystem;
        const std::string at = origin.string() + ": shard " + detail::printable(file_name) +
                               (for_tensor.empty() ? std::string() : " (of tensor " + detail::printable(for_tensor) + ")") + ": ";
        const fs::path path = dir / file_name;
        std::error_code ec;
        if (!fs::exists(fs::symlink_status(path, ec))) throw format_error(at + "file " + path.string() + " does not exist");
        const fs::path real = fs::canonical(path, ec);
        if (ec) throw format_error(at + "cannot resolve " + path.string() + " (" + ec.message() + "; dangling symlink?)");
        check_confined(real, dir, at);  // io/file.hpp
        if (!fs::is_regular_file(real, ec)) throw format_error(at + path.string() + " is not a regular file");
        shard s;
        s.file_name = file_name;
        s.path = path;
        s.file_bytes = fs::file_size(real, ec);
        if (ec) throw io_error(path.string() + ": cannot stat: " + ec.message());
        return s;
    }

    std::unique_ptr<state> st_;
};

// What load_all did.
struct load_summary {
    std::map<std::string, tensor, std::less<>> tensors;
    std::size_t tensor_count = 0;
    std::uint64_t bytes_read = 0;  // stored bytes read from the shards
    double seconds = 0;
};

// Called after each tensor with the fraction of bytes loaded so far (monotone,
// 1.0 after the last) and the tensor's name; returning false aborts the load.
using load_progress = std::function<bool(double fraction, std::string_view name)>;

// Loads `names` (duplicates once) as host copies: floating-point tensors are
// converted to `compute`, integer tensors keep their dtype (converting ids or
// positions to a float type would lose them). Opens only the shards that hold
// the requested tensors. Aborting throws vl::error "loading aborted".
inline load_summary load_all(const checkpoint& ck, std::span<const std::string> names, dtype compute, const load_progress& progress = {}) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<const std::string*> todo;
    std::set<std::string_view> seen;
    std::uint64_t total = 0;
    for (const auto& n : names) {
        if (!seen.insert(n).second) continue;
        todo.push_back(&n);
        total += ck.info(n).bytes();  // fails on a missing tensor before anything is loaded
    }

    load_summary out;
    for (std::size_t i = 0; i < todo.size(); ++i) {
        const std::string& name = *todo[i];
        const tensor_info& ti = ck.info(name);
        out.tensors.emplace(name, ck.load(name, is_floating(ti.type) ? compute : ti.type));
        out.bytes_read += ti.bytes();
        // By bytes, so that progress tracks time; by count when every tensor is empty.
        const double fraction = i + 1 == todo.size() ? 1.0
                                : total > 0         ? static_cast<double>(out.bytes_read) / static_cast<double>(total)
                                                    : static_cast<double>(i + 1) / static_cast<double>(todo.size());
        if (progress && !progress(fraction, name))
            throw error(ck.directory().string() + ": loading aborted by the progress callback after " + std::to_string(i + 1) + " of " +
                        std::to_string(todo.size()) + " tensors (at " + detail::printable(name) + ")");
    }
    out.tensor_count = out.tensors.size();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

}  // namespace vl
