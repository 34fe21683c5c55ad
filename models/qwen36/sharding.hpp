// vlgraph/models/qwen36/sharding.hpp — tensor parallelism: which part of every language-model tensor
// rank r of n holds. A pure function of (config, rank, size); the vision tower is replicated.
//
//     const auto plan = vl::qwen36::plan_shards(config, rank, size);   // vl::config_error if size cannot split it
//     for (const auto& s : plan.tensors) mine[s.name] = vl::qwen36::take_shard(ck.get(s.name), s);

//
// The split, per tensor (heads are the unit; shapes are PyTorch's, [out, in]):
//
//   attention   q_proj (query ‖ gate rows of each head)    rows, by query heads        (column parallel)
//               k_proj, v_proj                             rows, by KV heads; when n > num_key_value_heads
//                                                          each KV head is replicated on n / Hkv ranks
//               o_proj                                     columns, by query heads     (row parallel: all-reduce)
//               q_norm, k_norm                             replicated
//   Gated       in_proj_qkv, conv1d                        rows, as three sections: q and k by key heads,
//   DeltaNet                                               v by value heads (a rank's v-heads are exactly those
//                                                          of its key heads: v-head h uses key head ⌊h / ratio⌋)
//               in_proj_z, in_proj_b, in_proj_a, A_log,    rows, by value heads
//               dt_bias
//               out_proj                                   columns, by value heads     (row parallel: all-reduce)
//               norm (the gated RMSNorm over d_v)          replicated
//   MLP         gate_proj, up_proj                         rows                        (column parallel)
//               down_proj                                  columns                     (row parallel: all-reduce)
//   head        lm_head (or the tied embedding)            rows, by vocabulary         (logits all-gathered)
//   the rest    embed_tokens, layer norms, final norm      replicated
//
// Splitting the fused in_proj_qkv as one contiguous block would hand rank 0 all of q and some of k: the
// sections are split separately. A size that cannot split a dimension is refused before anything is
// loaded, naming the dimension and the sizes that would work.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/weights.hpp>
#include <vlgraph/tensor.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace vl::qwen36 {

// Rows [begin, end) of the full tensor along the split axis.
struct index_range {
    index_t begin = 0, end = 0;
    index_t size() const { return end - begin; }
};

struct shard_spec {
    std::string name;                 // the checkpoint tensor
    int axis = -1;                    // -1: replicated; else the axis split
    std::vector<index_range> parts;   // along axis, concatenated in order (three for in_proj_qkv and conv1d)
    dims full_shape;
    dims shard_shape;
    bool replicated() const { return axis < 0; }
};

struct shard_plan {
    int rank = 0, size = 1;
    // Per rank: query heads, KV heads, GDN key and value heads, MLP rows, vocabulary rows.
    index_t attention_heads = 0, kv_heads = 0, linear_key_heads = 0, linear_value_heads = 0, intermediate = 0, vocab = 0;
    index_t vocab_begin = 0;           // this rank's first vocabulary row (its logits are columns vocab_begin…)
    std::vector<shard_spec> tensors;   // every language-model tensor, in expected_tensors order
    shard_spec lm_head;                // this rank's vocabulary rows of the output projection (also in tensors when
                                       // stored; when tied, rows of the embedding table, which tensors lists whole)
};

namespace detail {

// The reasons `size` cannot split `t`, one per dimension ("" when it can).
inline std::string split_problems(const text_config& t, std::int64_t size) {
    std::string out;
    const auto need = [&](bool ok, const std::string& what) {
        if (!ok) out += (out.empty() ? "" : "; ") + what;
    };
    const auto divides = [&](std::int64_t n, const char* name) {
        need(n % size == 0, std::string(name) + " " + std::to_string(n) + " is not divisible by " + std::to_string(size));
    };
    divides(t.num_attention_heads, "num_attention_heads");
    if (size <= t.num_key_value_heads)
        divides(t.num_key_value_heads, "num_key_value_heads");
    else
        need(size % t.num_key_value_heads == 0, "num_key_value_heads " + std::to_string(t.num_key_value_heads) +
                                                    " cannot be replicated evenly over " + std::to_string(size) + " ranks");
    if (t.num_linear_attention_layers() > 0) divides(t.linear_num_key_heads, "linear_num_key_heads");
    divides(t.intermediate_size, "intermediate_size");
    divides(t.vocab_size, "vocab_size");
    return out;
}

}  // namespace detail

// The tensor-parallel sizes that can split `t` (1 … max_size).
inline std::vector<int> valid_tensor_parallel_sizes(const text_config& t, int max_size = 64) {
    std::vector<int> out;
    for (int n = 1; n <= max_size; ++n)
        if (detail::split_problems(t, n).empty()) out.push_back(n);
    return out;
}

// head_source: where the output projection comes from (weights.hpp, lm_head_from: a tied config whose
// checkpoint stores lm_head.weight uses the stored one, as HF does).
inline shard_plan plan_shards(const model_config& c, int rank, int size, lm_head_source head_source) {
    const text_config& t = c.text;
    if (size < 1) throw config_error("tensor parallel: size must be at least 1, got " + std::to_string(size));
    if (rank < 0 || rank >= size) throw config_error("tensor parallel: rank " + std::to_string(rank) + " is outside 0.." + std::to_string(size - 1));
    if (const std::string why = detail::split_problems(t, size); !why.empty()) {
        std::string sizes;
        for (const int n : valid_tensor_parallel_sizes(t)) sizes += (sizes.empty() ? "" : ", ") + std::to_string(n);
        throw config_error("tensor parallel size " + std::to_string(size) + " cannot split this model: " + why + " (sizes that work: " + sizes + ")");
    }
    shard_plan p;
    p.rank = rank;
    p.size = size;
    const index_t r = rank, n = size, h = t.hidden_size;
    p.attention_heads = t.num_attention_heads / n;
    p.kv_heads = n <= t.num_key_value_heads ? t.num_key_value_heads / n : 1;
    p.linear_key_heads = t.linear_num_key_heads / n;
    p.linear_value_heads = t.linear_num_value_heads / n;
    p.intermediate = t.intermediate_size / n;
    p.vocab = t.vocab_size / n;
    p.vocab_begin = r * p.vocab;

    const auto add = [&](std::string name, dims full, int axis, std::vector<index_range> parts) {
        shard_spec s{std::move(name), axis, std::move(parts), full, full};
        if (axis >= 0) {
            index_t rows = 0;
            for (const index_range& q : s.parts) rows += q.size();
            s.shard_shape[static_cast<std::size_t>(axis)] = rows;
        }
        p.tensors.push_back(std::move(s));
    };
    const auto whole = [&](std::string name, dims full) { add(std::move(name), std::move(full), -1, {}); };
    // Units [first, first + count) of `width` rows each (heads, or single rows), from row `offset` on.
    const auto block = [&](index_t offset, index_t count, index_t first, index_t width) {
        return index_range{offset + first * width, offset + (first + count) * width};
    };
    const std::string lm = "model.language_model.";
    whole(lm + "embed_tokens.weight", {t.vocab_size, h});
    for (index_t i = 0; i < t.num_hidden_layers; ++i) {
        const std::string l = lm + "layers." + std::to_string(i) + ".";
        whole(l + "input_layernorm.weight", {h});
        whole(l + "post_attention_layernorm.weight", {h});
        add(l + "mlp.gate_proj.weight", {t.intermediate_size, h}, 0, {block(0, p.intermediate, r * p.intermediate, 1)});
        add(l + "mlp.up_proj.weight", {t.intermediate_size, h}, 0, {block(0, p.intermediate, r * p.intermediate, 1)});
        add(l + "mlp.down_proj.weight", {h, t.intermediate_size}, 1, {block(0, p.intermediate, r * p.intermediate, 1)});
        if (t.is_full_attention(i)) {
            const index_t hd = t.head_dim;
            // KV heads: split when there are enough, else rank r uses (a replica of) head r / (n / Hkv).
            const index_t kv_first = n <= t.num_key_value_heads ? r * p.kv_heads : r / (n / t.num_key_value_heads);
            add(l + "self_attn.q_proj.weight", {t.q_proj_out(), h}, 0, {block(0, p.attention_heads, r * p.attention_heads, 2 * hd)});
            add(l + "self_attn.k_proj.weight", {t.kv_proj_out(), h}, 0, {block(0, p.kv_heads, kv_first, hd)});
            add(l + "self_attn.v_proj.weight", {t.kv_proj_out(), h}, 0, {block(0, p.kv_heads, kv_first, hd)});
            add(l + "self_attn.o_proj.weight", {h, t.attn_out_dim()}, 1, {block(0, p.attention_heads, r * p.attention_heads, hd)});
            whole(l + "self_attn.q_norm.weight", {hd});
            whole(l + "self_attn.k_norm.weight", {hd});
        } else {
            const index_t dk = t.linear_key_head_dim, dv = t.linear_value_head_dim, hv = t.linear_num_value_heads;
            const index_t k_first = r * p.linear_key_heads, v_first = r * p.linear_value_heads;
            // q ‖ k ‖ v sections of the conv channels, each split by its own heads.
            const std::vector<index_range> qkv{block(0, p.linear_key_heads, k_first, dk), block(t.linear_key_dim(), p.linear_key_heads, k_first, dk),
                                               block(2 * t.linear_key_dim(), p.linear_value_heads, v_first, dv)};
            add(l + "linear_attn.in_proj_qkv.weight", {t.linear_conv_dim(), h}, 0, qkv);
            add(l + "linear_attn.in_proj_z.weight", {t.linear_value_dim(), h}, 0, {block(0, p.linear_value_heads, v_first, dv)});
            add(l + "linear_attn.in_proj_b.weight", {hv, h}, 0, {block(0, p.linear_value_heads, v_first, 1)});
            add(l + "linear_attn.in_proj_a.weight", {hv, h}, 0, {block(0, p.linear_value_heads, v_first, 1)});
            add(l + "linear_attn.conv1d.weight", {t.linear_conv_dim(), 1, t.linear_conv_kernel_dim}, 0, qkv);
            add(l + "linear_attn.A_log", {hv}, 0, {block(0, p.linear_value_heads, v_first, 1)});
            add(l + "linear_attn.dt_bias", {hv}, 0, {block(0, p.linear_value_heads, v_first, 1)});
            whole(l + "linear_attn.norm.weight", {dv});
            add(l + "linear_attn.out_proj.weight", {h, t.linear_value_dim()}, 1, {block(0, p.linear_value_heads, v_first, dv)});
        }
    }
    whole(lm + "norm.weight", {h});
    // The output projection by vocabulary rows: of lm_head.weight, or of the embedding table when tied.
    const std::string head = head_source == lm_head_source::tied_to_embeddings ? lm + "embed_tokens.weight" : "lm_head.weight";
    p.lm_head = {head, 0, {block(0, 1, r, p.vocab)}, {t.vocab_size, h}, {p.vocab, h}};
    if (head_source == lm_head_source::stored) p.tensors.push_back(p.lm_head);
    return p;
}

// The same for a checkpoint laid out as its config says (tied: no lm_head.weight stored).
inline shard_plan plan_shards(const model_config& c, int rank, int size) {
    return plan_shards(c, rank, size, lm_head_from(c, !c.tie_word_embeddings));
}

// Rank's part of `full` (the whole checkpoint tensor, e.g. a view of the mmap) as `s` says: the tensor
// itself when replicated, a view when one range of rows, else a contiguous copy of just this rank's
// elements (the q, k and v sections of in_proj_qkv and conv1d; a column block).
inline tensor take_shard(const tensor& full, const shard_spec& s) {
    if (full.shape() != s.full_shape)
        throw shape_error("take_shard: " + s.name + " is " + to_string(full.shape()) + ", the plan expects " + to_string(s.full_shape));
    if (s.replicated()) return full;
    if (s.axis == 0 && s.parts.size() == 1) return full.slice(0, s.parts[0].begin, s.parts[0].end);
    if (s.axis != 0) {
        if (s.parts.size() != 1) throw shape_error("take_shard: " + s.name + ": several column blocks are not supported");
        return full.slice(s.axis, s.parts[0].begin, s.parts[0].end).contiguous();
    }
    const tensor src = full.contiguous();
    tensor out = tensor::empty(s.shard_shape, full.type());
    const std::size_t row_bytes = static_cast<std::size_t>(src.numel() / std::max<index_t>(full.extent(0), 1)) * size_of(full.type());
    char* dst = static_cast<char*>(out.raw_data());
    for (const index_range& q : s.parts) {
        std::memcpy(dst, static_cast<const char*>(src.raw_data()) + static_cast<std::size_t>(q.begin) * row_bytes, static_cast<std::size_t>(q.size()) * row_bytes);
        dst += static_cast<std::size_t>(q.size()) * row_bytes;
    }
    return out;
}

}  // namespace vl::qwen36
