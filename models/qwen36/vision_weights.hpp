// vlgraph/models/qwen36/vision_weights.hpp — the vision tower's weights (the model.visual.* tensors of
// spec §2), read from any HF checkpoint directory of this model type (one model.safetensors or shards;
// only the shards that hold vision tensors are opened).
//
//     auto w = vl::qwen36::vision_weights::load("Qwen3.6-27B", vl::dtype::f32);    // CPU executor
//
// Tensors are host tensors converted to the dtype asked for (the CPU executor computes in f32 and would
// otherwise convert every weight at every use; a CUDA executor will ask for bf16 and upload them).
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/weights.hpp>
#include <vlgraph/tensor.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace vl::qwen36 {

// One pre-LN transformer block (spec §4.4). Linear weights are [out, in] (nn.Linear).
struct vision_block_weights {
    tensor norm1_weight, norm1_bias;  // [D]
    tensor qkv_weight, qkv_bias;      // [3D, D], [3D]: output rows q ‖ k ‖ v, each head-major [H, hd]
    tensor proj_weight, proj_bias;    // [D, D], [D]
    tensor norm2_weight, norm2_bias;  // [D]
    tensor fc1_weight, fc1_bias;      // [I, D], [I]
    tensor fc2_weight, fc2_bias;      // [D, I], [D]
};

struct vision_weights {
    vision_config config;
    tensor patch_weight;  // [D, C·T·p·p]: the Conv3d kernel [D, C, T, p, p] flattened in (C, T, kh, kw) order
    tensor patch_bias;    // [D]
    tensor pos_embed;     // [S·S, D]: the learned S×S position grid, row-major
    std::vector<vision_block_weights> blocks;
    tensor merger_norm_weight, merger_norm_bias;  // [D]  (LayerNorm per patch, before the 2×2 concatenation)
    tensor merger_fc1_weight, merger_fc1_bias;    // [4D, 4D], [4D]
    tensor merger_fc2_weight, merger_fc2_bias;    // [out_hidden, 4D], [out_hidden]

    // The same weights with f applied to every tensor, e.g. uploading them to a device:
    //   w.map([](const tensor& t) { return vl::cuda::to_device(t, dtype::bf16); })
    template <class F>
    vision_weights map(F&& f) const {
        vision_weights w;
        w.config = config;
        w.patch_weight = f(patch_weight);
        w.patch_bias = f(patch_bias);
        w.pos_embed = f(pos_embed);
        for (const vision_block_weights& b : blocks)
            w.blocks.push_back({f(b.norm1_weight), f(b.norm1_bias), f(b.qkv_weight), f(b.qkv_bias), f(b.proj_weight), f(b.proj_bias), f(b.norm2_weight),
                                f(b.norm2_bias), f(b.fc1_weight), f(b.fc1_bias), f(b.fc2_weight), f(b.fc2_bias)});
        w.merger_norm_weight = f(merger_norm_weight);
        w.merger_norm_bias = f(merger_norm_bias);
        w.merger_fc1_weight = f(merger_fc1_weight);
        w.merger_fc1_bias = f(merger_fc1_bias);
        w.merger_fc2_weight = f(merger_fc2_weight);
        w.merger_fc2_bias = f(merger_fc2_bias);
        return w;
    }

    // The vision tensors of `ck`, checked against `config` (every tensor present, shapes as spec §2),
    // converted to `as`. A mismatch is a vl::format_error listing every problem.
    static vision_weights load(const checkpoint& ck, const vision_config& config, dtype as, matrix_storage matrices = matrix_storage::converted) {
        model_config shapes_of;  // expected_tensors(part::vision) reads only the vision config
        shapes_of.vision = config;
        const weight_report report = weight_problems(shapes_of, part::vision, [&](const std::string& name) -> std::optional<tensor_info> {
            if (!ck.contains(name)) return std::nullopt;
            const auto& info = ck.info(name);
            return tensor_info{info.type, std::vector<std::int64_t>(info.shape.begin(), info.shape.end())};
        });
        if (!report.ok())
            throw format_error(ck.directory().string() + ": the vision weights do not match config.json: " + report.summary());

        const auto get = [&](const std::string& name) { return ck.load("model.visual." + name, as); };
        const auto matrix = [&](const std::string& name) {  // weights.hpp, matrix_storage
            const std::string full = "model.visual." + name;
            if (matrices == matrix_storage::as_stored && ck.info(full).type == dtype::bf16) return ck.get(full);
            return ck.load(full, as);
        };
        vision_weights w;
        w.config = config;
        w.patch_weight = matrix("patch_embed.proj.weight").reshape({config.hidden_size, config.patch_elements()});
        w.patch_bias = get("patch_embed.proj.bias");
        w.pos_embed = get("pos_embed.weight");
        for (std::int64_t j = 0; j < config.depth; ++j) {
            const std::string b = "blocks." + std::to_string(j) + ".";
            w.blocks.push_back({get(b + "norm1.weight"), get(b + "norm1.bias"), matrix(b + "attn.qkv.weight"), get(b + "attn.qkv.bias"),
                                matrix(b + "attn.proj.weight"), get(b + "attn.proj.bias"), get(b + "norm2.weight"), get(b + "norm2.bias"),
                                matrix(b + "mlp.linear_fc1.weight"), get(b + "mlp.linear_fc1.bias"), matrix(b + "mlp.linear_fc2.weight"),
                                get(b + "mlp.linear_fc2.bias")});
        }
        w.merger_norm_weight = get("merger.norm.weight");
        w.merger_norm_bias = get("merger.norm.bias");
        w.merger_fc1_weight = matrix("merger.linear_fc1.weight");
        w.merger_fc1_bias = get("merger.linear_fc1.bias");
        w.merger_fc2_weight = matrix("merger.linear_fc2.weight");
        w.merger_fc2_bias = get("merger.linear_fc2.bias");
        return w;
    }

    // The same from a model directory (its config.json and weights).
    static vision_weights load(const std::filesystem::path& model_dir, dtype as, matrix_storage matrices = matrix_storage::converted) {
        return load(checkpoint::open(model_dir), load_config(model_dir).vision, as, matrices);
    }
};

}  // namespace vl::qwen36
