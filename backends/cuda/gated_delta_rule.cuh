// backends/cuda/gated_delta_rule.cuh — the gated delta rule (ops/gated_delta_rule.hpp), as the exact token
// recurrence of the op header, for both forms.
//
// One block = one warp of 32 threads per (v-head h, tile of 32 state columns): grid (ceil(Dv / 32), Hv).
// Thread j owns column j of head h's state, S[:, j] (Dk floats, f32): in registers when Dk <= 128, in a
// shared-memory tile [Dk][32] when 128 < Dk <= 256 (32 KB at most; one bank per thread, so no conflicts).
// A column never leaves its thread between the read of S_0 and the write of S_L, and the columns are
// independent given k̂ and q̂, so there is no exchange between threads but the per-token vectors:
//
//     read S_0[:, j] from the state tensor (any floating dtype, any strides; converted to f32)
//     for t in 0 .. L-1:
//         the warp loads q_t, k_t of q/k head h / (Hv / Hk) into shared memory (T -> f32) and normalises them:
//             k̂ = k · rsqrt(Σk² + 1e-6),  q̂ = q · rsqrt(Σq² + 1e-6) · (1 / √Dk)     (Σx² in f64, as the CPU)
//         S[:, j] *= exp(g_t,h);  u = Σ_i S[i, j] k̂_i                  decay, then what the state predicts
//         δ = beta_t,h · (v_t,h,j − u);  S[:, j] += k̂ δ                the correction, written back
//         o_t,h,j = Σ_i S[i, j] q̂_i                                    read, rounded to T
//     write S_L[:, j] back to the state tensor (rounded to its dtype)
//
// One warp per block means no block-wide barrier: __syncwarp orders the shared q̂/k̂ between tokens and the
// norms are warp shuffles. The two forms are the same maths (the op header); the chunked form differs only by
// rounding order, so delta_rule_form::chunked is lowered as this recurrence too: it agrees with the CPU's
// chunked form to f32 rounding (docs/numerics.md). A tensor-core chunked (WY) kernel, batching the tokens of
// a chunk into small GEMMs, is future work for long-prompt throughput; decode (L = 1) is what this kernel is
// shaped for.
//
// Precision: q, k, v and beta converted from T to f32; g asked for in f32 (HF keeps the log decay in f32); the
// state and all arithmetic in f32 (FMA dot products), the norms' Σx² in f64, expf for the decay, one rounding
// to T at the output.
//
// The state must be a device tensor (the model keeps its recurrent cache on the device: an upload and a
// download per call would cost more than the kernel); a host state is a vl::backend_error. Keep it there with
// vl::cuda::to_device (e.g. of vl::tensor::empty: zeros for a new sequence; vl::cuda::empty_device is not zeroed).
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/gated_delta_rule.hpp>

#include <cmath>
#include <string>

namespace vl {
namespace cuda::detail {

inline constexpr int delta_rule_cols = 32;          // state columns per block = threads per block = one warp
inline constexpr int delta_rule_register_dk = 128;  // Dk up to this: the state columns live in registers
inline constexpr int delta_rule_max_dk = 256;       // up to this: in shared memory

struct delta_rule_params {
    index_t len, hk, hv, dk, dv;
    float q_scale;  // 1 / sqrt(Dk), rounded to f32 as on the CPU
    void* state;    // [Hv, Dk, Dv], element (h, i, j) at h·st[0] + i·st[1] + j·st[2]
    dtype state_type;
    index_t st[3];
};

// A thread's state column S[:, j], indexed by i < Dk, and the shared-memory tile (floats) its block needs.
// Every loop over i is `#pragma unroll  for (i = 0; i < Column::loop_end(dk); ++i) if (i < dk) ...`: for the
// register column the bound is the constant 128, so the loop is unrolled completely and the array is only ever
// indexed by constants (a run-time index would put it in local memory); for the shared column the bound is Dk
// itself, a run-time trip count, which nvcc does not unroll (and the guard is always true).
struct register_column {
    static index_t tile_floats(index_t) { return 0; }
    __device__ static constexpr int loop_end(int) { return delta_rule_register_dk; }
    float v[delta_rule_register_dk];
    __device__ explicit register_column(float*) {}
    __device__ float& operator[](int i) { return v[i]; }
};
struct shared_column {
    static index_t tile_floats(index_t dk) { return dk * delta_rule_cols; }
    __device__ static int loop_end(int dk) { return dk; }
    float* p;  // this thread's column in the block's [Dk][32] tile
    __device__ explicit shared_column(float* tile) : p(tile + threadIdx.x) {}
    __device__ float& operator[](int i) { return p[i * delta_rule_cols]; }
};

// dst = x · rsqrt(Σx² + 1e-6) · scale for the whole warp (every lane must call it): lane l handles elements
// l, l + 32, ... and the xor butterfly gives every lane the same sum. The CPU's formula and roundings, its
// Σx² summed in f64 too (in another order).
template <class T>
__device__ void delta_rule_normalise(const T* x, int dk, float scale, float* dst) {
    double ss = 0;
    for (int i = threadIdx.x; i < dk; i += delta_rule_cols) {
        const float xi = to_float(x[i]);
        dst[i] = xi;
        ss += static_cast<double>(xi) * xi;
    }
    for (int o = delta_rule_cols / 2; o > 0; o /= 2) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    const float inv = static_cast<float>(1.0 / sqrt(ss + 1e-6));
    for (int i = threadIdx.x; i < dk; i += delta_rule_cols) dst[i] = dst[i] * inv * scale;
}

template <class T, class Column>
__global__ void __launch_bounds__(delta_rule_cols) delta_rule_kernel(const T* __restrict__ q, const T* __restrict__ k, const T* __restrict__ v,
                                                                     const float* __restrict__ g, const T* __restrict__ beta, T* __restrict__ out,
                                                                     delta_rule_params p) {
    extern __shared__ float smem[];
    const int dk = static_cast<int>(p.dk), end = Column::loop_end(dk);
    float* qn = smem;       // q̂_t [Dk]
    float* kn = smem + dk;  // k̂_t [Dk]
    Column s(smem + 2 * dk);

    const index_t h = blockIdx.y, kh = h / (p.hv / p.hk);
    const index_t j = static_cast<index_t>(blockIdx.x) * delta_rule_cols + threadIdx.x;
    // Lanes past Dv own no column but still take part in the loads, shuffles and __syncwarp of every token.
    const bool owner = j < p.dv;
    auto state_at = [&](int i) { return h * p.st[0] + i * p.st[1] + j * p.st[2]; };

    if (owner) {
        #pragma unroll
        for (int i = 0; i < end; ++i)
            if (i < dk) s[i] = static_cast<float>(load_as_double(p.state, p.state_type, state_at(i)));
    }

    for (index_t t = 0; t < p.len; ++t) {
        __syncwarp();  // every lane has read the previous token's q̂ and k̂
        delta_rule_normalise(q + (t * p.hk + kh) * p.dk, dk, p.q_scale, qn);
        delta_rule_normalise(k + (t * p.hk + kh) * p.dk, dk, 1.0f, kn);
        __syncwarp();  // q̂ and k̂ are complete and visible to every lane
        if (owner) {
            const index_t gate = t * p.hv + h;
            const float decay = expf(g[gate]), b = to_float(beta[gate]);
            float u = 0;
            #pragma unroll
            for (int i = 0; i < end; ++i)
                if (i < dk) {
                    s[i] *= decay;
                    u = fmaf(s[i], kn[i], u);
                }
            const float delta = (to_float(v[gate * p.dv + j]) - u) * b;
            float o = 0;
            #pragma unroll
            for (int i = 0; i < end; ++i)
                if (i < dk) {
                    s[i] = fmaf(kn[i], delta, s[i]);
                    o = fmaf(s[i], qn[i], o);
                }
            out[gate * p.dv + j] = from_float<T>(o);
        }
    }

    if (owner) {
        #pragma unroll
        for (int i = 0; i < end; ++i)
            if (i < dk) store_double(p.state, p.state_type, state_at(i), s[i]);
    }
}

template <class T, class Column>
void launch_delta_rule(executor<T>& ex, const T* q, const T* k, const T* v, const float* g, const T* beta, T* out, const delta_rule_params& p) {
    const std::size_t smem = static_cast<std::size_t>(2 * p.dk + Column::tile_floats(p.dk)) * sizeof(float);  // <= 34 KB
    const dim3 grid(static_cast<unsigned>((p.dv + delta_rule_cols - 1) / delta_rule_cols), static_cast<unsigned>(p.hv));
    delta_rule_kernel<T, Column><<<grid, delta_rule_cols, smem, ex.stream>>>(q, k, v, g, beta, out, p);
    VL_CUDA_CHECK_LAUNCH("gated_delta_rule");
}

}  // namespace cuda::detail

template <class T>
struct lowering<cuda::executor<T>, ops::gated_delta_rule> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.state.space() != memory_space::device)
            throw backend_error("cuda executor: gated_delta_rule state " + vl::to_string(node.state.shape()) +
                                " is a host tensor; the CUDA backend updates the state in place on the device: keep it there (vl::cuda::to_device)");
        const index_t dk = node.q.shape()[2], hv = node.v.shape()[1];
        if (dk > cuda::detail::delta_rule_max_dk)
            throw backend_error("cuda gated_delta_rule: key head dimensions Dk up to " + std::to_string(cuda::detail::delta_rule_max_dk) + " are supported, got " +
                                std::to_string(dk));
        if (hv > 65535) throw backend_error("cuda gated_delta_rule: at most 65535 v-heads (a grid dimension), got " + std::to_string(hv));
        const value q = ctx.contiguous(node.q), k = ctx.contiguous(node.k), v = ctx.contiguous(node.v);
        const value beta = ctx.contiguous(node.beta);
        // g in f32, as HF keeps the log decay (on executor<bf16> a slow-decay head would otherwise accumulate
        // the bf16 error of many similar g_t): an elementwise chain is stored into it unrounded
        // (elementwise.cuh), any other operand is converted from T.
        const value g = ctx.alloc(node.g.shape(), dtype::f32);
        ctx.assign(g, node.g);
        value out = ctx.alloc(node.shape());
        const value state = value::of(node.state);
        ctx.launch([=, &ex = ctx.executor()] {
            // node.form is not read: both forms are the same recurrence here (see the top of the file).
            cuda::detail::delta_rule_params p{};
            p.len = q.shape[0], p.hk = q.shape[1], p.dk = q.shape[2];
            p.hv = v.shape[1], p.dv = v.shape[2];
            p.q_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.dk)));
            p.state = state.data;
            p.state_type = state.type;
            for (int d = 0; d < 3; ++d) p.st[d] = state.strides[d];
            if (p.len == 0 || p.hv == 0 || p.dv == 0) return;  // no output, and the state stays as it is
            const T *qp = q.ptr<const T>(), *kp = k.ptr<const T>(), *vp = v.ptr<const T>(), *bp = beta.ptr<const T>();
            const float* gp = g.ptr<const float>();
            if (p.dk <= cuda::detail::delta_rule_register_dk)
                cuda::detail::launch_delta_rule<T, cuda::detail::register_column>(ex, qp, kp, vp, gp, bp, out.ptr<T>(), p);
            else cuda::detail::launch_delta_rule<T, cuda::detail::shared_column>(ex, qp, kp, vp, gp, bp, out.ptr<T>(), p);
        });
        return out;
    }
};

}  // namespace vl
