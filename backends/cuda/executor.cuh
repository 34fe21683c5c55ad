// backends/cuda/executor.cuh — the CUDA backend's executor.
//
//     vl::cuda::executor<vl::bf16> gpu;                  // default stream; or executor<bf16>{my_stream}
//     vl::tensor y = vl::eval(expr, gpu);                // a device tensor
//     vl::tensor h = vl::cuda::to_host(y, gpu.stream);
//
// T (float or vl::bf16) is the storage dtype of every floating intermediate and
// of eval's result; arithmetic is always f32 (see backends/cuda/README.md for
// the precision of each op). Work is queued on `stream` (the executor makes its
// own when given none: the legacy default stream cannot be captured into a CUDA
// graph); eager vl::eval synchronises it once at the end (finish()), a recorded
// program (vlgraph/program.hpp) runs as one CUDA graph launch and never waits.
// Not thread-safe: one executor per host thread.
#pragma once

#include <vlgraph/backends/cuda/check.cuh>
#include <vlgraph/backends/cuda/memory.cuh>
#include <vlgraph/eval.hpp>
#include <vlgraph/recording.hpp>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

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
        if (!stream) {
            VL_CUDA_CHECK(cudaStreamCreate(&own_stream_));  // blocking: ordered after legacy-stream copies such as to_device
            stream = own_stream_;
        }
        workspace = std::make_unique<device_storage>(workspace_bytes);
        count_allocation(workspace_bytes);
        VL_CUBLAS_CHECK(cublasLtCreate(&blas));
    }
    ~executor() {
        gemm_plans.clear();
        cublasLtDestroy(blas);
        if (own_stream_) cudaStreamDestroy(own_stream_);
    }
    executor(const executor&) = delete;
    executor& operator=(const executor&) = delete;

    cudaStream_t stream;
    trace_fn trace;  // optional: receives every named intermediate (as a device tensor)
    vl::recording* recording = nullptr;  // set while a program is recorded (vlgraph/program.hpp)
    work_counters counters;
    cublasLtHandle_t blas = nullptr;
    std::unique_ptr<device_storage> workspace;
    int sm_count = 0;
    // cuBLASLt descriptors and algorithms per GEMM shape (gemm.cuh); type-erased so that this header need
    // not know the GEMM's types.
    std::unordered_map<std::string, std::shared_ptr<void>> gemm_plans;

    // Intermediates live in one device arena that only grows (vlgraph/arena.hpp).
    // Growing frees the old arena; cudaFree waits for the kernels still using it.
    std::byte* arena(std::size_t bytes) {
        if (!arena_ || arena_->bytes() < bytes) {
            arena_.reset();
            arena_ = std::make_unique<device_storage>(bytes);
            count_allocation(bytes);
        }
        return static_cast<std::byte*>(arena_->data());
    }
    std::size_t arena_bytes() const { return arena_ ? arena_->bytes() : 0; }
    // A device tensor (while recording: in the program's arena).
    tensor make_tensor(std::span<const index_t> shape, dtype t) {
        if (recording) return recording->make_tensor(shape, t, space);
        tensor out = empty_device(dims(shape.begin(), shape.end()), t);
        count_allocation(out.nbytes());
        return out;
    }
    // A pinned host tensor: a program bound to it copies it to the device at every run (memory.cuh).
    tensor make_staging(std::span<const index_t> shape, dtype t) {
        tensor out = empty_pinned(dims(shape.begin(), shape.end()), t);
        count_allocation(out.nbytes());
        return out;
    }
    std::shared_ptr<storage> allocate(std::size_t bytes) {
        count_allocation(bytes);
        return std::make_shared<device_storage>(bytes);
    }
    // Sets a contiguous device tensor to zeros (queued on the stream).
    void fill_zeros(const tensor& t) {
        if (t.space() != memory_space::device || !t.is_contiguous())
            throw backend_error("cuda::executor::fill_zeros: " + vl::to_string(t.shape()) + " is not a contiguous device tensor");
        if (t.nbytes()) VL_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), stream));
    }
    // A device copy of a host tensor (its own allocation; waits for the copy).
    tensor to_device(const tensor& host) {
        count_allocation(host.nbytes());
        counters.bytes_to_device += static_cast<std::int64_t>(host.nbytes());
        return cuda::to_device(host);
    }
    // A host copy of a result (after the work queued on `stream`), for code written for any executor.
    tensor to_host(const tensor& t) {
        ++counters.syncs;
        counters.bytes_to_host += static_cast<std::int64_t>(t.nbytes());
        return cuda::to_host(t, stream);
    }
    // Waits for the queued work; a failed kernel surfaces here as a vl::backend_error.
    void finish() {
        ++counters.syncs;
        VL_CUDA_CHECK(cudaStreamSynchronize(stream));
    }

    // A recorded program as one CUDA graph: captured from its launches on the first run, then launched.
    struct replay_state {
        std::shared_ptr<std::remove_pointer_t<cudaGraphExec_t>> graph;
        std::int64_t bytes_to_device = 0;  // copied up by every run (from pinned staging tensors)
    };
    void replay(const std::vector<std::function<void()>>& launches, replay_state& s) {
        if (!s.graph) capture(launches, s);
        VL_CUDA_CHECK(cudaGraphLaunch(s.graph.get(), stream));
        ++counters.graph_launches;
        counters.bytes_to_device += s.bytes_to_device;
    }

    // Eight bytes of device memory that kernels report a first bad index into (gather's out-of-range id):
    // one per executor, made on first use outside any capture, so that the flag never lives in an arena
    // that later holds results.
    unsigned long long* error_flag() {
        if (!error_flag_) {
            error_flag_ = std::make_unique<device_storage>(sizeof(unsigned long long));
            count_allocation(sizeof(unsigned long long));
        }
        return static_cast<unsigned long long*>(error_flag_->data());
    }

    // Blocks for a grid-stride loop over n items with `threads` per block: enough
    // to fill the GPU, never more than the work needs.
    unsigned blocks_for(index_t n, int threads) const {
        const index_t need = (n + threads - 1) / threads;
        return static_cast<unsigned>(std::max<index_t>(1, std::min<index_t>(need, index_t{sm_count} * 16)));
    }

private:
    void count_allocation(std::size_t bytes) {
        ++counters.allocations;
        counters.allocated_bytes += static_cast<std::int64_t>(bytes);
    }
    void capture(const std::vector<std::function<void()>>& launches, replay_state& s) {
        const work_counters before = counters;
        VL_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        cudaGraph_t graph = nullptr;
        try {
            for (const auto& work : launches) work();
        } catch (...) {
            (void)cudaStreamEndCapture(stream, &graph);
            if (graph) cudaGraphDestroy(graph);
            counters = before;
            throw;
        }
        VL_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
        cudaGraphExec_t exec = nullptr;
        const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        VL_CUDA_CHECK(e);
        s.graph.reset(exec, [](cudaGraphExec_t g) { cudaGraphExecDestroy(g); });
        // What the captured launches counted happens on the device at every replay, not on the host now.
        s.bytes_to_device = counters.bytes_to_device - before.bytes_to_device;
        counters = before;
    }

    cudaStream_t own_stream_ = nullptr;
    std::unique_ptr<device_storage> arena_, error_flag_;
};

}  // namespace vl::cuda
