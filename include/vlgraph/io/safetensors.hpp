// vlgraph/io/safetensors.hpp — reading and writing safetensors files.
//
// Layout of a safetensors file:
//
//   [ u64 little-endian N ][ N bytes: UTF-8 JSON header, space padded ][ data area ]
//
//   header = { "__metadata__": {"k": "v", ...},            (optional, string -> string)
//              "<name>": { "dtype": "BF16", "shape": [d0, d1, ...],
//                          "data_offsets": [begin, end] },  (bytes, relative to the data area)
//              ... }
//
// The reader treats every file as untrusted. The header is read with pread and
// fully validated before anything is mapped, so a malformed file is a
// vl::format_error (message: "<path>: [tensor \"name\": ]<rule broken>"), never a
// crash: lengths are bounded, sizes overflow-checked, keys unique, and the
// tensors' byte ranges must exactly tile the data area.
//
//   auto f = vl::safetensors_file::open("model.safetensors");
//   vl::tensor w = f.get("lm_head.weight");               // zero-copy view of the mapping
//   vl::tensor x = f.load("lm_head.weight", vl::dtype::f32);  // converted host copy
//   vl::save_safetensors("out.safetensors", {{"w", w}}, {{"format", "pt"}});
#pragma once

#include <vlgraph/dtype.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/io/mmap.hpp>
#include <vlgraph/tensor.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl {

// Header lengths above this are rejected (the limit of the reference implementation).
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;
// Tensor names longer than this are rejected.
inline constexpr std::size_t safetensors_max_name_bytes = 64 * 1024;

// One tensor of a safetensors header.
struct tensor_info {
    std::string name;
    dtype type = dtype::f32;
    dims shape;
    std::uint64_t begin = 0;  // byte range [begin, end) within the data area
    std::uint64_t end = 0;

    std::uint64_t bytes() const { return end - begin; }
    index_t numel() const { return checked_numel(shape); }
};

// A parsed and validated header.
struct safetensors_header {
    std::uint64_t header_bytes = 0;  // N
    std::uint64_t data_bytes = 0;    // size of the data area
    std::vector<tensor_info> tensors;  // sorted by name
    std::map<std::string, std::string> metadata;

    std::uint64_t data_start() const { return 8 + header_bytes; }
};

namespace detail {

// A tensor or key name as it appears in error messages: quoted, control bytes
// escaped, and cut short so that a 64 KiB name cannot flood a log.
inline std::string printable(std::string_view s) {
    constexpr std::size_t shown = 96;
    std::string out = "\"";
    for (std::size_t i = 0; i < s.size() && i < shown; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    if (s.size() > shown) out += "... (" + std::to_string(s.size()) + " bytes)";
    return out;
}

// Offset of the first byte that is not part of well-formed UTF-8 (no overlong
// forms, no surrogates, nothing above U+10FFFF), or npos if `s` is valid.
inline std::size_t invalid_utf8_at(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len;
        unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
        if (c < 0x80) len = 1;
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0) lo = 0xa0;       // overlong
            else if (c == 0xed) hi = 0x9f;  // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0) lo = 0x90;       // overlong
            else if (c == 0xf4) hi = 0x8f;  // above U+10FFFF
        } else return i;
        if (s.size() - i < len) return i;
        for (std::size_t k = 1; k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return i;
        }
        i += len;
    }
    return std::string_view::npos;
}

// Why `name` cannot name a tensor, or "" if it can.
inline std::string tensor_name_problem(std::string_view name) {
    if (name.empty()) return "tensor name is empty";
    if (name.size() > safetensors_max_name_bytes)
        return "tensor name of " + std::to_string(name.size()) + " bytes exceeds the limit of " +
               std::to_string(safetensors_max_name_bytes) + " bytes";
    if (name.find('\0') != std::string_view::npos) return "tensor name " + printable(name) + " contains a NUL byte";
    return "";
}

// Parses a JSON document, rejecting what nlohmann::json would silently accept:
// a key repeated within one object (nlohmann keeps the last one, so
// {"w": A, "w": B} and {"w": A, "w\u0065": B} would hide tensor A), and
// nesting deep enough to threaten the stack of whoever walks the result.
// Keys are compared after unescaping, so escaped-equal keys count as repeats.
inline nlohmann::json parse_json_unique_keys(std::string_view text, const std::string& where) {
    constexpr int max_depth = max_json_depth;  // vlgraph's one JSON depth limit (io/json.hpp); these files need 3
    struct object_frame {
        std::string name;  // key under which this object sits ("" at the top)
        std::set<std::string> keys;
        std::string last_key;
    };
    std::vector<object_frame> objects;
    int depth = 0;
    auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        using ev = nlohmann::json::parse_event_t;
        switch (event) {
            case ev::object_start:
            case ev::array_start:
                if (++depth > max_depth) throw format_error(where + ": " + json_depth_message(max_depth));
                if (event == ev::object_start) objects.push_back({objects.empty() ? std::string() : objects.back().last_key, {}, {}});
                break;
            case ev::object_end:
                --depth;
                objects.pop_back();
                break;
            case ev::array_end: --depth; break;
            case ev::key: {
                auto& top = objects.back();
                top.last_key = parsed.get<std::string>();
                if (!top.keys.insert(top.last_key).second)
                    throw format_error(where + ": duplicate key " + printable(top.last_key) +
                                       (objects.size() == 1 ? std::string(" at the top level") : " inside " + printable(top.name)));
                break;
            }
            case ev::value: break;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), callback);
    } catch (const nlohmann::json::exception& e) {
        throw format_error(where + ": invalid JSON: " + e.what());
    }
}

// A JSON value that must be a non-negative integer no larger than `max`.
inline std::uint64_t json_count(const nlohmann::json& v, std::uint64_t max, const std::string& where, const std::string& what) {
    if (!v.is_number_integer() || (!v.is_number_unsigned() && v.get<std::int64_t>() < 0))
        throw format_error(where + what + " is not a non-negative integer (got " + json_summary(v) + ")");
    const auto u = v.get<std::uint64_t>();
    if (u > max) throw format_error(where + what + " (" + std::to_string(u) + ") exceeds " + std::to_string(max));
    return u;
}

// End (exclusive) of the JSON object that starts at text[0], found by matching
// braces outside strings; npos if it never closes (the JSON parser then says why).
inline std::size_t json_object_end(std::string_view text) {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped) escaped = false;
            else if (c == '\\') escaped = true;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if ((c == '}' || c == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return std::string_view::npos;
}

inline dtype parse_dtype(const nlohmann::json& v, const std::string& where) {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        for (dtype t : {dtype::f32, dtype::f64, dtype::bf16, dtype::f16, dtype::i32, dtype::i64, dtype::u8})
            if (name_of(t) == s) return t;
    }
    throw format_error(where + "unsupported dtype " + (v.is_string() ? printable(v.get_ref<const std::string&>()) : json_summary(v)) +
                       " (supported: F32, F64, BF16, F16, I32, I64, U8)");
}

inline tensor_info parse_tensor_entry(const std::string& name, const nlohmann::json& entry, const std::string& origin) {
    const std::string where = origin + ": tensor " + printable(name) + ": ";
    if (!entry.is_object()) throw format_error(where + "entry must be an object with dtype, shape and data_offsets");
    for (const auto& [key, _] : entry.items())
        if (key != "dtype" && key != "shape" && key != "data_offsets")
            throw format_error(where + "unexpected field " + printable(key) + " (expected exactly dtype, shape, data_offsets)");
    for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!entry.contains(key)) throw format_error(where + "missing field \"" + key + "\"");

    tensor_info ti;
    ti.name = name;
    ti.type = parse_dtype(entry["dtype"], where);

    const auto& shape = entry["shape"];
    if (!shape.is_array()) throw format_error(where + "shape must be an array of non-negative integers");
    constexpr auto index_max = static_cast<std::uint64_t>(INT64_MAX);
    std::uint64_t numel = 1;
    bool overflow = false;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const std::uint64_t e = json_count(shape[i], index_max, where, "shape entry " + std::to_string(i));
        ti.shape.push_back(static_cast<index_t>(e));
        if (e != 0 && numel > index_max / e) overflow = true;  // keep checking the other entries' syntax
        else numel *= e;
    }
    if (overflow) throw format_error(where + "element count of shape " + to_string(ti.shape) + " overflows int64");
    const std::uint64_t esize = size_of(ti.type);
    if (numel > index_max / esize)
        throw format_error(where + "byte size of shape " + to_string(ti.shape) + " x " + std::to_string(esize) + "-byte " +
                           std::string(name_of(ti.type)) + " overflows int64");

    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2) throw format_error(where + "data_offsets must be an array of two non-negative integers");
    ti.begin = json_count(off[0], UINT64_MAX, where, "data_offsets[0]");
    ti.end = json_count(off[1], UINT64_MAX, where, "data_offsets[1]");
    if (ti.end < ti.begin)
        throw format_error(where + "data_offsets [" + std::to_string(ti.begin) + ", " + std::to_string(ti.end) + "] end < begin");
    if (ti.end - ti.begin != numel * esize)
        throw format_error(where + "data_offsets [" + std::to_string(ti.begin) + ", " + std::to_string(ti.end) + "] span " +
                           std::to_string(ti.end - ti.begin) + " bytes, but " + std::string(name_of(ti.type)) + " " +
                           to_string(ti.shape) + " needs " + std::to_string(numel * esize));
    return ti;
}

inline std::uint64_t read_le64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

}  // namespace detail

// Checks the header length N of a file of `file_size` bytes; throws vl::format_error.
inline void check_safetensors_header_length(std::uint64_t n, std::uint64_t file_size, std::string_view origin) {
    const std::string where(origin);
    if (file_size < 8)
        throw format_error(where + ": file of " + std::to_string(file_size) + " bytes is too small to hold the 8-byte header length");
    if (n < 2) throw format_error(where + ": header length " + std::to_string(n) + " is below the minimum of 2 (\"{}\")");
    if (n > safetensors_max_header_bytes)
        throw format_error(where + ": header length " + std::to_string(n) + " exceeds the limit of " +
                           std::to_string(safetensors_max_header_bytes) + " bytes");
    if (n > file_size - 8)
        throw format_error(where + ": header length " + std::to_string(n) + " exceeds the file size (" + std::to_string(file_size) +
                           " bytes)");
}

// Parses and validates the header of a safetensors file of `file_size` bytes
// whose first bytes (at least 8 + N of them; the whole file will do) are
// `file_start`. `origin` (normally the path) starts every error message.
inline safetensors_header parse_safetensors_header(std::string_view file_start, std::uint64_t file_size, std::string_view origin) {
    const std::string where(origin);
    if (file_start.size() < 8)
        throw format_error(where + ": file of " + std::to_string(std::min<std::uint64_t>(file_size, file_start.size())) +
                           " bytes is too small to hold the 8-byte header length");
    const std::uint64_t n = detail::read_le64(file_start.data());
    check_safetensors_header_length(n, file_size, origin);
    if (file_start.size() - 8 < n) throw format_error(where + ": file ends inside the " + std::to_string(n) + "-byte header");
    const std::string_view text = file_start.substr(8, static_cast<std::size_t>(n));

    if (const std::size_t bad = detail::invalid_utf8_at(text); bad != std::string_view::npos)
        throw format_error(where + ": header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header)");
    if (text.front() != '{') throw format_error(where + ": header must start with '{'");
    const std::size_t json_end = std::min(detail::json_object_end(text), text.size());
    if (const std::size_t pad = text.find_first_not_of(' ', json_end); pad != std::string_view::npos)
        throw format_error(where + ": header has trailing bytes after the JSON object that are not space padding (byte " +
                           std::to_string(pad) + ")");
    const nlohmann::json root = detail::parse_json_unique_keys(text.substr(0, json_end), where);

    safetensors_header h;
    h.header_bytes = n;
    h.data_bytes = file_size - 8 - n;
    for (const auto& [name, value] : root.items()) {
        if (name == "__metadata__") {
            if (!value.is_object()) throw format_error(where + ": __metadata__ must be an object of strings");
            for (const auto& [k, v] : value.items()) {
                if (!v.is_string())
                    throw format_error(where + ": __metadata__ value of " + detail::printable(k) + " is not a string (got " + json_summary(v) + ")");
                h.metadata.emplace(k, v.get<std::string>());
            }
            continue;
        }
        if (const std::string problem = detail::tensor_name_problem(name); !problem.empty()) throw format_error(where + ": " + problem);
        h.tensors.push_back(detail::parse_tensor_entry(name, value, where));
    }

    // The byte ranges, taken in file order, must tile the data area exactly:
    // no gap or overlap (bytes with two meanings or none) and nothing unused at
    // the end. Empty tensors may sit anywhere on a boundary between ranges.
    std::vector<const tensor_info*> by_offset;
    for (const auto& t : h.tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](const tensor_info* a, const tensor_info* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t pos = 0;
    const tensor_info* prev = nullptr;
    for (const tensor_info* t : by_offset) {
        const std::string range = "data [" + std::to_string(t->begin) + ", " + std::to_string(t->end) + ")";
        if (t->begin < pos)
            throw format_error(where + ": tensor " + detail::printable(t->name) + " " + range + " overlaps tensor " + detail::printable(prev->name));
        if (t->begin > pos)
            throw format_error(where + ": gap of " + std::to_string(t->begin - pos) + " unused bytes before tensor " +
                               detail::printable(t->name) + " " + range);
        if (t->end > h.data_bytes)
            throw format_error(where + ": tensor " + detail::printable(t->name) + " " + range + " extends past the end of the file (data area is " +
                               std::to_string(h.data_bytes) + " bytes; file truncated?)");
        pos = t->end;
        prev = t;
    }
    if (pos != h.data_bytes)
        throw format_error(where + ": " + std::to_string(h.data_bytes - pos) + " trailing unused bytes after the last tensor's data");

    std::sort(h.tensors.begin(), h.tensors.end(), [](const tensor_info& a, const tensor_info& b) { return a.name < b.name; });
    return h;
}

// A validated safetensors file, mapped read-only. Move-only.
class safetensors_file {
public:
    static safetensors_file open(const std::filesystem::path& path) { return open(file_descriptor(path)); }
    // Validates and maps the file already open on `fd` (the very file a caller checked, see io/file.hpp).
    static safetensors_file open(file_descriptor fd) {
        const std::string where = fd.path().string();
        std::string start(static_cast<std::size_t>(std::min<std::uint64_t>(fd.size(), 8)), '\0');
        fd.read_exact(start.data(), start.size(), 0);
        if (start.size() == 8) {
            // Bound N before allocating a buffer for it.
            const std::uint64_t n = detail::read_le64(start.data());
            check_safetensors_header_length(n, fd.size(), where);
            start.resize(static_cast<std::size_t>(8 + n));
            fd.read_exact(start.data() + 8, static_cast<std::size_t>(n), 8);
        }
        safetensors_header header = parse_safetensors_header(start, fd.size(), where);
        auto map = std::make_shared<mmap_storage>(fd);
        return safetensors_file(std::move(fd), std::move(header), std::move(map));
    }

    const std::filesystem::path& path() const { return fd_.path(); }
    const std::vector<tensor_info>& tensors() const { return header_.tensors; }
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    std::uint64_t data_bytes() const { return header_.data_bytes; }

    const tensor_info* find(std::string_view name) const {
        auto it = std::lower_bound(header_.tensors.begin(), header_.tensors.end(), name,
                                   [](const tensor_info& t, std::string_view n) { return t.name < n; });
        return it != header_.tensors.end() && it->name == name ? &*it : nullptr;
    }
    bool contains(std::string_view name) const { return find(name) != nullptr; }
    // The entry for `name`; throws vl::format_error naming the file if absent.
    const tensor_info& info(std::string_view name) const {
        if (const tensor_info* t = find(name)) return *t;
        throw format_error(path().string() + ": missing tensor " + detail::printable(name));
    }

    // The tensor in its stored dtype, as a zero-copy view of the mapping when
    // its data is aligned for the dtype, else (e.g. BF16 at an odd offset) as an
    // aligned host copy. Views are read-only and keep the mapping alive.
    tensor get(std::string_view name) const {
        const tensor_info& t = checked(name);
        const std::uint64_t pos = header_.data_start() + t.begin;
        const std::size_t es = size_of(t.type);
        if (pos % es != 0) return load(name, t.type);
        return tensor(map_, t.type, t.shape, row_major_strides(t.shape), static_cast<index_t>(pos / es));
    }

    // A contiguous host copy converted to `as`, read with pread (so a file
    // truncated since open is a vl::io_error, not a SIGBUS).
    tensor load(std::string_view name, dtype as) const {
        const tensor_info& t = checked(name);
        tensor out = tensor::empty(t.shape, as);
        if (as == t.type) {
            fd_.read_exact(out.raw_data(), static_cast<std::size_t>(t.bytes()), header_.data_start() + t.begin);
            return out;
        }
        char* dst = static_cast<char*>(out.raw_data());
        for_each_chunk(t, [&](const void* src, std::size_t first, std::size_t count) {
            convert(src, t.type, dst + first * size_of(as), as, count);
        });
        return out;
    }

    // Number of NaN and infinite elements (always 0 for integer dtypes): the
    // format allows them, so loaders that care scan for them explicitly.
    std::size_t count_nonfinite(std::string_view name) const {
        const tensor_info& t = checked(name);
        std::size_t bad = 0;
        if (is_integer(t.type)) return bad;
        for_each_chunk(t, [&](const void* src, std::size_t, std::size_t count) {
            for (std::size_t i = 0; i < count; ++i) bad += !std::isfinite(load_as_double(src, t.type, i));
        });
        return bad;
    }

private:
    safetensors_file(file_descriptor fd, safetensors_header header, std::shared_ptr<mmap_storage> map)
        : fd_(std::move(fd)), header_(std::move(header)), map_(std::move(map)) {}

    const tensor_info& checked(std::string_view name) const {
        const tensor_info& t = info(name);
        if (t.shape.size() > static_cast<std::size_t>(max_rank))
            throw format_error(path().string() + ": tensor " + detail::printable(name) + ": rank " + std::to_string(t.shape.size()) +
                               " exceeds vl::max_rank (" + std::to_string(max_rank) + ")");
        return t;
    }

    // Reads the tensor's bytes in bounded chunks through an 8-byte aligned
    // buffer and calls f(chunk, first element, element count): converting a
    // multi-GB tensor must not need a second multi-GB buffer.
    template <class F>
    void for_each_chunk(const tensor_info& t, F&& f) const {
        constexpr std::size_t chunk_bytes = std::size_t{8} << 20;
        const std::size_t es = size_of(t.type);
        const auto total = static_cast<std::size_t>(t.numel());
        std::vector<std::uint64_t> buf(std::min<std::size_t>(total * es, chunk_bytes) / 8 + 1);
        for (std::size_t first = 0; first < total;) {
            const std::size_t count = std::min(total - first, chunk_bytes / es);
            fd_.read_exact(buf.data(), count * es, header_.data_start() + t.begin + first * es);
            f(static_cast<const void*>(buf.data()), first, count);
            first += count;
        }
    }

    file_descriptor fd_;
    safetensors_header header_;
    std::shared_ptr<mmap_storage> map_;
};

namespace detail {

// Writes a file next to its destination and renames it into place on commit(), so readers never see a
// half-written file. The data goes to an unnamed file (O_TMPFILE, Linux) that is given a name only when
// complete, so a process killed mid-write (SIGKILL, power loss) leaves nothing behind; where the file
// system has no O_TMPFILE, a named "<dest>.tmp-<pid>-<n>" is used and removed unless committed. After the
// rename the directory is fsynced, so the new name itself survives a crash.
class atomic_file {
public:
    explicit atomic_file(const std::filesystem::path& dest) : dest_(dest) {
        static std::atomic<unsigned> counter{0};
        tmp_ = dest;
        tmp_ += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
#ifdef O_TMPFILE
        do fd_ = ::open(directory().c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        while (fd_ < 0 && errno == EINTR);
        unnamed_ = fd_ >= 0;
#endif
        if (fd_ < 0) fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd_ < 0) fail("cannot create");
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    ~atomic_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_ && (!unnamed_ || linked_)) ::unlink(tmp_.c_str());
    }

    void write(const void* data, std::size_t n) {
        const char* p = static_cast<const char*>(data);
        while (n > 0) {
            const ssize_t put = ::write(fd_, p, n);
            if (put < 0) {
                if (errno == EINTR) continue;
                fail("write failed");
            }
            p += put;
            n -= static_cast<std::size_t>(put);
        }
    }
    void commit() {
        if (::fsync(fd_) != 0) fail("fsync failed");
        if (unnamed_) {
            // Name the complete file (linkat cannot replace dest, so: link to the temporary name, rename).
            const std::string self = "/proc/self/fd/" + std::to_string(fd_);
            if (::linkat(fd_, "", AT_FDCWD, tmp_.c_str(), AT_EMPTY_PATH) != 0 &&
                ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, tmp_.c_str(), AT_SYMLINK_FOLLOW) != 0)
                fail("cannot link the written file into the directory");
            linked_ = true;
        }
        const int fd = std::exchange(fd_, -1);
        if (::close(fd) != 0) fail("close failed");
        if (::rename(tmp_.c_str(), dest_.c_str()) != 0) fail("cannot rename into place");
        committed_ = true;
        const int dir = ::open(directory().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) fail("cannot open the directory to fsync it");
        const int synced = ::fsync(dir);
        ::close(dir);
        if (synced != 0) fail("fsync of the directory failed");
    }

private:
    [[noreturn]] void fail(const char* what) const { throw io_error(dest_.string() + ": " + what + ": " + std::strerror(errno)); }
    std::filesystem::path directory() const {
        return dest_.has_parent_path() ? dest_.parent_path() : std::filesystem::path(".");
    }

    std::filesystem::path dest_, tmp_;
    int fd_ = -1;
    bool unnamed_ = false;  // O_TMPFILE: no directory entry until commit
    bool linked_ = false;   // the unnamed file has been linked as tmp_
    bool committed_ = false;
};

}  // namespace detail

// Writes host tensors (any strides; written contiguous) and string metadata as a
// safetensors file, atomically. Names must be unique, valid UTF-8, non-empty,
// NUL-free, at most 64 KiB and not "__metadata__"; throws vl::error otherwise.
inline void save_safetensors(const std::filesystem::path& path, const std::vector<std::pair<std::string, tensor>>& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
    const std::string where = path.string() + ": save_safetensors: ";
    std::set<std::string_view> seen;
    for (const auto& [name, t] : tensors) {
        if (const std::string problem = detail::tensor_name_problem(name); !problem.empty()) throw error(where + problem);
        if (name == "__metadata__") throw error(where + "\"__metadata__\" is reserved and cannot name a tensor");
        if (!seen.insert(name).second) throw error(where + "tensor name " + detail::printable(name) + " given twice");
        if (!t.defined()) throw error(where + "tensor " + detail::printable(name) + " is undefined");
        if (t.space() != memory_space::host) throw error(where + "tensor " + detail::printable(name) + " lives on a device; copy it to the host first");
    }

    // Wider dtypes first: with a header padded to a multiple of 8, every
    // tensor then starts aligned for its dtype and reads back zero-copy.
    std::vector<std::size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return size_of(tensors[a].second.type()) > size_of(tensors[b].second.type());
    });

    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) header["__metadata__"] = metadata;
    std::uint64_t offset = 0;
    for (std::size_t i : order) {
        const auto& [name, t] = tensors[i];
        const std::uint64_t bytes = t.nbytes();
        header[name] = {{"dtype", std::string(name_of(t.type()))}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text;
    try {
        text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const nlohmann::json::exception&) {
        throw error(where + "a tensor name or metadata string is not valid UTF-8");
    }
    text.append((8 - text.size() % 8) % 8, ' ');

    detail::atomic_file out(path);
    char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), text.size());
    for (std::size_t i : order) {
        const tensor c = tensors[i].second.contiguous();
        out.write(c.raw_data(), c.nbytes());
    }
    out.commit();
}

}  // namespace vl
