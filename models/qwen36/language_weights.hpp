// vlgraph/models/qwen36/language_weights.hpp — the language model's weights (model.language_model.* and
// lm_head.weight, spec §2.1), read from any HF checkpoint directory of this model type (one
// model.safetensors or shards; only the shards that hold language tensors are opened).
//
//     auto w = vl::qwen36::language_weights::load("Qwen3.6-27B", vl::dtype::f32, matrix_storage::as_stored);  // CPU
//
// Tensors are host tensors converted to the dtype asked for, except the embedding table, which stays in
// its stored dtype: a lookup converts only the rows it reads (ops/gather.hpp), and the 27B table is
// 2.5 GB in bf16. With matrix_storage::as_stored the bf16 projection matrices stay views of the mmap'd
// file too (the CPU executor reads them as stored, bit-identical): the 27B then needs its 54 GB of
// file, paged in and out by the OS, instead of 108 GB of converted RAM. With tie_word_embeddings the lm_head is the embedding table (converted), unless the
// checkpoint stores its own lm_head.weight, which HF then uses (weights.hpp, lm_head_from).
#pragma once

#include <vlgraph/comm.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>
#include <vlgraph/models/qwen36/weights.hpp>
#include <vlgraph/tensor.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace vl::qwen36 {

// Width of the Gated DeltaNet's causal depthwise conv. It is a compile-time constant of the graph (the
// conv is K shifted slices summed in one fused kernel); every Qwen3.5/3.6 checkpoint uses 4.
inline constexpr index_t conv_kernel_size = 4;

// Gated full attention (spec §5.4). Linear weights are [out, in] (nn.Linear).
struct attention_weights {
    tensor q_proj;          // [H·2hd, D]: per head h, rows [2hd·h, 2hd·h + hd) query, the next hd the output gate
    tensor k_proj, v_proj;  // [Hkv·hd, D]
    tensor o_proj;          // [D, H·hd]
    tensor q_norm, k_norm;  // [hd], zero-centred (1 + w), shared by the heads
};

// Gated DeltaNet (spec §5.5). C = conv_dim = 2·Hk·Dk + Hv·Dv.
struct delta_net_weights {
    tensor in_proj_qkv;     // [C, D]: rows q (Hk·Dk) ‖ k (Hk·Dk) ‖ v (Hv·Dv), each head-major
    tensor in_proj_z;       // [Hv·Dv, D]
    tensor in_proj_b;       // [Hv, D]
    tensor in_proj_a;       // [Hv, D]
    tensor conv_weight;     // [K, C]: row j = tap j of every channel (the checkpoint's [C, 1, K] transposed); tap K−1 = current token
    tensor A_log, dt_bias;  // [Hv]
    tensor norm;            // [Dv], plain weight (not 1 + w)
    tensor out_proj;        // [D, Hv·Dv]
};

struct decoder_layer_weights {
    tensor input_layernorm, post_attention_layernorm;  // [D], (1 + w)
    std::variant<delta_net_weights, attention_weights> mixer;  // by config.layer_types
    tensor gate_proj, up_proj;                          // [I, D]
    tensor down_proj;                                   // [D, I]
};

struct language_weights {
    model_config config;  // the text config plus the image / video token ids
    tensor embed_tokens;  // [V, D], stored dtype
    std::vector<decoder_layer_weights> layers;
    tensor norm;     // [D], final norm, (1 + w)
    tensor lm_head;  // [V, D]
    lm_head_source head_source = lm_head_source::stored;  // the stored lm_head.weight, or the embedding table
    communicator* tp = nullptr;  // the tensor-parallel group these weights are one rank's shard of (null: the whole model)

    // The same weights with f applied to every tensor, e.g. uploading them to a device:
    //   w.map([](const tensor& t) { return vl::cuda::to_device(t, dtype::bf16); })
    template <class F>
    language_weights map(F&& f) const {
        language_weights w;
        w.config = config;
        w.embed_tokens = f(embed_tokens);
        for (const decoder_layer_weights& l : layers) {
            decoder_layer_weights m{f(l.input_layernorm), f(l.post_attention_layernorm), {}, f(l.gate_proj), f(l.up_proj), f(l.down_proj)};
            if (const auto* a = std::get_if<attention_weights>(&l.mixer))
                m.mixer = attention_weights{f(a->q_proj), f(a->k_proj), f(a->v_proj), f(a->o_proj), f(a->q_norm), f(a->k_norm)};
            else {
                const auto& d = std::get<delta_net_weights>(l.mixer);
                m.mixer = delta_net_weights{f(d.in_proj_qkv), f(d.in_proj_z), f(d.in_proj_b), f(d.in_proj_a), f(d.conv_weight),
                                            f(d.A_log),       f(d.dt_bias),   f(d.norm),      f(d.out_proj)};
            }
            w.layers.push_back(std::move(m));
        }
        w.norm = f(norm);
        w.lm_head = f(lm_head);
        w.head_source = head_source;
        w.tp = tp;
        return w;
    }

    // The language tensors of `ck`, checked against `config` (every tensor present, shapes as spec §2),
    // converted to `as`. A mismatch is a vl::format_error naming the count and the first problems.
    static language_weights load(const checkpoint& ck, const model_config& config, dtype as, matrix_storage matrices = matrix_storage::converted) {
        return load_impl(ck, config, as, matrices, nullptr, nullptr);
    }

    // Rank plan.rank's shard for tensor parallelism (sharding.hpp): each tensor's part cut from the mmap'd
    // checkpoint (no full copy), the config's head, KV-head, value-head and MLP counts those of the shard
    // (vocab_size stays whole: the embedding is replicated, the logits are gathered), and `tp` the group
    // the layers reduce over.
    static language_weights load_shard(const checkpoint& ck, const model_config& config, dtype as, matrix_storage matrices, const shard_plan& plan,
                                       communicator& tp) {
        if (plan.size != tp.size() || plan.rank != tp.rank())
            throw config_error("language_weights::load_shard: a plan for rank " + std::to_string(plan.rank) + " of " + std::to_string(plan.size) +
                               " with a communicator of rank " + std::to_string(tp.rank()) + " of " + std::to_string(tp.size()));
        return load_impl(ck, config, as, matrices, &plan, &tp);
    }

private:
    static language_weights load_impl(const checkpoint& ck, const model_config& config, dtype as, matrix_storage matrices, const shard_plan* plan,
                                      communicator* tp) {
        const text_config& t = config.text;
        if (t.linear_conv_kernel_dim != conv_kernel_size)
            throw config_error(ck.directory().string() + ": text_config.linear_conv_kernel_dim = " + std::to_string(t.linear_conv_kernel_dim) +
                               " is not supported (vlgraph's Gated DeltaNet is built for " + std::to_string(conv_kernel_size) + ")");
        const weight_report report = weight_problems(config, part::language, [&](const std::string& name) -> std::optional<tensor_info> {
            if (!ck.contains(name)) return std::nullopt;
            const auto& info = ck.info(name);
            return tensor_info{info.type, std::vector<std::int64_t>(info.shape.begin(), info.shape.end())};
        });
        if (!report.ok())
            throw format_error(ck.directory().string() + ": the language model weights do not match config.json: " + report.summary());

        std::map<std::string, const shard_spec*, std::less<>> spec_of;
        if (plan)
            for (const shard_spec& sp : plan->tensors) spec_of.emplace(sp.name, &sp);
        // A tensor as this rank holds it (the whole, or its shard), converted to `as` unless it is a matrix
        // kept as stored (matrix_storage).
        const auto fetch = [&](const std::string& full_name, bool is_matrix) -> tensor {
            const bool keep = is_matrix && matrices == matrix_storage::as_stored && ck.info(full_name).type == dtype::bf16;
            if (!plan) return keep ? ck.get(full_name) : ck.load(full_name, as);
            const tensor part = take_shard(ck.get(full_name), *spec_of.at(full_name));
            return keep && part.is_contiguous() ? part : part.to(as);
        };
        const auto get = [&](const std::string& name) { return fetch("model.language_model." + name, false); };
        const auto matrix = [&](const std::string& name) { return fetch("model.language_model." + name, true); };
        language_weights w;
        w.config = config;
        if (plan) {  // the shard's own counts
            text_config& local = w.config.text;
            local.num_attention_heads = plan->attention_heads;
            local.num_key_value_heads = plan->kv_heads;
            local.linear_num_key_heads = plan->linear_key_heads;
            local.linear_num_value_heads = plan->linear_value_heads;
            local.intermediate_size = plan->intermediate;
        }
        const text_config& lt = w.config.text;
        w.tp = tp;
        w.embed_tokens = ck.get("model.language_model.embed_tokens.weight");
        for (std::int64_t i = 0; i < t.num_hidden_layers; ++i) {
            const std::string l = "layers." + std::to_string(i) + ".";
            decoder_layer_weights layer;
            layer.input_layernorm = get(l + "input_layernorm.weight");
            layer.post_attention_layernorm = get(l + "post_attention_layernorm.weight");
            if (t.is_full_attention(i)) {
                const std::string a = l + "self_attn.";
                layer.mixer = attention_weights{matrix(a + "q_proj.weight"), matrix(a + "k_proj.weight"), matrix(a + "v_proj.weight"),
                                                matrix(a + "o_proj.weight"), get(a + "q_norm.weight"),  get(a + "k_norm.weight")};
            } else {
                const std::string a = l + "linear_attn.";
                const tensor conv = get(a + "conv1d.weight").reshape({lt.linear_conv_dim(), conv_kernel_size}).permute({1, 0}).contiguous();
                layer.mixer = delta_net_weights{matrix(a + "in_proj_qkv.weight"), matrix(a + "in_proj_z.weight"), matrix(a + "in_proj_b.weight"),
                                                matrix(a + "in_proj_a.weight"),   conv,                        get(a + "A_log"),
                                                get(a + "dt_bias"),            get(a + "norm.weight"),      matrix(a + "out_proj.weight")};
            }
            layer.gate_proj = matrix(l + "mlp.gate_proj.weight");
            layer.up_proj = matrix(l + "mlp.up_proj.weight");
            layer.down_proj = matrix(l + "mlp.down_proj.weight");
            w.layers.push_back(std::move(layer));
        }
        w.norm = get("norm.weight");
        w.head_source = lm_head_from(config, ck.contains("lm_head.weight"));
        if (w.head_source == lm_head_source::stored) {
            // Tied configs do not list lm_head.weight among the expected tensors: its shape is checked here.
            const dims want{t.vocab_size, t.hidden_size};
            const dims& have = ck.info("lm_head.weight").shape;
            if (have != want)
                throw format_error(ck.directory().string() + ": lm_head.weight: shape " + vl::to_string(have) +
                                   " does not match the expected " + vl::to_string(want));
        }
        const bool tied = w.head_source == lm_head_source::tied_to_embeddings;
        if (plan) {
            const shard_plan head_plan = plan_shards(config, plan->rank, plan->size, w.head_source);
            const tensor rows = take_shard(tied ? w.embed_tokens : ck.get("lm_head.weight"), head_plan.lm_head);
            w.lm_head = matrices == matrix_storage::as_stored && rows.type() == dtype::bf16 ? rows : rows.to(as);
        } else if (tied) {
            const bool keep = matrices == matrix_storage::as_stored && w.embed_tokens.type() == dtype::bf16;
            w.lm_head = keep ? w.embed_tokens : w.embed_tokens.to(as);
        } else {
            w.lm_head = fetch("lm_head.weight", true);
        }
        return w;
    }

public:
    // The same from a model directory (its config.json and weights).
    static language_weights load(const std::filesystem::path& model_dir, dtype as, matrix_storage matrices = matrix_storage::converted) {
        return load(checkpoint::open(model_dir), load_config(model_dir), as, matrices);
    }
};

}  // namespace vl::qwen36
