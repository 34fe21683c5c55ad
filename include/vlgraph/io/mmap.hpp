// vlgraph/io/mmap.hpp — read-only memory-mapped files as tensor storage, plus a
// small RAII file descriptor with exact positional reads.
//
//   auto st = std::make_shared<vl::mmap_storage>("model.safetensors");
//   vl::tensor t(st, vl::dtype::bf16, {4096, 4096}, vl::row_major_strides(...), offset_in_elements);
//
// A mapping stays valid while any tensor holds the storage. If the file shrinks
// after it was mapped, touching the lost pages raises SIGBUS: code that must
// survive hostile files validates with `file_descriptor::read_exact` (pread),
// which reports a short file as an error instead.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/tensor.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vl {

// An open read-only file descriptor, closed on destruction.
class file_descriptor {
public:
    explicit file_descriptor(const std::filesystem::path& path) : path_(path) {
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; the
        // fstat below then refuses anything that is not a regular file (for which the flag is moot).
        do fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        while (fd_ < 0 && errno == EINTR);
        if (fd_ < 0) fail("cannot open");
        struct stat st {};
        if (::fstat(fd_, &st) != 0) {
            const int saved = errno;
            ::close(fd_);
            errno = saved;
            fail("cannot stat");
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd_);
            throw io_error(path_.string() + ": not a regular file");
        }
        size_ = static_cast<std::uint64_t>(st.st_size);
    }
    file_descriptor(file_descriptor&& o) noexcept
        : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), size_(o.size_) {}
    file_descriptor& operator=(file_descriptor&& o) noexcept {
        if (this != &o) {
            reset();
            path_ = std::move(o.path_);
            fd_ = std::exchange(o.fd_, -1);
            size_ = o.size_;
        }
        return *this;
    }
    file_descriptor(const file_descriptor&) = delete;
    file_descriptor& operator=(const file_descriptor&) = delete;
    ~file_descriptor() { reset(); }

    int get() const { return fd_; }
    // The size reported by fstat when the file was opened.
    std::uint64_t size() const { return size_; }
    const std::filesystem::path& path() const { return path_; }

    // Reads exactly n bytes at `offset`; a file that ends early (for instance
    // one truncated since it was opened) is a vl::io_error, never a SIGBUS.
    void read_exact(void* dst, std::size_t n, std::uint64_t offset) const {
        auto* out = static_cast<char*>(dst);
        while (n > 0) {
            if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
                throw io_error(path_.string() + ": read offset " + std::to_string(offset) + " is out of range");
            const ssize_t got = ::pread(fd_, out, n, static_cast<off_t>(offset));
            if (got < 0) {
                if (errno == EINTR) continue;
                fail("read failed");
            }
            if (got == 0)
                throw io_error(path_.string() + ": unexpected end of file at byte " + std::to_string(offset) + " (" +
                               std::to_string(n) + " more bytes expected; was the file truncated?)");
            out += got;
            n -= static_cast<std::size_t>(got);
            offset += static_cast<std::uint64_t>(got);
        }
    }

private:
    [[noreturn]] void fail(const char* what) const {
        throw io_error(path_.string() + ": " + what + ": " + std::strerror(errno));
    }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    std::filesystem::path path_;
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

// The whole of a file, mapped read-only and shared (pages come from the page
// cache, so several processes loading one checkpoint share its memory).
class mmap_storage final : public storage {
public:
    explicit mmap_storage(const std::filesystem::path& path) : mmap_storage(file_descriptor(path)) {}
    // Maps the file behind `fd`: the caller can validate and map the very same
    // file, even if its path is replaced in between.
    explicit mmap_storage(const file_descriptor& fd)
        : storage(map(fd), static_cast<std::size_t>(fd.size()), memory_space::host, true), path_(fd.path()) {}

    ~mmap_storage() override {
        if (data()) ::munmap(data(), bytes());
    }
    const std::filesystem::path& path() const { return path_; }

private:
    // The mapping outlives the descriptor (POSIX keeps the file referenced), so
    // the descriptor may be closed once the constructor returns.
    static void* map(const file_descriptor& fd) {
        if (fd.size() == 0) return nullptr;  // mmap of length 0 is EINVAL; an empty file has no bytes to map
        if (fd.size() > std::numeric_limits<std::size_t>::max())
            throw io_error(fd.path().string() + ": file of " + std::to_string(fd.size()) + " bytes does not fit the address space");
        void* p = ::mmap(nullptr, static_cast<std::size_t>(fd.size()), PROT_READ, MAP_SHARED, fd.get(), 0);
        if (p == MAP_FAILED) throw io_error(fd.path().string() + ": mmap failed: " + std::strerror(errno));
        return p;
    }

    std::filesystem::path path_;
};

}  // namespace vl
