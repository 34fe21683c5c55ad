// backends/cuda/elementwise.cuh — runs a fused elementwise chain (the functor
// built by vl::eval from unary/binary nodes, see vlgraph/eval.hpp) as one kernel:
// this is the graph's fusion on the GPU. Each thread takes output elements in a
// grid-stride loop, turns the linear index into the R-dim multi-index the functor
// expects, and stores fn(idx) rounded to T — or unrounded, into an f32 output
// (a value an op wants in f32, e.g. the delta rule's log decay).
#pragma once

#include <vlgraph/backends/cuda/copy.cuh>

namespace vl {
namespace cuda::detail {

template <int R>
struct out_layout {
    index_t shape[R > 0 ? R : 1];
    index_t st[R > 0 ? R : 1];
};

// Fn is trivially copyable (pointers, strides, constants): it travels by value
// as a kernel parameter.
// The output is T, or f32 when f32_out: a uniform branch per element, not a
// second instantiation of every chain.
template <int R, class T, class Fn>
__global__ void elementwise_kernel(void* out, bool f32_out, out_layout<R> layout, index_t n, Fn fn) {
    for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<index_t>(gridDim.x) * blockDim.x) {
        index_t idx[R > 0 ? R : 1];
        index_t off = 0, rem = i;
        for (int d = R - 1; d >= 0; --d) {
            idx[d] = rem % layout.shape[d];
            rem /= layout.shape[d];
            off += idx[d] * layout.st[d];
        }
        const float v = fn(idx);
        if (f32_out) static_cast<float*>(out)[off] = v;
        else static_cast<T*>(out)[off] = from_float<T>(v);
    }
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::elementwise> {
    template <int R, class Ctx, class Fn>
    static void run(Ctx& ctx, const value& out, const Fn& fn) {
        if (!is_floating(out.type)) throw dtype_error("elementwise: cannot write floating results to a " + std::string(name_of(out.type)) + " tensor");
        const bool f32_out = out.type == dtype::f32;
        if (out.type != dtype_of_v<T> && !f32_out) {
            // Another floating output dtype (f16, f64): compute in T, then convert,
            // so that each chain is compiled for one storage type only.
            const value tmp = ctx.alloc(out.dims());
            run<R>(ctx, tmp, fn);
            ctx.copy(out, tmp);
            return;
        }
        ctx.launch([=, &ex = ctx.executor()] {
            if (out.space != memory_space::device) throw backend_error("cuda executor: the output of an elementwise chain is not device memory");
            const index_t n = out.numel();
            if (n == 0) return;
            cuda::detail::out_layout<R> layout{};
            for (int d = 0; d < R; ++d) {
                layout.shape[d] = out.shape[d];
                layout.st[d] = out.strides[d];
            }
            constexpr int threads = 256;
            cuda::detail::elementwise_kernel<R, T><<<ex.blocks_for(n, threads), threads, 0, ex.stream>>>(out.data, f32_out, layout, n, fn);
            VL_CUDA_CHECK_LAUNCH("elementwise");
        });
    }
};

}  // namespace vl
