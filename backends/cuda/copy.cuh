// backends/cuda/copy.cuh — strided copy with dtype conversion (ops::copy), and
// binding input tensors (ops::input).
//
// copy: any dtype to any dtype, any strides, device to device; conversions are
// those of vl::convert on the host (floating targets round to nearest even).
// input: a host tensor is uploaded into an arena buffer in its stored dtype; a
// floating one not already in T is then converted on the device. A device tensor
// of dtype T (or an integer one) is used in place, with its strides.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>

namespace vl {
namespace cuda::detail {

struct strided_ref {
    void* p;
    dtype type;
    index_t st[max_rank];
};
struct extents_ref {
    index_t e[max_rank];
};

// One thread per element (grid-stride). The dtypes are run-time values, so one
// instantiation serves every pair; the switch is uniform across a warp.
__global__ void copy_kernel(strided_ref dst, strided_ref src, int rank, extents_ref shape, index_t n, bool contiguous,
                            bool integer) {
    for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<index_t>(gridDim.x) * blockDim.x) {
        index_t so = i, dof = i;
        if (!contiguous) {
            so = dof = 0;
            index_t rem = i;
            for (int d = rank - 1; d >= 0; --d) {
                const index_t k = rem % shape.e[d];
                rem /= shape.e[d];
                so += k * src.st[d];
                dof += k * dst.st[d];
            }
        }
        if (integer) store_integer(dst.p, dst.type, dof, load_integer(src.p, src.type, so));
        else store_double(dst.p, dst.type, dof, load_as_double(src.p, src.type, so));
    }
}

inline strided_ref ref_of(const value& v) {
    strided_ref r{v.data, v.type, {}};
    for (int d = 0; d < v.rank; ++d) r.st[d] = v.strides[d];
    return r;
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::copy> {
    template <class Ctx>
    static void run(Ctx& ctx, const value& dst, const value& src) {
        if (dst.rank != src.rank || dst.numel() != src.numel()) throw shape_error("copy: shapes differ");
        ctx.launch([=, &ex = ctx.executor()] {
            if (dst.space != memory_space::device || src.space != memory_space::device)
                throw backend_error("cuda executor: copy between " + vl::to_string(src.dims()) + " and " + vl::to_string(dst.dims()) +
                                    ": both must be device memory (bring host tensors over with vl::cuda::to_device)");
            const index_t n = dst.numel();
            if (n == 0) return;
            const bool contiguous = dst.contiguous() && src.contiguous();
            if (contiguous && dst.type == src.type) {
                VL_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, static_cast<std::size_t>(n) * size_of(dst.type), cudaMemcpyDeviceToDevice, ex.stream));
                return;
            }
            cuda::detail::extents_ref shape{};
            for (int d = 0; d < dst.rank; ++d) shape.e[d] = dst.shape[d];
            constexpr int threads = 256;
            cuda::detail::copy_kernel<<<ex.blocks_for(n, threads), threads, 0, ex.stream>>>(
                cuda::detail::ref_of(dst), cuda::detail::ref_of(src), dst.rank, shape, n, contiguous, is_integer(dst.type) && is_integer(src.type));
            VL_CUDA_CHECK_LAUNCH("copy");
        });
    }
};

template <class T>
struct lowering<cuda::executor<T>, ops::input> {
    template <class Ctx>
    static value run(Ctx& ctx, const tensor& t, kind k) {
        value v = value::of(t);
        if (t.space() == memory_space::host) {
            if (ctx.recording() && !cuda::is_pinned(t)) {
                // A pageable host tensor is a constant of a recorded program: uploaded once, when recorded
                // (not in the planning pass).
                if (!ctx.dry()) v = value::of(cuda::to_device(t));
            } else {
                value up = ctx.alloc(v.dims(), t.type());
                ctx.launch([=, &ex = ctx.executor()] {
                    // A strided host tensor is packed on the host first. cudaMemcpyAsync from pageable memory
                    // returns only once the source has been staged, so the temporary may go away right after;
                    // a pinned tensor (a program's per-run input) is copied from where it lies.
                    const tensor h = t.contiguous();
                    if (!h.nbytes()) return;
                    VL_CUDA_CHECK(cudaMemcpyAsync(up.data, h.raw_data(), h.nbytes(), cudaMemcpyHostToDevice, ex.stream));
                    ex.counters.bytes_to_device += static_cast<std::int64_t>(h.nbytes());
                });
                v = up;
            }
        }
        if (k == kind::integer || v.type == dtype_of_v<T>) return v;
        value c = ctx.alloc(v.dims());
        ctx.copy(c, v);
        return c;
    }
};

}  // namespace vl
