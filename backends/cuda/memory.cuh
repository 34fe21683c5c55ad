// backends/cuda/memory.cuh — device memory: a vl::storage subclass owning
// cudaMalloc'd bytes, host <-> device tensor transfers, and element access by
// run-time dtype inside kernels.
//
//     vl::tensor w = vl::cuda::to_device(host_w, vl::dtype::bf16);   // converted on the host, then uploaded
//     vl::tensor y = vl::cuda::to_host(eval(expr, gpu), gpu.stream);
#pragma once

#include <vlgraph/backends/cuda/check.cuh>
#include <vlgraph/tensor.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace vl::cuda {

// Number of CUDA devices; 0 when there is no driver or no device.
inline int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();  // clear the sticky "no device" error
        return 0;
    }
    return n;
}
inline bool available() { return device_count() > 0; }

// Device memory from cudaMalloc, freed with cudaFree.
class device_storage final : public storage {
public:
    explicit device_storage(std::size_t bytes) : storage(allocate(bytes), bytes, memory_space::device, false) {}
    ~device_storage() override { cudaFree(data()); }

private:
    static void* allocate(std::size_t bytes) {
        void* p = nullptr;
        if (bytes) VL_CUDA_CHECK(cudaMalloc(&p, bytes));
        return p;
    }
};

// Page-locked host memory from cudaHostAlloc: what a CUDA graph can copy from at every replay.
class pinned_storage final : public storage {
public:
    explicit pinned_storage(std::size_t bytes) : storage(allocate(bytes), bytes, memory_space::host, false) {}
    ~pinned_storage() override { cudaFreeHost(data()); }

private:
    static void* allocate(std::size_t bytes) {
        void* p = nullptr;
        VL_CUDA_CHECK(cudaHostAlloc(&p, std::max<std::size_t>(bytes, 1), cudaHostAllocDefault));
        std::memset(p, 0, std::max<std::size_t>(bytes, 1));
        return p;
    }
};
inline bool is_pinned(const tensor& t) { return dynamic_cast<const pinned_storage*>(t.storage_ptr().get()) != nullptr; }

// A new contiguous pinned host tensor (zero-filled).
inline tensor empty_pinned(dims shape, dtype t) {
    const index_t n = checked_numel(shape);
    auto st = std::make_shared<pinned_storage>(static_cast<std::size_t>(n) * size_of(t));
    dims strides = row_major_strides(shape);
    return tensor(std::move(st), t, std::move(shape), std::move(strides));
}

// A new contiguous device tensor (contents undefined).
inline tensor empty_device(dims shape, dtype t) {
    const index_t n = checked_numel(shape);
    auto st = std::make_shared<device_storage>(static_cast<std::size_t>(n) * size_of(t));
    dims strides = row_major_strides(shape);
    return tensor(std::move(st), t, std::move(shape), std::move(strides));
}

// A contiguous device copy of host tensor t with dtype `to` (converted on the host).
inline tensor to_device(const tensor& t, dtype to) {
    if (t.space() != memory_space::host) throw backend_error("cuda::to_device: the tensor " + vl::to_string(t.shape()) + " already lives on a device");
    const tensor h = t.type() == to ? t.contiguous() : t.to(to);
    tensor d = empty_device(h.shape(), to);
    if (h.nbytes()) VL_CUDA_CHECK(cudaMemcpy(d.raw_data(), h.raw_data(), h.nbytes(), cudaMemcpyHostToDevice));
    return d;
}
inline tensor to_device(const tensor& t) { return to_device(t, t.type()); }

// A contiguous host copy of device tensor t (same dtype). Work queued on
// `stream` before the call is finished first.
inline tensor to_host(const tensor& t, cudaStream_t stream = nullptr) {
    if (t.space() != memory_space::device) throw backend_error("cuda::to_host: the tensor " + vl::to_string(t.shape()) + " is not on a device");
    if (t.is_contiguous()) {
        tensor h = tensor::empty(t.shape(), t.type());
        if (h.nbytes()) VL_CUDA_CHECK(cudaMemcpyAsync(h.raw_data(), t.raw_data(), h.nbytes(), cudaMemcpyDeviceToHost, stream));
        VL_CUDA_CHECK(cudaStreamSynchronize(stream));
        return h;
    }
    // A strided view: bring its whole storage over and let the host gather the view.
    const std::shared_ptr<storage>& src = t.storage_ptr();
    auto st = std::make_shared<host_storage>(src->bytes());
    if (src->bytes()) VL_CUDA_CHECK(cudaMemcpyAsync(st->data(), src->data(), src->bytes(), cudaMemcpyDeviceToHost, stream));
    VL_CUDA_CHECK(cudaStreamSynchronize(stream));
    return tensor(std::move(st), t.type(), t.shape(), t.strides(), t.offset()).contiguous();
}

namespace detail {
// Element `off` of a buffer of run-time dtype t, as double (exact but for i64
// beyond 2^53), and its inverse; the same conversions as vl::convert on the host.
__device__ __forceinline__ double load_as_double(const void* p, dtype t, index_t off) {
    switch (t) {
        case dtype::f32: return static_cast<const float*>(p)[off];
        case dtype::f64: return static_cast<const double*>(p)[off];
        case dtype::bf16: return static_cast<const bf16*>(p)[off].to_float();
        case dtype::f16: return static_cast<const f16*>(p)[off].to_float();
        case dtype::i32: return static_cast<const std::int32_t*>(p)[off];
        case dtype::i64: return static_cast<double>(static_cast<const std::int64_t*>(p)[off]);
        case dtype::u8: return static_cast<const std::uint8_t*>(p)[off];
    }
    return 0;
}
__device__ __forceinline__ void store_double(void* p, dtype t, index_t off, double v) {
    switch (t) {
        case dtype::f32: static_cast<float*>(p)[off] = static_cast<float>(v); break;
        case dtype::f64: static_cast<double*>(p)[off] = v; break;
        case dtype::bf16: static_cast<bf16*>(p)[off] = bf16::from_float(static_cast<float>(v)); break;
        case dtype::f16: static_cast<f16*>(p)[off] = f16::from_float(static_cast<float>(v)); break;
        case dtype::i32: static_cast<std::int32_t*>(p)[off] = static_cast<std::int32_t>(v); break;
        case dtype::i64: static_cast<std::int64_t*>(p)[off] = static_cast<std::int64_t>(v); break;
        case dtype::u8: static_cast<std::uint8_t*>(p)[off] = static_cast<std::uint8_t>(v); break;
    }
}
// Integer elements (ids) as int64, exactly.
__device__ __forceinline__ std::int64_t load_integer(const void* p, dtype t, index_t off) {
    switch (t) {
        case dtype::i64: return static_cast<const std::int64_t*>(p)[off];
        case dtype::i32: return static_cast<const std::int32_t*>(p)[off];
        case dtype::u8: return static_cast<const std::uint8_t*>(p)[off];
        default: return static_cast<std::int64_t>(load_as_double(p, t, off));
    }
}
__device__ __forceinline__ void store_integer(void* p, dtype t, index_t off, std::int64_t v) {
    switch (t) {
        case dtype::i64: static_cast<std::int64_t*>(p)[off] = v; break;
        case dtype::i32: static_cast<std::int32_t*>(p)[off] = static_cast<std::int32_t>(v); break;
        case dtype::u8: static_cast<std::uint8_t*>(p)[off] = static_cast<std::uint8_t>(v); break;
        default: store_double(p, t, off, static_cast<double>(v)); break;
    }
}
}  // namespace detail

}  // namespace vl::cuda
