// tests/cuda/wide_model.hpp — the Qwen3.6-27B layer widths on a few layers (hidden 5120, Gated DeltaNet 16
// q/k and 48 v heads of 128, attention 24 query and 4 key/value heads of 256, MLP 17408; layers GDN, GDN,
// attention; a 1024-token vocabulary) with zero bf16 weights on the current device: what the step-count
// tests run (on the counting stand-in kernels do not execute, so only the shapes of the work matter).
#pragma once

#include <vlgraph/backends/cuda/memory.cuh>
#include <vlgraph/models/qwen36/language_weights.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>

#include <optional>
#include <string>
#include <variant>

namespace vl::test {

inline qwen36::model_config wide_config() {
    qwen36::model_config cfg;
    qwen36::text_config& t = cfg.text;
    t.vocab_size = 1024, t.hidden_size = 5120, t.intermediate_size = 17408, t.num_hidden_layers = 3;
    t.layer_types = {qwen36::layer_type::linear_attention, qwen36::layer_type::linear_attention, qwen36::layer_type::full_attention};
    t.num_attention_heads = 24, t.num_key_value_heads = 4, t.head_dim = 256, t.max_position_embeddings = 262144;
    t.linear_key_head_dim = 128, t.linear_value_head_dim = 128, t.linear_num_key_heads = 16, t.linear_num_value_heads = 48;
    t.rope.theta = 1e7, t.rope.partial_rotary_factor = 0.25, t.rope.mrope_section = {11, 11, 10};
    return cfg;
}

inline tensor device_zeros(dims s) {
    tensor t = cuda::empty_device(std::move(s), dtype::bf16);
    VL_CUDA_CHECK(cudaMemset(t.raw_data(), 0, t.nbytes()));
    return t;
}

// Zero weights for `cfg` as language_weights holds them; lm_head has head_rows rows (default: the vocabulary).
inline qwen36::language_weights zero_weights(const qwen36::model_config& cfg, std::optional<index_t> head_rows = std::nullopt) {
    const qwen36::text_config& t = cfg.text;
    const index_t D = t.hidden_size, I = t.intermediate_size, C = t.linear_conv_dim(), Hv = t.linear_num_value_heads, Dv = t.linear_value_head_dim;
    const auto zeros = device_zeros;
    qwen36::language_weights w;
    w.config = cfg;
    w.embed_tokens = zeros({t.vocab_size, D});
    for (index_t i = 0; i < t.num_hidden_layers; ++i) {
        qwen36::decoder_layer_weights l;
        l.input_layernorm = zeros({D}), l.post_attention_layernorm = zeros({D});
        if (t.is_full_attention(i))
            l.mixer = qwen36::attention_weights{zeros({t.q_proj_out(), D}), zeros({t.kv_proj_out(), D}), zeros({t.kv_proj_out(), D}), zeros({D, t.attn_out_dim()}),
                                                zeros({t.head_dim}), zeros({t.head_dim})};
        else
            l.mixer = qwen36::delta_net_weights{zeros({C, D}), zeros({Hv * Dv, D}), zeros({Hv, D}), zeros({Hv, D}), zeros({qwen36::conv_kernel_size, C}),
                                                zeros({Hv}), zeros({Hv}), zeros({Dv}), zeros({D, Hv * Dv})};
        l.gate_proj = zeros({I, D}), l.up_proj = zeros({I, D}), l.down_proj = zeros({D, I});
        w.layers.push_back(std::move(l));
    }
    w.norm = zeros({D});
    w.lm_head = zeros({head_rows.value_or(t.vocab_size), D});
    return w;
}

// Rank plan.rank's shard of zero_weights(cfg), as language_weights::load_shard would hold it: the shard's
// head, value-head and MLP counts in its config, its vocabulary rows of lm_head, `tp` its group. Every
// matrix's shape is checked against the one the plan cuts from a checkpoint (a vl::shape_error).
inline qwen36::language_weights zero_shard(const qwen36::model_config& cfg, const qwen36::shard_plan& plan, communicator& tp) {
    qwen36::model_config local = cfg;
    local.text.num_attention_heads = plan.attention_heads, local.text.num_key_value_heads = plan.kv_heads;
    local.text.linear_num_key_heads = plan.linear_key_heads, local.text.linear_num_value_heads = plan.linear_value_heads;
    local.text.intermediate_size = plan.intermediate;
    qwen36::language_weights w = zero_weights(local, plan.vocab);
    w.tp = &tp;
    const auto expect = [&](const std::string& name, const tensor& t) {
        for (const qwen36::shard_spec& s : plan.tensors)
            if (s.name == "model.language_model." + name) {
                if (s.shard_shape != t.shape()) throw shape_error(name + ": " + to_string(t.shape()) + ", the plan cuts " + to_string(s.shard_shape));
                return;
            }
        throw shape_error(name + ": not in the plan");
    };
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
        const qwen36::decoder_layer_weights& l = w.layers[i];
        const std::string p = "layers." + std::to_string(i) + ".";
        expect(p + "mlp.gate_proj.weight", l.gate_proj), expect(p + "mlp.up_proj.weight", l.up_proj), expect(p + "mlp.down_proj.weight", l.down_proj);
        if (const auto* a = std::get_if<qwen36::attention_weights>(&l.mixer)) {
            expect(p + "self_attn.q_proj.weight", a->q_proj), expect(p + "self_attn.k_proj.weight", a->k_proj);
            expect(p + "self_attn.v_proj.weight", a->v_proj), expect(p + "self_attn.o_proj.weight", a->o_proj);
        } else {
            const auto& d = std::get<qwen36::delta_net_weights>(l.mixer);
            expect(p + "linear_attn.in_proj_qkv.weight", d.in_proj_qkv), expect(p + "linear_attn.in_proj_z.weight", d.in_proj_z);
            expect(p + "linear_attn.in_proj_b.weight", d.in_proj_b), expect(p + "linear_attn.out_proj.weight", d.out_proj);
        }
    }
    if (plan.lm_head.shard_shape != w.lm_head.shape())
        throw shape_error("lm_head: " + to_string(w.lm_head.shape()) + ", the plan cuts " + to_string(plan.lm_head.shard_shape));
    return w;
}

}  // namespace vl::test
