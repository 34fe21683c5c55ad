// vlgraph/value.hpp — an evaluated node during lowering: a typed, strided view
// of memory (host or device), plus a handle that keeps that memory alive.
// Backends read and write values; users see vl::tensor.
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/dtype.hpp>
#include <vlgraph/tensor.hpp>

#include <memory>
#include <span>

namespace vl {

struct value {
    void* data = nullptr;
    dtype type = dtype::f32;
    memory_space space = memory_space::host;
    int rank = 0;
    index_t shape[max_rank]{};
    index_t strides[max_rank]{};  // in elements
    std::shared_ptr<const void> keep;  // arena lease or tensor storage

    index_t numel() const {
        index_t n = 1;
        for (int i = 0; i < rank; ++i) n *= shape[i];
        return n;
    }
    index_t extent(int d) const { return shape[d < 0 ? d + rank : d]; }
    std::span<const index_t> dims() const { return {shape, static_cast<std::size_t>(rank)}; }
    bool contiguous() const {
        for (int i = 0; i < rank; ++i)
            if (shape[i] == 0) return true;  // no elements: trivially contiguous
        index_t expect = 1;
        for (int i = rank; i-- > 0;) {
            if (shape[i] != 1 && strides[i] != expect) return false;
            expect *= shape[i];
        }
        return true;
    }
    template <class T> T* ptr() const { return static_cast<T*>(data); }

    static value of(const tensor& t) {
        value v;
        v.data = t.defined() ? t.raw_data() : nullptr;
        v.type = t.type();
        v.space = t.space();
        v.rank = t.rank();
        for (int i = 0; i < v.rank; ++i) {
            v.shape[i] = t.shape()[static_cast<std::size_t>(i)];
            v.strides[i] = t.strides()[static_cast<std::size_t>(i)];
        }
        v.keep = t.storage_ptr();
        return v;
    }
    // Row-major strides for the current shape (for freshly allocated buffers).
    void set_row_major() {
        index_t acc = 1;
        for (int i = rank; i-- > 0;) {
            strides[i] = acc;
            acc *= shape[i] > 0 ? shape[i] : 1;
        }
    }
};

}  // namespace vl
