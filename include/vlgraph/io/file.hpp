// vlgraph/io/file.hpp — reading small files (JSON configs, tokenizer.json, chat templates, index files)
// that come with an untrusted model directory. One helper for every such read:
//
//   std::string text = vl::read_file_capped("config.json", 64 << 20);            // an explicit path
//   std::string text = vl::read_file_in_dir(model_dir, "tokenizer.json", 1 << 30); // confined to model_dir
//
// Each read opens the file once (file_descriptor: O_NONBLOCK, so a FIFO cannot block the open), checks
// on that descriptor that it is a regular file (fstat, not a path lookup that could be swapped) and that
// its size is within the cap, then reads exactly that many bytes with pread. /dev/zero, a FIFO, a
// directory or a socket is a vl::io_error; a file over the cap is a vl::format_error.
//
// Files looked up inside a model directory are confined to it: the descriptor that was opened must be
// the file that the symlink-resolved path names, and that path must lie inside the resolved directory
// (open_in_dir) — or, for a snapshot of the Hugging Face hub cache (`<repo>/snapshots/<revision>/`, whose
// files are symlinks to `<repo>/blobs/`), inside that repository's folder (confinement_root). The check is made on the open descriptor (same device and inode), and that descriptor is
// what is read or mapped afterwards, so a symlink swapped after the check cannot redirect the read.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/io/mmap.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include <sys/stat.h>

namespace vl {

// The whole of an open regular file, at most `max_bytes` (else vl::format_error naming `what`).
inline std::string read_all(const file_descriptor& fd, std::uint64_t max_bytes, std::string_view what = "file") {
    if (fd.size() > max_bytes)
        throw format_error(fd.path().string() + ": " + std::to_string(fd.size()) + " bytes is too large for " + std::string(what) +
                           " (limit " + std::to_string(max_bytes) + " bytes)");
    std::string text(static_cast<std::size_t>(fd.size()), '\0');
    fd.read_exact(text.data(), text.size(), 0);
    return text;
}

// Reads a regular file of at most `max_bytes` (see the file comment).
inline std::string read_file_capped(const std::filesystem::path& path, std::uint64_t max_bytes, std::string_view what = "file") {
    return read_all(file_descriptor(path), max_bytes, what);
}

// The folder that files of model directory `dir` may resolve into: `dir` itself, or for a Hugging Face hub
// snapshot `<repo>/snapshots/<revision>` (next to a `<repo>/blobs` folder) the repository folder `<repo>`.
inline std::filesystem::path confinement_root(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path real_dir = fs::canonical(dir, ec);
    if (ec) throw io_error(dir.string() + ": cannot resolve the model directory: " + ec.message());
    const fs::path repo = real_dir.parent_path().parent_path();
    if (real_dir.parent_path().filename() == "snapshots" && fs::is_directory(repo / "blobs", ec)) return repo;
    return real_dir;
}

// Throws unless `real` (a resolved path) lies inside confinement_root(dir); `what` names it in the message.
inline void check_confined(const std::filesystem::path& real, const std::filesystem::path& dir, const std::string& what) {
    const std::filesystem::path root = confinement_root(dir);
    const std::filesystem::path rel = real.lexically_relative(root);
    if (rel.empty() || *rel.begin() == ".." || rel == ".")
        throw format_error(what + "resolves to " + real.string() + ", outside the model directory " + root.string());
}

// Throws unless the file open on `fd` is inside `dir` once symlinks are resolved.
inline void check_inside(const file_descriptor& fd, const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path real = fs::canonical(fd.path(), ec);
    if (ec) throw io_error(fd.path().string() + ": cannot resolve (" + ec.message() + ")");
    check_confined(real, dir, fd.path().string() + ": ");
    // The resolved path must still name the file that is open: otherwise a link changed in between.
    struct stat opened {}, named {};
    if (::fstat(fd.get(), &opened) != 0 || ::stat(real.c_str(), &named) != 0 || opened.st_dev != named.st_dev ||
        opened.st_ino != named.st_ino)
        throw io_error(fd.path().string() + ": the file changed while it was being opened (a symlink swapped?)");
}

// Opens `dir / name` (a regular file, confined to `dir`; see the file comment).
inline file_descriptor open_in_dir(const std::filesystem::path& dir, const std::filesystem::path& name) {
    file_descriptor fd(dir / name);
    check_inside(fd, dir);
    return fd;
}

// Reads `dir / name`, confined to `dir`, at most `max_bytes`.
inline std::string read_file_in_dir(const std::filesystem::path& dir, const std::filesystem::path& name, std::uint64_t max_bytes,
                                    std::string_view what = "file") {
    return read_all(open_in_dir(dir, name), max_bytes, what);
}

}  // namespace vl
