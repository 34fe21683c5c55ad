// vlgraph/ops/attention.hpp — scaled dot-product attention with a block-diagonal
// (packed variable-length) or a causal mask, grouped-query heads.
//
//     out[i, h, :] = Σ_j softmax_j( scale · q[i, h, :] · k[j, g, :] ) · v[j, g, :]     g = h / (Hq / Hkv)
//                    over the keys j that query i may see (the mask)
//
//     q: [N, Hq, D]   k: [M, Hkv, D]   v: [M, Hkv, Dv]   ->   out: [N, Hq, Dv]      Hq % Hkv == 0
//
// The mask is one of two kinds (x = query i may see key j):
//
//   attention_mask::segments(cu_seqlens)        attention_mask::causal(offset)
//   block-diagonal, non-causal, N == M          j <= i + offset (a KV cache holds `offset` earlier keys)
//   cu_seqlens = {0, 3, 3, 5}                   N = 3, M = 5, offset = 2
//
//            keys j                                     keys j
//            0 1 2 3 4                                  0 1 2 3 4
//     q  0 [ x x x . . ]  segment 0: [0, 3)        q  0 [ x x x . . ]
//        1 [ x x x . . ]  segment 1: [3, 3) empty     1 [ x x x x . ]
//        2 [ x x x . . ]                              2 [ x x x x x ]
//        3 [ . . . x x ]  segment 2: [3, 5)
//        4 [ . . . x x ]
//
// A causal mask's offset is a host value, or — for a step recorded once and run at every cache length
// (vlgraph/program.hpp) — read when the op runs from `past`, an i64 [1] tensor in the executor's memory:
// attention_mask::causal(past). k and v then hold a cache's whole capacity M, of which the first
// past + N rows are filled; query i sees keys 0 ..= i + past (past + N <= M is the caller's contract,
// checked on the CPU; the CUDA kernel never reads past M).
//
// cu_seqlens are host values: the first is 0, the last is N, non-decreasing;
// zero-length segments are allowed (a text-only request in a packed batch, an
// empty image). Every other layout is a vl::shape_error when the node is built,
// as is a causal mask with a negative offset or with queries but no keys.
// With these rules every query sees at least one key, so no row is all -inf.
//
// Used by the Qwen3.6 vision tower (segments = one per image and temporal slice)
// and the language model's full-attention layers (causal, GQA 24:4).
//
// CPU: scores and probabilities in f32, softmax with max subtraction and an f64
// sum (as ops/softmax.hpp); bit-identical for any thread count.
#pragma once

#include <vlgraph/expr.hpp>

#include <string>
#include <utility>
#include <vector>

namespace vl {
namespace ops {
struct attention {};
}

class attention_mask {
public:
    enum class kind { segments, causal };

    // Block-diagonal: query and key i belong to segment s when cu_seqlens[s] <= i < cu_seqlens[s + 1].
    static attention_mask segments(std::vector<index_t> cu_seqlens) {
        if (cu_seqlens.empty()) throw shape_error("attention: cu_seqlens is empty (it needs at least {0, N})");
        if (cu_seqlens.front() != 0) throw shape_error("attention: cu_seqlens must start at 0, got " + std::to_string(cu_seqlens.front()));
        for (std::size_t s = 1; s < cu_seqlens.size(); ++s)
            if (cu_seqlens[s] < cu_seqlens[s - 1])
                throw shape_error("attention: cu_seqlens must be non-decreasing, but cu_seqlens[" + std::to_string(s) + "] = " + std::to_string(cu_seqlens[s]) +
                                  " < cu_seqlens[" + std::to_string(s - 1) + "] = " + std::to_string(cu_seqlens[s - 1]));
        attention_mask m;
        m.kind_ = kind::segments;
        m.cu_seqlens_ = std::move(cu_seqlens);
        return m;
    }
    // Causal: query i sees keys 0 ..= i + offset.
    static attention_mask causal(index_t offset = 0) {
        if (offset < 0) throw shape_error("attention: causal offset must be >= 0, got " + std::to_string(offset));
        attention_mask m;
        m.kind_ = kind::causal;
        m.offset_ = offset;
        return m;
    }

    // Causal with the offset read at run time from `past` (i64 [1], in the executor's memory).
    static attention_mask causal(tensor past) {
        if (!past.defined() || past.numel() != 1 || past.type() != dtype::i64)
            throw shape_error("attention: a run-time causal offset is an i64 tensor of one element, got " +
                              (past.defined() ? std::string(name_of(past.type())) + " " + to_string(past.shape()) : std::string("an empty tensor")));
        attention_mask m;
        m.kind_ = kind::causal;
        m.past_ = std::move(past);
        return m;
    }

    kind type() const { return kind_; }
    const std::vector<index_t>& cu_seqlens() const { return cu_seqlens_; }
    index_t offset() const { return offset_; }     // causal, host offset
    bool offset_at_run_time() const { return past_.defined(); }
    const tensor& past() const { return past_; }   // causal, run-time offset

private:
    attention_mask() = default;
    kind kind_ = kind::causal;
    std::vector<index_t> cu_seqlens_;
    index_t offset_ = 0;
    tensor past_;
};

template <floating_expression Q, floating_expression K, floating_expression V>
struct attention_expr {
    using op = ops::attention;
    static_assert(Q::rank == 3 && K::rank == 3 && V::rank == 3, "vl::attention: q is [N, Hq, D], k is [M, Hkv, D], v is [M, Hkv, Dv]");
    static constexpr int rank = 3;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<3> static_shape{Q::static_shape[0], Q::static_shape[1], V::static_shape[2]};

    attention_expr(Q q_, K k_, V v_, float scale_, attention_mask mask_) : q(std::move(q_)), k(std::move(k_)), v(std::move(v_)), scale(scale_), mask(std::move(mask_)) {
        const auto &qs = q.shape(), &ks = k.shape(), &vs = v.shape();
        const std::string shapes = " (q " + to_string<3>(qs) + ", k " + to_string<3>(ks) + ", v " + to_string<3>(vs) + ")";
        if (ks[0] != vs[0] || ks[1] != vs[1]) throw shape_error("attention: k and v must have the same keys and heads" + shapes);
        if (qs[2] != ks[2]) throw shape_error("attention: q and k must have the same head dimension" + shapes);
        if (ks[1] == 0 || qs[1] % ks[1] != 0) throw shape_error("attention: the query heads must be a multiple of the key/value heads" + shapes);
        if (mask.type() == attention_mask::kind::segments) {
            if (qs[0] != ks[0]) throw shape_error("attention: a segments mask needs as many keys as queries" + shapes);
            if (mask.cu_seqlens().back() != qs[0])
                throw shape_error("attention: cu_seqlens must end at the " + std::to_string(qs[0]) + " queries, got " + std::to_string(mask.cu_seqlens().back()));
        } else if (qs[0] > 0 && ks[0] == 0) {
            throw shape_error("attention: a causal mask with queries needs at least one key" + shapes);
        }
        shape_ = {qs[0], qs[1], vs[2]};
    }
    Q q;
    K k;
    V v;
    float scale;
    attention_mask mask;
    const shape_t<3>& shape() const { return shape_; }

private:
    shape_t<3> shape_{};
};

// vl::attention(q, k, v, 1 / sqrt(D), vl::attention_mask::segments({0, n0, n0 + n1}))
template <floating_expression Q, floating_expression K, floating_expression V>
auto attention(Q q, K k, V v, float scale, attention_mask mask) {
    return attention_expr<Q, K, V>(std::move(q), std::move(k), std::move(v), scale, std::move(mask));
}

}  // namespace vl
