// backends/cpu/attention.hpp — scaled dot-product attention (ops/attention.hpp).
//
// The work is cut into tasks of (query block, head): a query block is up to
// `attention_block_q` consecutive queries of one segment (or of the causal
// sequence), together with the keys they may see. Per task, with Eigen on one
// thread:
//
//     S = scale · Q_blk · K_segᵀ           [bq, Lk]  f32 GEMM
//     P = softmax(S) per row               max subtracted, f32 exponentials (Eigen's vectorised exp), f64 sum
//     O_blk = P · V_seg                    [bq, Dv]  f32 GEMM, written into out[q0:q1, h, :]
//
// Blocks depend only on the shapes and the mask, and each task writes its own
// rows of one head, so results are bit-identical for any thread count. Only one
// block of scores is alive per task (never the full [N, N] matrix).
#pragma once

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/attention.hpp>

#include <cmath>
#include <limits>
#include <vector>

namespace vl {

namespace cpu {

// Queries per task. K and V are packed for the GEMMs once per block, so small blocks repack them often:
// on the vision shape (4096 keys, hd 72) 128 runs ~1.6x faster than 64; 256 gains little more and doubles
// the scratch (bq × Lk f32 per thread: 2 MB at 4096 keys).
inline constexpr index_t attention_block_q = 128;

// Queries [q0, q1) attending to keys [k0, k1); in a causal mask query i only to keys < i + offset + 1.
struct attention_block {
    index_t q0, q1, k0, k1;
};

inline std::vector<attention_block> attention_blocks(const attention_mask& mask, index_t n, index_t m, index_t offset) {
    std::vector<attention_block> blocks;
    if (mask.type() == attention_mask::kind::segments) {
        const auto& cu = mask.cu_seqlens();
        for (std::size_t s = 0; s + 1 < cu.size(); ++s)
            for (index_t q0 = cu[s]; q0 < cu[s + 1]; q0 += attention_block_q)
                blocks.push_back({q0, std::min(q0 + attention_block_q, cu[s + 1]), cu[s], cu[s + 1]});
    } else {
        for (index_t q0 = 0; q0 < n; q0 += attention_block_q) {
            const index_t q1 = std::min(q0 + attention_block_q, n);
            blocks.push_back({q0, q1, 0, std::min(m, q1 + offset)});
        }
    }
    return blocks;
}

}  // namespace cpu

template <>
struct lowering<cpu::executor, ops::attention> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        const value q = ctx.contiguous(node.q), k = ctx.contiguous(node.k), v = ctx.contiguous(node.v);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t n = q.shape[0], hq = q.shape[1], d = q.shape[2];
            const index_t m = k.shape[0], hkv = k.shape[1], dv = v.shape[2];
            if (n == 0 || hq == 0 || dv == 0) return;
            const index_t group = hq / hkv;
            const bool causal = node.mask.type() == attention_mask::kind::causal;
            const index_t offset = past_offset(node.mask, n, m);
            const std::vector<cpu::attention_block> blocks = cpu::attention_blocks(node.mask, n, m, offset);

            using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
            using rows_in = Eigen::Map<const matrix, 0, Eigen::OuterStride<>>;  // rows of one head, strided over the others
            using rows_out = Eigen::Map<matrix, 0, Eigen::OuterStride<>>;
            const float* qp = q.ptr<const float>();
            const float* kp = k.ptr<const float>();
            const float* vp = v.ptr<const float>();
            float* op = out.ptr<float>();
            const float scale = node.scale;

            ex.pool->parallel_for(static_cast<index_t>(blocks.size()) * hq, [&](index_t task) {
                const cpu::attention_block& b = blocks[static_cast<std::size_t>(task / hq)];
                const index_t h = task % hq, g = h / group;
                const index_t nq = b.q1 - b.q0, nk = b.k1 - b.k0;
                // Grow-only per-thread scratch; Eigen allocates it aligned to its largest packet, which fixes
                // where the vectorised softmax loops start their aligned packets (and so their summation order).
                thread_local Eigen::VectorXf scratch;
                if (scratch.size() < nq * nk) scratch.resize(nq * nk);
                Eigen::Map<matrix> scores(scratch.data(), nq, nk);
                if (d == 0) {
                    scores.setZero();
                } else {
                    rows_in Q(qp + (b.q0 * hq + h) * d, nq, d, Eigen::OuterStride<>(hq * d));
                    rows_in K(kp + (b.k0 * hkv + g) * d, nk, d, Eigen::OuterStride<>(hkv * d));
                    scores.noalias() = Q * K.transpose();
                }
                for (index_t r = 0; r < nq; ++r) {
                    // Keys [0, visible) of this block's key range; the rest are masked (weight 0).
                    const index_t visible = causal ? std::min(nk, b.q0 + r + offset + 1 - b.k0) : nk;
                    Eigen::Map<Eigen::ArrayXf> p(scores.data() + r * nk, visible);
                    p *= scale;
                    p = (p - p.maxCoeff()).exp();
                    p *= static_cast<float>(1.0 / p.cast<double>().sum());
                    scores.row(r).tail(nk - visible).setZero();
                }
                rows_in V(vp + (b.k0 * hkv + g) * dv, nk, dv, Eigen::OuterStride<>(hkv * dv));
                rows_out O(op + (b.q0 * hq + h) * dv, nq, dv, Eigen::OuterStride<>(hq * dv));
                O.noalias() = scores * V;
            });
        });
        return out;
    }

private:
    // The causal offset: the mask's, or read now from its `past` tensor (a recorded step's cache length).
    static index_t past_offset(const attention_mask& mask, index_t n, index_t m) {
        if (!mask.offset_at_run_time()) return mask.offset();
        if (mask.past().space() != memory_space::host) throw backend_error("cpu executor: the attention offset tensor lives on a device");
        const index_t past = mask.past().template data<std::int64_t>()[0];
        if (past < 0 || past + n > m)
            throw shape_error("attention: " + std::to_string(past) + " cached + " + std::to_string(n) + " new positions do not fit the " + std::to_string(m) +
                              " keys");
        return past;
    }
};

}  // namespace vl
