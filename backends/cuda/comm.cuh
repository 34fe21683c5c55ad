// backends/cuda/comm.cuh — NCCL as a vl::communicator (vlgraph/comm.hpp): the collectives of tensor
// parallelism on GPUs, one rank per GPU, enqueued on the rank's CUDA stream.
//
//   One process driving N GPUs (ncclCommInitAll; one thread per rank):
//     auto group = vl::cuda::nccl_group::init_all({0, 1});            // rank r on device r, a stream each
//     std::thread([&] { cudaSetDevice(1);
//                       vl::cuda::executor<vl::bf16> gpu{group.rank(1).stream()};   // collectives and kernels share it
//                       ... language_weights::load_shard(..., group.rank(1)) ... });
//
//   Several processes (one per GPU; ncclCommInitRank):
//     rank 0:      ncclUniqueId id = vl::cuda::nccl_communicator::unique_id();  // 128 bytes, written out of band
//     every rank:  cudaSetDevice(local_gpu); cudaStream_t s; cudaStreamCreate(&s);
//                  auto comm = vl::cuda::nccl_communicator::from_unique_id(id, rank, size, s);  // waits for all ranks
//                  vl::cuda::executor<vl::bf16> gpu{s};
//
// The collectives are enqueued on stream() and never wait on the host, so a recorded program captures them
// into its CUDA graph like its kernels (NCCL calls inside stream capture are legal) and replays them; the
// stream must be the rank's executor's (the executor uses the one it is given), so that a collective is
// ordered after the kernels that write its input. Call a communicator from the thread whose current device
// is its device (the rank's thread). Buffers are device memory of that device (space() == device). NCCL
// errors become vl::backend_error with ncclGetErrorString.
//
// all_reduce_sum of bf16 data sums in f32: NCCL's own bf16 sum rounds every partial sum to bf16 (once per
// hop of its ring), so the data is widened into an f32 scratch buffer, summed as f32 and rounded back once:
// twice the bytes on the wire of a bf16 all-reduce (at the 27B width, 20 KiB instead of 10 KiB per token and
// reduction), for the precision of the unsharded model. The scratch is grown outside any capture only (a
// graph must not allocate): reserve() it before recording a program that calls the bf16 form directly. The
// model's lowerings (all_reduce.cuh) pass f32 buffers from the executor's arena and need no scratch.
#pragma once

#include <vlgraph/backends/cuda/check.cuh>
#include <vlgraph/backends/cuda/memory.cuh>
#include <vlgraph/comm.hpp>

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace vl::cuda {
namespace detail {

inline void check(ncclResult_t r, const char* call, const char* file, int line) {
    if (r != ncclSuccess) throw backend_error(std::string("NCCL: ") + call + " failed: " + ncclGetErrorString(r) + where(file, line));
}

__global__ void widen_bf16(const bf16* in, float* out, std::size_t n) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
        out[i] = in[i].to_float();
}
__global__ void round_to_bf16(const float* in, bf16* out, std::size_t n) {
    for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
        out[i] = bf16::from_float(in[i]);
}

}  // namespace detail

#define VL_NCCL_CHECK(call) ::vl::cuda::detail::check((call), #call, __FILE__, __LINE__)

class nccl_communicator final : public communicator {
public:
    // Takes ownership of `comm` (destroyed with this object); collectives go on `stream`, and the stream too
    // is destroyed here when owns_stream.
    nccl_communicator(ncclComm_t comm, cudaStream_t stream, bool owns_stream = false) : comm_(comm), stream_(stream), owns_stream_(owns_stream) {
        if (!stream) throw backend_error("nccl_communicator: a stream of the rank's device is needed (the legacy default stream cannot be captured into a graph)");
        VL_NCCL_CHECK(ncclCommUserRank(comm_, &rank_));
        VL_NCCL_CHECK(ncclCommCount(comm_, &size_));
        VL_NCCL_CHECK(ncclCommCuDevice(comm_, &device_));
    }
    ~nccl_communicator() override {
        scratch_.reset();
        ncclCommDestroy(comm_);
        if (owns_stream_) cudaStreamDestroy(stream_);
    }
    nccl_communicator(const nccl_communicator&) = delete;
    nccl_communicator& operator=(const nccl_communicator&) = delete;

    // The id that names a new communicator (ncclGetUniqueId, on one rank): pass its 128 bytes to every rank
    // out of band (a file, an environment variable, a socket) before from_unique_id.
    static ncclUniqueId unique_id() {
        ncclUniqueId id;
        VL_NCCL_CHECK(ncclGetUniqueId(&id));
        return id;
    }
    // Rank `rank` of `size` (one per process or thread, on the current device), collectives on `stream` (not
    // owned). Blocks until every rank has joined.
    static std::unique_ptr<nccl_communicator> from_unique_id(const ncclUniqueId& id, int rank, int size, cudaStream_t stream) {
        if (size < 1 || rank < 0 || rank >= size)
            throw config_error("nccl_communicator::from_unique_id: rank " + std::to_string(rank) + " of " + std::to_string(size) + " is not a rank");
        if (!stream) throw backend_error("nccl_communicator::from_unique_id: a stream of the rank's device is needed (the legacy default stream cannot be captured into a graph)");
        ncclComm_t comm = nullptr;
        VL_NCCL_CHECK(ncclCommInitRank(&comm, size, id, rank));
        return std::make_unique<nccl_communicator>(comm, stream);
    }

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    memory_space space() const override { return memory_space::device; }
    int device() const { return device_; }
    cudaStream_t stream() const { return stream_; }
    ncclComm_t handle() const { return comm_; }

    // Makes the f32 scratch of the bf16 all-reduce hold `elements` (it only grows). Not while the stream
    // is being captured: cudaMalloc would invalidate the capture.
    void reserve(std::size_t elements) {
        if (scratch_ && scratch_->bytes() >= elements * sizeof(float)) return;
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        VL_CUDA_CHECK(cudaStreamIsCapturing(stream_, &status));
        if (status != cudaStreamCaptureStatusNone)
            throw backend_error("nccl_communicator: a bf16 all_reduce_sum of " + std::to_string(elements) +
                                " elements needs a larger f32 scratch while the stream is being captured: reserve() it before recording");
        check_device("reserve");
        scratch_.reset();  // cudaFree waits for the work still using the old one
        scratch_ = std::make_unique<device_storage>(elements * sizeof(float));
    }

    using communicator::all_gather;
    using communicator::all_reduce_sum;
    using communicator::broadcast;

    void all_reduce_sum(void* data, std::size_t count, dtype type) override {
        if (type == dtype::f32) {
            VL_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, ncclSum, comm_, stream_));
            return;
        }
        if (type != dtype::bf16) throw dtype_error("all_reduce_sum: f32 or bf16 buffers, got " + std::string(name_of(type)));
        if (count == 0) return;
        check_device("all_reduce_sum");
        reserve(count);
        float* sum = static_cast<float*>(scratch_->data());
        constexpr int threads = 256;
        const auto blocks = static_cast<unsigned>(std::min<std::size_t>((count + threads - 1) / threads, 4096));
        detail::widen_bf16<<<blocks, threads, 0, stream_>>>(static_cast<const bf16*>(data), sum, count);
        VL_CUDA_CHECK_LAUNCH("widen_bf16");
        VL_NCCL_CHECK(ncclAllReduce(sum, sum, count, ncclFloat32, ncclSum, comm_, stream_));
        detail::round_to_bf16<<<blocks, threads, 0, stream_>>>(sum, static_cast<bf16*>(data), count);
        VL_CUDA_CHECK_LAUNCH("round_to_bf16");
    }

    void broadcast(void* data, std::size_t bytes, int root) override {
        if (root < 0 || root >= size_) throw config_error("broadcast: root " + std::to_string(root) + " is not a rank");
        VL_NCCL_CHECK(ncclBroadcast(data, data, bytes, ncclUint8, root, comm_, stream_));
    }

    void all_gather(const void* part, void* out, std::size_t bytes) override {
        VL_NCCL_CHECK(ncclAllGather(part, out, bytes, ncclUint8, comm_, stream_));
    }

private:
    // Kernels go on stream_, which belongs to device_: launching them from a thread on another device fails.
    void check_device(const char* what) const {
        int current = 0;
        VL_CUDA_CHECK(cudaGetDevice(&current));
        if (current != device_)
            throw backend_error(std::string("nccl_communicator: ") + what + " of rank " + std::to_string(rank_) + " (device " + std::to_string(device_) +
                                ") called with device " + std::to_string(current) + " current: call it from the rank's thread (cudaSetDevice)");
    }

    ncclComm_t comm_;
    cudaStream_t stream_;
    bool owns_stream_;
    int rank_ = 0, size_ = 1, device_ = 0;
    std::unique_ptr<device_storage> scratch_;
};

// The ranks of one process, one per GPU (ncclCommInitAll): rank r on devices[r], each with a stream of its
// own (blocking, as the executor's own: ordered after legacy-stream copies such as to_device) that the
// rank's executor is made with.
class nccl_group {
public:
    static nccl_group init_all(std::span<const int> devices) {
        const int n = static_cast<int>(devices.size());
        const int have = device_count();
        if (n < 1) throw config_error("nccl_group::init_all: no devices given");
        for (const int d : devices)
            if (d < 0 || d >= have)
                throw config_error("nccl_group::init_all: device " + std::to_string(d) + " does not exist (" + std::to_string(have) + " CUDA device(s))");
        std::vector<ncclComm_t> comms(devices.size());
        VL_NCCL_CHECK(ncclCommInitAll(comms.data(), n, devices.data()));
        int previous = 0;
        VL_CUDA_CHECK(cudaGetDevice(&previous));
        nccl_group g;
        try {
            for (std::size_t r = 0; r < devices.size(); ++r) {
                VL_CUDA_CHECK(cudaSetDevice(devices[r]));
                cudaStream_t s = nullptr;
                VL_CUDA_CHECK(cudaStreamCreate(&s));
                g.ranks_.push_back(std::make_unique<nccl_communicator>(comms[r], s, true));
            }
        } catch (...) {
            for (std::size_t q = g.ranks_.size(); q < comms.size(); ++q) ncclCommDestroy(comms[q]);  // not yet owned
            (void)cudaSetDevice(previous);
            throw;
        }
        VL_CUDA_CHECK(cudaSetDevice(previous));
        return g;
    }
    static nccl_group init_all(std::initializer_list<int> devices) { return init_all(std::span<const int>(devices.begin(), devices.size())); }

    int size() const { return static_cast<int>(ranks_.size()); }
    nccl_communicator& rank(int r) { return *ranks_.at(static_cast<std::size_t>(r)); }

private:
    std::vector<std::unique_ptr<nccl_communicator>> ranks_;
};

}  // namespace vl::cuda
