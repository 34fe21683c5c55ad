// backends/cuda/gather.cuh — embedding lookup (ops/gather.hpp). The table is
// read in its stored dtype and only the gathered rows are converted to T. A
// device table is used in place (keep embeddings on the device with
// vl::cuda::to_device); a host table is uploaded whole, as stored, on every eval.
//
// Ids are checked in the kernel: an id outside [0, V) writes a zero row and
// records its position in a device flag (atomicMin: the first bad position).
// The flag is read back after the kernel and becomes the same vl::shape_error as
// on the CPU backend — the table is never read out of bounds.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/gather.hpp>

#include <climits>
#include <cstdint>

namespace vl {
namespace cuda::detail {

template <class T>
__global__ void gather_kernel(T* out, const void* table, dtype table_type, index_t row_stride, index_t col_stride, index_t rows, index_t d,
                              const void* ids, dtype id_type, index_t n, unsigned long long* first_bad) {
    for (index_t e = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; e < n * d; e += static_cast<index_t>(gridDim.x) * blockDim.x) {
        const index_t i = e / d, j = e % d;
        const std::int64_t id = load_integer(ids, id_type, i);
        if (id < 0 || id >= rows) {
            atomicMin(first_bad, static_cast<unsigned long long>(i));
            out[e] = from_float<T>(0.0f);
        } else {
            out[e] = from_float<T>(static_cast<float>(load_as_double(table, table_type, id * row_stride + j * col_stride)));
        }
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::gather> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        static_assert(std::is_same_v<typename decltype(node.table)::op, ops::input>,
                      "vl::gather (cuda): the table must be an input tensor (it is read in its stored dtype)");
        const tensor& t = node.table.value();
        value table = value::of(t);
        if (t.space() == memory_space::host) {
            if (ctx.recording()) {
                if (!ctx.dry()) table = value::of(cuda::to_device(t));  // a constant of the program (copy.cuh)
            } else {
                table = ctx.alloc(table.dims(), t.type());
                ctx.launch([=, &ex = ctx.executor()] {
                    const tensor h = t.contiguous();
                    if (h.nbytes()) VL_CUDA_CHECK(cudaMemcpyAsync(table.data, h.raw_data(), h.nbytes(), cudaMemcpyHostToDevice, ex.stream));
                });
            }
        }
        const value ids = ctx.contiguous(node.ids);
        unsigned long long* const first_bad = ctx.executor().error_flag();
        value out = ctx.alloc(node.shape());
        // Eager evaluation reads the flag back and names the first bad id. A recorded program cannot wait
        // for the device: its caller checks the ids on the host before they are uploaded (and a bad id
        // still only yields a zero row, never an out-of-bounds read).
        const bool check_on_host = !ctx.recording();
        ctx.launch([=, &ex = ctx.executor()] {
            if (ids.type != dtype::i32 && ids.type != dtype::i64 && ids.type != dtype::u8) throw dtype_error("gather: ids must be i32, i64 or u8");
            const index_t v = table.shape[0], d = table.shape[1], n = ids.numel();
            if (n * d == 0) return;
            VL_CUDA_CHECK(cudaMemsetAsync(first_bad, 0xff, sizeof(unsigned long long), ex.stream));
            constexpr int threads = 256;
            cuda::detail::gather_kernel<T><<<ex.blocks_for(n * d, threads), threads, 0, ex.stream>>>(
                out.ptr<T>(), table.data, table.type, table.strides[0], table.strides[1], v, d, ids.data, ids.type, n, first_bad);
            VL_CUDA_CHECK_LAUNCH("gather");
            if (!check_on_host) return;
            unsigned long long bad = ULLONG_MAX;
            VL_CUDA_CHECK(cudaMemcpyAsync(&bad, first_bad, sizeof bad, cudaMemcpyDeviceToHost, ex.stream));
            VL_CUDA_CHECK(cudaStreamSynchronize(ex.stream));
            ++ex.counters.syncs;
            if (bad == ULLONG_MAX) return;
            const auto pos = static_cast<index_t>(bad);
            std::int64_t id = 0;
            VL_CUDA_CHECK(cudaMemcpy(&id, static_cast<const char*>(ids.data) + pos * static_cast<index_t>(size_of(ids.type)), size_of(ids.type),
                                     cudaMemcpyDeviceToHost));
            if (ids.type == dtype::i32) id = static_cast<std::int32_t>(id);  // little-endian: the low bytes hold the i32 / u8
            throw shape_error("gather: id " + std::to_string(id) + " at position " + std::to_string(pos) + " is outside the table's " + std::to_string(v) +
                              " rows");
        });
        return out;
    }
};

}  // namespace vl
