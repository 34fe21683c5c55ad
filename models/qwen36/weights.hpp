// vlgraph/models/qwen36/weights.hpp — the checkpoint tensors a Qwen3.5/3.6 config implies (spec §2), and a
// check of a checkpoint against them.
//
// Names are as stored in HF safetensors (= HF module paths): model.visual.*, model.language_model.*,
// lm_head.weight (absent when tie_word_embeddings is true). Shapes are PyTorch's: nn.Linear weights are
// [out_features, in_features], the patch Conv3d is [out, C, T, kh, kw], the GDN depthwise conv1d [channels, 1, k].
// The MTP head (mtp.*) is ignored, as HF ignores it.
#pragma once

#include <vlgraph/dtype.hpp>
#include <vlgraph/tensor.hpp>
#include <vlgraph/models/qwen36/config.hpp>

#include <concepts>
#include <type_traits>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace vl::qwen36 {

enum class part { vision, language, all };

struct expected_tensor {
    std::string name;
    std::vector<std::int64_t> shape;
};

// The part a checkpoint tensor belongs to; nullopt for the ignored MTP head.
inline std::optional<part> part_of(std::string_view name) {
    if (name.starts_with("mtp.")) return std::nullopt;
    return name.starts_with("model.visual.") ? part::vision : part::language;
}

namespace detail {

inline void add_vision_tensors(const vision_config& v, std::vector<expected_tensor>& out) {
    const std::int64_t d = v.hidden_size;
    const std::int64_t merged = v.merged_hidden_size();
    const auto add = [&](std::string name, std::vector<std::int64_t> shape) { out.push_back({"model.visual." + std::move(name), std::move(shape)}); };
    add("patch_embed.proj.weight", {d, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size});
    add("patch_embed.proj.bias", {d});
    add("pos_embed.weight", {v.num_position_embeddings, d});
    for (std::int64_t j = 0; j < v.depth; ++j) {
        const std::string b = "blocks." + std::to_string(j) + ".";
        add(b + "norm1.weight", {d});
        add(b + "norm1.bias", {d});
        add(b + "attn.qkv.weight", {3 * d, d});
        add(b + "attn.qkv.bias", {3 * d});
        add(b + "attn.proj.weight", {d, d});
        add(b + "attn.proj.bias", {d});
        add(b + "norm2.weight", {d});
        add(b + "norm2.bias", {d});
        add(b + "mlp.linear_fc1.weight", {v.intermediate_size, d});
        add(b + "mlp.linear_fc1.bias", {v.intermediate_size});
        add(b + "mlp.linear_fc2.weight", {d, v.intermediate_size});
        add(b + "mlp.linear_fc2.bias", {d});
    }
    add("merger.norm.weight", {d});  // pre-shuffle LayerNorm over hidden_size
    add("merger.norm.bias", {d});
    add("merger.linear_fc1.weight", {merged, merged});
    add("merger.linear_fc1.bias", {merged});
    add("merger.linear_fc2.weight", {v.out_hidden_size, merged});
    add("merger.linear_fc2.bias", {v.out_hidden_size});
}

inline void add_language_tensors(const model_config& c, std::vector<expected_tensor>& out) {
    const text_config& t = c.text;
    const std::int64_t h = t.hidden_size;
    const auto add = [&](std::string name, std::vector<std::int64_t> shape) { out.push_back({"model.language_model." + std::move(name), std::move(shape)}); };
    add("embed_tokens.weight", {t.vocab_size, h});
    for (std::int64_t i = 0; i < t.num_hidden_layers; ++i) {
        const std::string l = "layers." + std::to_string(i) + ".";
        add(l + "input_layernorm.weight", {h});
        add(l + "post_attention_layernorm.weight", {h});
        add(l + "mlp.gate_proj.weight", {t.intermediate_size, h});
        add(l + "mlp.up_proj.weight", {t.intermediate_size, h});
        add(l + "mlp.down_proj.weight", {h, t.intermediate_size});
        if (t.is_full_attention(i)) {
            add(l + "self_attn.q_proj.weight", {t.q_proj_out(), h});
            add(l + "self_attn.k_proj.weight", {t.kv_proj_out(), h});
            add(l + "self_attn.v_proj.weight", {t.kv_proj_out(), h});
            add(l + "self_attn.o_proj.weight", {h, t.attn_out_dim()});
            add(l + "self_attn.q_norm.weight", {t.head_dim});
            add(l + "self_attn.k_norm.weight", {t.head_dim});
        } else {
            const std::int64_t hv = t.linear_num_value_heads;
            add(l + "linear_attn.in_proj_qkv.weight", {t.linear_conv_dim(), h});
            add(l + "linear_attn.in_proj_z.weight", {t.linear_value_dim(), h});
            add(l + "linear_attn.in_proj_b.weight", {hv, h});
            add(l + "linear_attn.in_proj_a.weight", {hv, h});
            add(l + "linear_attn.conv1d.weight", {t.linear_conv_dim(), 1, t.linear_conv_kernel_dim});
            add(l + "linear_attn.A_log", {hv});
            add(l + "linear_attn.dt_bias", {hv});
            add(l + "linear_attn.norm.weight", {t.linear_value_head_dim});
            add(l + "linear_attn.out_proj.weight", {h, t.linear_value_dim()});
        }
    }
    add("norm.weight", {h});
    if (!c.tie_word_embeddings) out.push_back({"lm_head.weight", {t.vocab_size, h}});
}

}  // namespace detail

// Every tensor the checkpoint must hold for `p`, in model order (vision before language for part::all).
inline std::vector<expected_tensor> expected_tensors(const model_config& c, part p) {
    std::vector<expected_tensor> out;
    if (p != part::language) detail::add_vision_tensors(c.vision, out);
    if (p != part::vision) detail::add_language_tensors(c, out);
    return out;
}

// (dtype, shape) of a checkpoint tensor, as a tensor lookup returns it.
using tensor_info = std::pair<dtype, std::vector<std::int64_t>>;

// How a loader keeps the projection matrices (the weights every linear reads: nearly all of the bytes).
enum class matrix_storage {
    converted,  // converted to the compute dtype like every other tensor (what a device upload starts from)
    as_stored,  // bf16 matrices left where they lie, as views of the mmap'd file: the CPU executor reads them
                // as stored (backends/cpu/linear.hpp), bit-identical to converted f32, with half the bytes,
                // and pages the OS can drop and re-read
};

// Where the output projection comes from. HF transformers (5.x) ties lm_head to embed_tokens only when the
// checkpoint has no lm_head.weight of its own: with tie_word_embeddings true *and* a stored lm_head.weight,
// it warns and uses the stored one (logits differ by ~200 % on a checkpoint whose two tables differ).
enum class lm_head_source { stored, tied_to_embeddings };
inline lm_head_source lm_head_from(const model_config& c, bool checkpoint_has_lm_head) {
    return c.tie_word_embeddings && !checkpoint_has_lm_head ? lm_head_source::tied_to_embeddings : lm_head_source::stored;
}

template <class F>
concept tensor_lookup = std::invocable<F&, const std::string&> &&
                        std::convertible_to<std::invoke_result_t<F&, const std::string&>, std::optional<tensor_info>>;

struct weight_report {
    std::vector<std::string> problems;    // missing tensors, shape mismatches, non-floating dtypes
    std::vector<std::string> unexpected;  // checkpoint tensors of part p the model does not use (mtp.* excluded)
    bool ok() const { return problems.empty(); }
    // One line for an error message: the count and the first few problems (a checkpoint of the wrong model
    // has hundreds; `vlgraph inspect` lists them all).
    std::string summary(std::size_t shown = 3) const {
        std::string s = std::to_string(problems.size()) + (problems.size() == 1 ? " problem: " : " problems: ");
        for (std::size_t i = 0; i < problems.size() && i < shown; ++i) s += (i ? "; " : "") + problems[i];
        if (problems.size() > shown) s += "; and " + std::to_string(problems.size() - shown) + " more";
        return s;
    }
};

// Checks a checkpoint against expected_tensors(c, p). `lookup(name)` gives a tensor's (dtype, shape), or
// nullopt when absent; `checkpoint_names` (every tensor in the checkpoint, optional) yields the unexpected list.
template <tensor_lookup Lookup>
weight_report weight_problems(const model_config& c, part p, Lookup&& lookup, std::span<const std::string> checkpoint_names = {}) {
    weight_report report;
    std::unordered_set<std::string> expected_names;
    for (const expected_tensor& e : expected_tensors(c, p)) {
        expected_names.insert(e.name);
        const std::optional<tensor_info> found = lookup(e.name);
        if (!found) {
            report.problems.push_back("missing tensor " + e.name + " (expected shape " + vl::to_string(e.shape) + ")");
            continue;
        }
        if (found->second != e.shape)
            report.problems.push_back(e.name + ": shape " + vl::to_string(found->second) + " does not match the expected " +
                                      vl::to_string(e.shape));
        if (!is_floating(found->first))
            report.problems.push_back(e.name + ": dtype " + std::string(name_of(found->first)) + " is not a floating-point type");
    }
    for (const std::string& name : checkpoint_names) {
        const std::optional<part> owner = part_of(name);
        if (owner && (p == part::all || *owner == p) && !expected_names.contains(name)) report.unexpected.push_back(name);
    }
    return report;
}

}  // namespace vl::qwen36
