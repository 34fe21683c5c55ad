// vlgraph/tensor.hpp — run-time tensors: a dtype, extents, strides and an offset
// over shared storage that lives on the host, on a device, or in an mmap'd file.
//
// A tensor is a cheap handle (shared_ptr to storage); views (reshape of a
// contiguous tensor, permute, slice) share the storage and never copy.
// Extents and strides are counted in elements, row-major by default.
//
//   tensor t = tensor::empty({2, 3}, dtype::f32);   // host, contiguous, strides {3, 1}
//   tensor u = t.permute({1, 0});                    // [3, 2] view, strides {1, 3}
//   tensor s = t.slice(1, 1, 3);                     // [2, 2] view of columns 1..2
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/dtype.hpp>
#include <vlgraph/error.hpp>

#include <algorithm>
#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace vl {

enum class memory_space : std::uint8_t { host, device };

// Owns (or borrows) a byte range. Subclasses: host_storage below, mmap_storage
// (vlgraph/io/mmap.hpp) and the CUDA device_storage (backends/cuda).
class storage {
public:
    virtual ~storage() = default;
    void* data() const { return data_; }
    std::size_t bytes() const { return bytes_; }
    memory_space space() const { return space_; }
    bool read_only() const { return read_only_; }

protected:
    storage(void* data, std::size_t bytes, memory_space space, bool read_only)
        : data_(data), bytes_(bytes), space_(space), read_only_(read_only) {}
    storage(const storage&) = delete;
    storage& operator=(const storage&) = delete;

private:
    void* data_;
    std::size_t bytes_;
    memory_space space_;
    bool read_only_;
};

// 64-byte aligned, zero-initialised host memory.
class host_storage final : public storage {
public:
    explicit host_storage(std::size_t bytes) : storage(allocate(bytes), bytes, memory_space::host, false) {}
    ~host_storage() override { std::free(data()); }

private:
    static void* allocate(std::size_t bytes) {
        const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + 63) / 64 * 64;
        void* p = std::aligned_alloc(64, rounded);
        if (!p) throw io_error("out of host memory allocating " + std::to_string(bytes) + " bytes");
        std::memset(p, 0, rounded);
        return p;
    }
};

using dims = std::vector<index_t>;

inline std::string to_string(std::span<const index_t> d) {
    std::string s = "[";
    for (std::size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
    return s + "]";
}

// Number of elements of extents d; throws vl::shape_error on negative extents or overflow.
inline index_t checked_numel(std::span<const index_t> d) {
    index_t n = 1;
    for (index_t e : d) {
        if (e < 0) throw shape_error("negative extent in " + to_string(d));
        if (e != 0 && n > INT64_MAX / e) throw shape_error("element count of " + to_string(d) + " overflows int64");
        n *= e;
    }
    return n;
}

inline dims row_major_strides(std::span<const index_t> shape) {
    dims s(shape.size());
    index_t acc = 1;
    for (std::size_t i = shape.size(); i-- > 0;) {
        s[i] = acc;
        acc *= std::max<index_t>(shape[i], 1);
    }
    return s;
}

class tensor {
public:
    tensor() = default;
    tensor(std::shared_ptr<storage> st, dtype t, dims shape, dims strides, index_t offset = 0)
        : storage_(std::move(st)), dtype_(t), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset) {
        if (shape_.size() > static_cast<std::size_t>(max_rank))
            throw shape_error("tensor rank " + std::to_string(shape_.size()) + " exceeds vl::max_rank");
    }

    // A new zero-filled contiguous host tensor.
    static tensor empty(dims shape, dtype t) {
        const index_t n = checked_numel(shape);
        auto st = std::make_shared<host_storage>(static_cast<std::size_t>(n) * size_of(t));
        dims strides = row_major_strides(shape);
        return tensor(std::move(st), t, std::move(shape), std::move(strides));
    }
    // A host tensor holding a copy of `values`.
    template <element T>
    static tensor from(std::span<const T> values, dims shape) {
        if (checked_numel(shape) != static_cast<index_t>(values.size()))
            throw shape_error("tensor::from: " + std::to_string(values.size()) + " values do not fill shape " + to_string(shape));
        tensor t = empty(std::move(shape), dtype_of_v<T>);
        std::copy(values.begin(), values.end(), t.data<T>());
        return t;
    }
    template <element T>
    static tensor from(const std::vector<T>& values, dims shape) {
        return from(std::span<const T>(values), std::move(shape));
    }

    bool defined() const { return storage_ != nullptr; }
    dtype type() const { return dtype_; }
    int rank() const { return static_cast<int>(shape_.size()); }
    const dims& shape() const { return shape_; }
    const dims& strides() const { return strides_; }
    index_t offset() const { return offset_; }
    index_t extent(int d) const { return shape_.at(static_cast<std::size_t>(normalize_axis(d))); }
    index_t numel() const { return checked_numel(shape_); }
    std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * size_of(dtype_); }
    memory_space space() const { return storage_ ? storage_->space() : memory_space::host; }
    const std::shared_ptr<storage>& storage_ptr() const { return storage_; }

    bool is_contiguous() const {
        for (index_t e : shape_)
            if (e == 0) return true;  // no elements: trivially contiguous (whatever the strides)
        index_t expect = 1;
        for (std::size_t i = shape_.size(); i-- > 0;) {
            if (shape_[i] != 1 && strides_[i] != expect) return false;
            expect *= shape_[i];
        }
        return true;
    }

    // Untyped pointer to element 0 of this view.
    // (Null while a program's sizing pass plans memory: its tensors have no storage yet, and their views no address.)
    void* raw_data() const {
        char* base = static_cast<char*>(storage_->data());
        return base ? base + static_cast<std::ptrdiff_t>(offset_) * static_cast<std::ptrdiff_t>(size_of(dtype_)) : nullptr;
    }
    // Typed host pointer to element 0; checks dtype and memory space.
    template <element T>
    T* data() const {
        if (!storage_) throw error("tensor::data: tensor is empty");
        if (dtype_of_v<T> != dtype_)
            throw dtype_error("tensor::data<" + std::string(name_of(dtype_of_v<T>)) + ">: tensor holds " + std::string(name_of(dtype_)));
        if (space() != memory_space::host) throw error("tensor::data: tensor lives on a device; copy it to the host first");
        return static_cast<T*>(raw_data());
    }

    int normalize_axis(int d) const {
        const int r = rank();
        if (d < -r || d >= r) throw shape_error("axis " + std::to_string(d) + " out of range for rank " + std::to_string(r));
        return d < 0 ? d + r : d;
    }

    // --- views ---------------------------------------------------------------
    tensor reshape(dims new_shape) const {
        index_t known = 1;
        int infer = -1;
        for (std::size_t i = 0; i < new_shape.size(); ++i) {
            if (new_shape[i] == -1) {
                if (infer >= 0) throw shape_error("reshape: more than one -1 in " + to_string(new_shape));
                infer = static_cast<int>(i);
            } else {
                known *= new_shape[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel() % known) throw shape_error("reshape: cannot infer -1 of " + to_string(new_shape) + " from " + to_string(shape_));
            new_shape[static_cast<std::size_t>(infer)] = numel() / known;
        }
        if (checked_numel(new_shape) != numel())
            throw shape_error("reshape: " + to_string(shape_) + " has " + std::to_string(numel()) + " elements, " + to_string(new_shape) + " needs " +
                              std::to_string(checked_numel(new_shape)));
        if (!is_contiguous()) throw shape_error("reshape: tensor " + to_string(shape_) + " is not contiguous; copy it first");
        dims strides = row_major_strides(new_shape);
        return tensor(storage_, dtype_, std::move(new_shape), std::move(strides), offset_);
    }
    tensor permute(const std::vector<int>& order) const {
        if (static_cast<int>(order.size()) != rank()) throw shape_error("permute: order has " + std::to_string(order.size()) + " axes, tensor rank is " + std::to_string(rank()));
        dims sh(order.size()), st(order.size());
        std::vector<bool> seen(order.size(), false);
        for (std::size_t i = 0; i < order.size(); ++i) {
            const int a = normalize_axis(order[i]);
            if (seen[static_cast<std::size_t>(a)]) throw shape_error("permute: axis " + std::to_string(a) + " repeated");
            seen[static_cast<std::size_t>(a)] = true;
            sh[i] = shape_[static_cast<std::size_t>(a)];
            st[i] = strides_[static_cast<std::size_t>(a)];
        }
        return tensor(storage_, dtype_, std::move(sh), std::move(st), offset_);
    }
    // Elements [begin, end) along axis d.
    tensor slice(int d, index_t begin, index_t end) const {
        const auto a = static_cast<std::size_t>(normalize_axis(d));
        if (begin < 0 || end < begin || end > shape_[a])
            throw shape_error("slice: [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for axis " + std::to_string(a) + " of " + to_string(shape_));
        dims sh = shape_;
        sh[a] = end - begin;
        return tensor(storage_, dtype_, std::move(sh), strides_, offset_ + begin * strides_[a]);
    }

    // A contiguous host copy with the given dtype (host tensors only).
    tensor to(dtype t) const;
    tensor contiguous() const { return is_contiguous() ? *this : to(dtype_); }

private:
    std::shared_ptr<storage> storage_;
    dtype dtype_ = dtype::f32;
    dims shape_;
    dims strides_;
    index_t offset_ = 0;
};

// Calls f(offset) for every element of a strided view in row-major order; offset in elements.
template <class F>
void for_each_offset(const dims& shape, const dims& strides, index_t base, F&& f) {
    const std::size_t r = shape.size();
    if (checked_numel(shape) == 0) return;
    dims idx(r, 0);
    index_t off = base;
    for (;;) {
        f(off);
        std::size_t d = r;
        while (d-- > 0) {
            if (++idx[d] < shape[d]) {
                off += strides[d];
                break;
            }
            off -= (shape[d] - 1) * strides[d];
            idx[d] = 0;
        }
        if (d == static_cast<std::size_t>(-1)) return;
    }
}

inline tensor tensor::to(dtype t) const {
    if (space() != memory_space::host) throw error("tensor::to: tensor lives on a device; copy it to the host first");
    tensor out = empty(shape_, t);
    if (is_contiguous()) {
        convert(raw_data(), dtype_, out.raw_data(), t, static_cast<std::size_t>(numel()));
        return out;
    }
    const std::size_t es = size_of(dtype_);
    const char* base = static_cast<const char*>(storage_->data());
    char* dst = static_cast<char*>(out.raw_data());
    std::size_t i = 0;
    for_each_offset(shape_, strides_, offset_, [&](index_t off) {
        convert(base + off * static_cast<index_t>(es), dtype_, dst + i * size_of(t), t, 1);
        ++i;
    });
    return out;
}

}  // namespace vl
