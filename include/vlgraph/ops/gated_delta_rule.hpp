// vlgraph/ops/gated_delta_rule.hpp — the gated delta rule, the core of Gated DeltaNet
// (linear attention with a matrix-valued recurrent state; Qwen3.6 spec §5.5.5–7).
//
//     q, k: [L, Hk, Dk]   v: [L, Hv, Dv]   g, beta: [L, Hv]   state: tensor [Hv, Dk, Dv]   ->   out: [L, Hv, Dv]
//
// q and k come straight from the causal conv + SiLU (NOT normalised: the op does it), g is the log decay
// (<= 0; the state is multiplied by exp(g_t) at step t), beta the write strength (already sigmoid'ed).
//
// Head grouping (GQA for linear attention, spec §5.5.5): v-head h reads q/k head h / r, r = Hv / Hk, so each
// q/k head serves r CONSECUTIVE v-heads (torch's repeat_interleave, not a tiling h % Hk):
//
//     q/k heads   [    0    ][    1    ] ... [  Hk-1   ]
//     v heads      0  1 .. r-1  r .. 2r-1 ...        Hv-1
//
// Per v-head h (S ∈ R^{Dk×Dv}, always f32, S_0 = the state on entry), with the per-vector normalisation
//     k̂_t = k_t · rsqrt(Σ k_t² + 1e-6),   q̂_t = q_t · rsqrt(Σ q_t² + 1e-6) / sqrt(Dk)      (f32; k is not scaled)
// the recurrence is
//     S̃ = exp(g_t) · S_{t-1}          decay first,
//     u = S̃ᵀ k̂_t                      what the state predicts for key k̂_t,
//     δ = beta_t · (v_t − u)          the correction (the "delta"),
//     S_t = S̃ + k̂_t δᵀ                written back,
//     o_t = S_tᵀ q̂_t                  and read with the query.
//
// Two forms, the same maths (HF transformers 5.23 torch_{chunk,recurrent}_gated_delta_rule, whose operation
// order the CPU lowering follows):
//
// * delta_rule_form::recurrent — the loop above, one step per token: decode (L = 1).
// * delta_rule_form::chunked   — prompts. The sequence is cut into chunks of C = 64 tokens (HF pads the last one
//   with zero q/k/v/beta and g = 0, which changes nothing: here it is simply shorter). Inside a chunk, with
//   γ_r = Σ_{s<=r} g_s (cumulative log decay, r = local index), everything except the state is one batch of
//   small matrix products; only the state is carried from chunk to chunk:
//
//       tokens  [ chunk 0: 0..63 ][ chunk 1: 64..127 ][ chunk 2: 128..L-1 ]
//                      |                  |                  |
//       S_0 ──> intra(0) ──> S_64 ──> intra(1) ──> S_128 ──> intra(2) ──> S_L   (final state, written back)
//                 |                     |                     |
//                 O[0..63]              O[64..127]            O[128..L-1]
//
//       per chunk (n <= C rows; D[r,s] = exp(γ_r − γ_s) for s <= r, else 0 — the causal decay mask):
//         A = (β⊙K̂)·K̂ᵀ ⊙ D, strictly lower      the in-chunk interactions of the delta updates
//         (I + A)·[U | W] = [β⊙V | β⊙e^γ⊙K̂]      forward substitution over the rows (unit lower triangular)
//         V' = U − W·S                           the corrections, now that the chunk's start state is known
//         O  = (e^γ⊙Q̂)·S + ((Q̂·K̂ᵀ) ⊙ D)·V'      read of the start state + causal in-chunk attention
//         S ← e^{γ_n}·S + (e^{γ_n − γ}⊙K̂)ᵀ·V'     the state after the chunk
//
//   (⊙ with a vector scales rows.) Chunked and recurrent agree to ~1e-6 relative in f32.
//
// The state tensor is the GDN layer's recurrent cache and a SIDE OUTPUT: the op reads S_0 from it and
// overwrites it with S_L, in place, when vl::eval runs the node (not when the expression is built). So
//   * zero it for a new sequence (vl::tensor::empty zero-fills); a prompt may be split into several calls, each
//     continuing from the state the previous one left (chunked prefill == one pass, to rounding);
//   * evaluate the node once per step: an expression that uses it twice without vl::share, or an expression
//     evaluated twice, advances the state twice; and do not read the same tensor elsewhere in that expression;
//   * any floating dtype and any strides are accepted (e.g. a slot of a bigger cache tensor); the op computes in
//     f32 and rounds back when storing (keep it f32, as HF does: a bf16 state loses the memory a long prompt
//     builds up — spec §10.11). A read-only tensor (mapped from a file) is refused when the node is built.
//
// CPU: f32 as HF (the cumulative decay summed in f64 as torch does on the CPU, the norms' Σx² in f64), one task
// per v-head, bit-identical for any thread count.
#pragma once

#include <vlgraph/expr.hpp>

#include <string>
#include <utility>

namespace vl {
namespace ops {
struct gated_delta_rule {};
}

enum class delta_rule_form { chunked, recurrent };

// Tokens per chunk of the chunked form (HF's chunk_size).
inline constexpr index_t delta_rule_chunk = 64;

template <floating_expression Q, floating_expression K, floating_expression V, floating_expression G, floating_expression B>
struct gated_delta_rule_expr {
    using op = ops::gated_delta_rule;
    static_assert(Q::rank == 3 && K::rank == 3 && V::rank == 3,
                  "vl::gated_delta_rule: q and k are [L, Hk, Dk], v is [L, Hv, Dv]");
    static_assert(G::rank == 2 && B::rank == 2, "vl::gated_delta_rule: g and beta are [L, Hv]");
    static constexpr int rank = 3;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<3> static_shape{Q::static_shape[0], V::static_shape[1], V::static_shape[2]};

    gated_delta_rule_expr(Q q_, K k_, V v_, G g_, B beta_, tensor state_, delta_rule_form form_)
        : q(std::move(q_)), k(std::move(k_)), v(std::move(v_)), g(std::move(g_)), beta(std::move(beta_)), state(std::move(state_)), form(form_) {
        const auto &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
        const auto &gs = g.shape(), &bs = beta.shape();
        std::string shapes = " (q " + to_string<3>(qs) + ", k " + to_string<3>(ks) + ", v " + to_string<3>(vs) + ", g " + to_string<2>(gs) + ", beta " +
                             to_string<2>(bs);
        if (state.defined()) shapes += ", state " + vl::to_string(state.shape());
        shapes += ")";
        if (qs != ks) throw shape_error("gated_delta_rule: q and k must have the same shape [L, Hk, Dk]" + shapes);
        if (vs[0] != qs[0]) throw shape_error("gated_delta_rule: v must have as many tokens as q and k" + shapes);
        if (qs[1] == 0 || vs[1] % qs[1] != 0) throw shape_error("gated_delta_rule: the v-heads Hv must be a multiple of the q/k heads Hk (>= 1)" + shapes);
        const shape_t<2> gate{vs[0], vs[1]};
        if (gs != gate || bs != gate) throw shape_error("gated_delta_rule: g and beta must be [L, Hv]" + shapes);
        if (!state.defined()) throw shape_error("gated_delta_rule: the state tensor is empty (it must be [Hv, Dk, Dv], zeros for a new sequence)" + shapes);
        if (state.shape() != dims{vs[1], qs[2], vs[2]}) throw shape_error("gated_delta_rule: the state must be [Hv, Dk, Dv]" + shapes);
        if (!is_floating(state.type()))
            throw dtype_error("gated_delta_rule: the state must be a floating tensor (f32 recommended), got " + std::string(name_of(state.type())));
        if (state.storage_ptr()->read_only()) throw error("gated_delta_rule: the state tensor is read-only (it is overwritten with the final state)");
        shape_ = {qs[0], vs[1], vs[2]};
    }
    Q q;
    K k;
    V v;
    G g;
    B beta;
    tensor state;  // S_0 on entry, S_L after the eval
    delta_rule_form form;
    const shape_t<3>& shape() const { return shape_; }

private:
    shape_t<3> shape_{};
};

// vl::gated_delta_rule(q, k, v, g, beta, cache.state[layer], L == 1 ? delta_rule_form::recurrent : delta_rule_form::chunked)
template <floating_expression Q, floating_expression K, floating_expression V, floating_expression G, floating_expression B>
auto gated_delta_rule(Q q, K k, V v, G g, B beta, tensor state, delta_rule_form form = delta_rule_form::chunked) {
    return gated_delta_rule_expr<Q, K, V, G, B>(std::move(q), std::move(k), std::move(v), std::move(g), std::move(beta), std::move(state), form);
}

}  // namespace vl
