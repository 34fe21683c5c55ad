// backends/cpu/gated_delta_rule.hpp — the gated delta rule (ops/gated_delta_rule.hpp).
//
// One task per v-head h: the task reads head h's state S (Dk × Dv) from the state tensor into an f32 matrix,
// runs the whole sequence of that head — chunk by chunk, or token by token — and writes its output rows and
// the final S back (rounded to the state's dtype). A head's work never depends on how the heads are spread
// over threads, and each task computes into matrices it owns (Eigen-allocated, so their alignment, which
// decides Eigen's vectorisation paths, is fixed too): results are bit-identical for any thread count.
//
// The arithmetic follows HF's torch_chunk_gated_delta_rule / torch_recurrent_gated_delta_rule in f32 and in
// the same order (see the op header for the maths). The cumulative decay γ is summed in f64 and rounded to f32
// per token, exactly as torch's CPU cumsum does (its accumulator for f32 is a double), so the decay mask sees
// HF's γ. Two deviations, at the rounding level: the norms' Σx² is summed in f64 (torch: f32), and both forms
// multiply q by 1/√Dk (as HF's chunked function; its recurrent one divides by √Dk).
// The last chunk is not padded: HF's zero padding (k = v = β = 0, g = 0) adds exact zeros to every product and
// leaves γ at the chunk's last token, so n < 64 rows give the same result.
#pragma once

#ifndef EIGEN_DONT_PARALLELIZE
#define EIGEN_DONT_PARALLELIZE
#endif
#include <Eigen/Core>

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/gated_delta_rule.hpp>

#include <algorithm>
#include <cmath>

namespace vl {

namespace cpu::delta_rule {

using matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using vector = Eigen::VectorXf;

// The contiguous f32 inputs and the output of one evaluation.
struct problem {
    const float *q, *k, *v, *g, *beta;  // [L, Hk, Dk] ×2, [L, Hv, Dv], [L, Hv] ×2
    float* out;                         // [L, Hv, Dv]
    index_t len, hk, hv, dk, dv;
    float q_scale;  // 1 / sqrt(Dk)

    index_t group() const { return hv / hk; }
    // Row t of q/k head h / (Hv / Hk), of v/out head h, and the gate index of (t, h).
    const float* q_row(index_t t, index_t h) const { return q + (t * hk + h / group()) * dk; }
    const float* k_row(index_t t, index_t h) const { return k + (t * hk + h / group()) * dk; }
    const float* v_row(index_t t, index_t h) const { return v + (t * hv + h) * dv; }
    float* out_row(index_t t, index_t h) const { return out + (t * hv + h) * dv; }
    index_t gate(index_t t, index_t h) const { return t * hv + h; }
};

// dst = x · rsqrt(Σx² + 1e-6) · scale (HF's l2norm, then the query scale; scale = 1 for keys).
inline void normalise(const float* x, index_t d, float scale, float* dst) {
    double ss = 0;
    for (index_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float inv = static_cast<float>(1.0 / std::sqrt(ss + 1e-6));
    for (index_t i = 0; i < d; ++i) dst[i] = x[i] * inv * scale;
}

// Head h's state in the state tensor (any floating dtype, any strides) <-> an f32 matrix. Working on a copy
// that the task owns keeps the result independent of where (and how aligned) the state lives.
inline char* state_row(const value& s, index_t h, index_t i) {
    return static_cast<char*>(s.data) + (h * s.strides[0] + i * s.strides[1]) * static_cast<index_t>(size_of(s.type));
}
inline void load_state(const value& s, index_t h, matrix& S) {
    const index_t es = static_cast<index_t>(size_of(s.type)), step = s.strides[2];
    for (index_t i = 0; i < S.rows(); ++i) {
        const char* row = state_row(s, h, i);
        if (step == 1) convert(row, s.type, &S(i, 0), dtype::f32, static_cast<std::size_t>(S.cols()));
        else
            for (index_t j = 0; j < S.cols(); ++j) convert(row + j * step * es, s.type, &S(i, j), dtype::f32, 1);
    }
}
inline void store_state(const matrix& S, const value& s, index_t h) {
    const index_t es = static_cast<index_t>(size_of(s.type)), step = s.strides[2];
    for (index_t i = 0; i < S.rows(); ++i) {
        char* row = state_row(s, h, i);
        if (step == 1) convert(&S(i, 0), dtype::f32, row, s.type, static_cast<std::size_t>(S.cols()));
        else
            for (index_t j = 0; j < S.cols(); ++j) convert(&S(i, j), dtype::f32, row + j * step * es, s.type, 1);
    }
}

// Token by token (HF torch_recurrent_gated_delta_rule).
inline void recurrent_head(const problem& p, index_t h, matrix& S) {
    vector q(p.dk), k(p.dk), u(p.dv), delta(p.dv), o(p.dv);
    for (index_t t = 0; t < p.len; ++t) {
        normalise(p.q_row(t, h), p.dk, p.q_scale, q.data());
        normalise(p.k_row(t, h), p.dk, 1.0f, k.data());
        const float beta = p.beta[p.gate(t, h)];
        S *= std::exp(p.g[p.gate(t, h)]);
        u.noalias() = S.transpose() * k;
        delta = (Eigen::Map<const vector>(p.v_row(t, h), p.dv) - u) * beta;
        S.noalias() += k * delta.transpose();
        o.noalias() = S.transpose() * q;
        std::copy_n(o.data(), p.dv, p.out_row(t, h));
    }
}

// Chunk by chunk (HF torch_chunk_gated_delta_rule; the names are those of the op header's sketch).
inline void chunked_head(const problem& p, index_t h, matrix& S) {
    matrix Q, K, V, D, A, P, UW, Vn, O;
    vector gamma, beta;
    for (index_t c0 = 0; c0 < p.len; c0 += delta_rule_chunk) {
        const index_t n = std::min(delta_rule_chunk, p.len - c0);
        Q.resize(n, p.dk);
        K.resize(n, p.dk);
        V.resize(n, p.dv);
        gamma.resize(n);
        beta.resize(n);
        double cum = 0;  // torch's CPU cumsum accumulates f32 in a double
        for (index_t r = 0; r < n; ++r) {
            normalise(p.q_row(c0 + r, h), p.dk, p.q_scale, &Q(r, 0));
            normalise(p.k_row(c0 + r, h), p.dk, 1.0f, &K(r, 0));
            std::copy_n(p.v_row(c0 + r, h), p.dv, &V(r, 0));
            cum += p.g[p.gate(c0 + r, h)];
            gamma[r] = static_cast<float>(cum);
            beta[r] = p.beta[p.gate(c0 + r, h)];
        }
        // Causal decay mask D[r, s] = exp(γ_r − γ_s), s <= r; the upper triangle is 0 (HF: exp(−inf)).
        D.setZero(n, n);
        for (index_t r = 0; r < n; ++r)
            for (index_t s = 0; s <= r; ++s) D(r, s) = std::exp(gamma[r] - gamma[s]);
        const matrix Kb = beta.asDiagonal() * K;  // β ⊙ K̂
        A.noalias() = Kb * K.transpose();
        A = A.cwiseProduct(D);
        P.noalias() = Q * K.transpose();
        P = P.cwiseProduct(D);  // in-chunk attention, diagonal included
        // (I + strictly_lower(A)) · [U | W] = [β⊙V | β⊙e^γ⊙K̂]: a unit lower-triangular system, solved by forward
        // substitution over the rows (row r only needs rows < r), as HF's solve_triangular(unitriangular=True).
        UW.resize(n, p.dv + p.dk);
        UW.leftCols(p.dv) = beta.asDiagonal() * V;
        for (index_t r = 0; r < n; ++r) UW.row(r).tail(p.dk) = Kb.row(r) * std::exp(gamma[r]);
        A.triangularView<Eigen::UnitLower>().solveInPlace(UW);
        // The corrections given the chunk's start state, the output, then the state after the chunk.
        Vn = UW.leftCols(p.dv);
        Vn.noalias() -= UW.rightCols(p.dk) * S;
        for (index_t r = 0; r < n; ++r) Q.row(r) *= std::exp(gamma[r]);  // e^γ ⊙ Q̂
        O.noalias() = Q * S;
        O.noalias() += P * Vn;
        for (index_t r = 0; r < n; ++r) std::copy_n(&O(r, 0), p.dv, p.out_row(c0 + r, h));
        const float last = gamma[n - 1];
        for (index_t r = 0; r < n; ++r) K.row(r) *= std::exp(last - gamma[r]);  // e^{γ_n − γ} ⊙ K̂
        S *= std::exp(last);
        S.noalias() += K.transpose() * Vn;
    }
}

}  // namespace cpu::delta_rule

template <>
struct lowering<cpu::executor, ops::gated_delta_rule> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.state.space() != memory_space::host)
            throw backend_error("cpu executor: gated_delta_rule state " + vl::to_string(node.state.shape()) + " lives on a device");
        const value q = ctx.contiguous(node.q), k = ctx.contiguous(node.k), v = ctx.contiguous(node.v);
        const value g = ctx.contiguous(node.g), beta = ctx.contiguous(node.beta);
        value out = ctx.alloc(node.shape());
        const value state = value::of(node.state);
        ctx.launch([=, &ex = ctx.executor()] {
            const cpu::delta_rule::problem p{q.ptr<const float>(), k.ptr<const float>(), v.ptr<const float>(), g.ptr<const float>(), beta.ptr<const float>(),
                                             out.ptr<float>(), q.shape[0], q.shape[1], v.shape[1], q.shape[2], v.shape[2],
                                             static_cast<float>(1.0 / std::sqrt(static_cast<double>(q.shape[2])))};
            if (p.len == 0) return;  // no tokens: the state stays as it is
            ex.pool->parallel_for(p.hv, [&](index_t h) {
                cpu::delta_rule::matrix S(p.dk, p.dv);
                cpu::delta_rule::load_state(state, h, S);
                if (node.form == delta_rule_form::chunked) cpu::delta_rule::chunked_head(p, h, S);
                else cpu::delta_rule::recurrent_head(p, h, S);
                cpu::delta_rule::store_state(S, state, h);
            });
        });
        return out;
    }
};

}  // namespace vl
