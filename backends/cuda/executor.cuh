// backends/cuda/executor.cuh — the CUDA backend's executor.
//
//     vl::cuda::executor<vl::bf16> gpu;                  // default stream; or executor<bf16>{my_stream}
//     vl::tensor y = vl::eval(expr, gpu);                // a device tensor
//     vl::tensor h = vl::cuda::to_host(y, gpu.stream);
//
// T (float or vl::bf16) is the storage dtype of every floating intermediate and
// of eval's result; arithmetic is always f32 (see backends/cuda/README.md for
// the precision of each op). Work is queued on `stream`; vl::eval synchronises
// it once at the end (finish()). Not thread-safe: one executor per host thread.
#pragma once

#include <vlgraph/backends/cuda/check.cuh>
#include <vlgraph/backends/cuda/memory.cuh>
#include <vlgraph/eval.hpp>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>
#include <type_traits>

namespace vl::cuda {

template <class T>
struct executor {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, bf16>, "vl::cuda::executor<T>: T is float or vl::bf16");
    using compute_type = T;
    static constexpr memory_space space = memory_space::device;
    static constexpr std::size_t workspace_bytes = std::size_t{32} << 20;  // cuBLASLt's recommendation for Hopper

    explicit executor(cudaStream_t s = nullptr) : stream(s) {
        if (!available()) throw backend_error("cuda::executor: no CUDA device is available");
        int device = 0;
        VL_CUDA_CHECK(cudaGetDevice(&device));
        VL_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device));
        workspace = std::make_unique<device_storage>(workspace_bytes);
        VL_CUBLAS_CHECK(cublasLtCreate(&blas));
    }
    ~executor() { cublasLtDestroy(blas); }
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    cudaStream_t stream;
    trace_fn trace;  // optional: receives every named intermediate (as a device tensor)
    cublasLtHandle_t blas = nullptr;
    std::unique_ptr<device_storage> workspace;
    int sm_count = 0;

    // Intermediates live in one device arena that only grows (vlgraph/arena.hpp).
    // Growing frees the old arena; cudaFree waits for the kernels still using it.
    std::byte* arena(std::size_t bytes) {
        if (!arena_ || arena_->bytes() < bytes) {
            arena_.reset();
            arena_ = std::make_unique<device_storage>(bytes);
        }
        return static_cast<std::byte*>(arena_->data());
    }
    std::size_t arena_bytes() const { return arena_ ? arena_->bytes() : 0; }
    tensor make_tensor(std::span<const index_t> shape, dtype t) const { return empty_device(dims(shape.begin(), shape.end()), t); }
    // A host copy of a result (after the work queued on `stream`), for code written for any executor.
    tensor to_host(const tensor& t) const { return cuda::to_host(t, stream); }
    // Waits for the queued work; a failed kernel surfaces here as a vl::backend_error.
    void finish() { VL_CUDA_CHECK(cudaStreamSynchronize(stream)); }

    // Blocks for a grid-stride loop over n items with `threads` per block: enough
    // to fill the GPU, never more than the work needs.
    unsigned blocks_for(index_t n, int threads) const {
        const index_t need = (n + threads - 1) / threads;
        return static_cast<unsigned>(std::max<index_t>(1, std::min<index_t>(need, index_t{sm_count} * 16)));
    }

private:
    std::unique_ptr<device_storage> arena_;
};

}  // namespace vl::cuda
