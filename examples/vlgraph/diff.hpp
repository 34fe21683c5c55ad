// examples/vlgraph/diff.hpp — `vlgraph diff`: the prefill of one prompt on the CPU oracle and on a backend,
// both traced, compared node by node (docs/numerics.md, "vlgraph diff").
//
//   vlgraph diff --model DIR (--prompt TEXT [--image PATH_OR_DATA_URI ...] [--system TEXT] [--no-think]
//                             | --input-ids IDS.safetensors)
//                [--backend cpu|cuda] [--threads N] [--perturb TENSOR[=SCALE]]
//
// The oracle is vl::cpu::executor with f32 weights. The other run is a second CPU run (--backend cpu: held
// to bit-identity) or executor<bf16> with the weights uploaded as bf16 (--backend cuda: the accumulated
// per-op rule of vl::accumulated_tolerance). With images the vision tower runs first on each side and the
// language model takes that side's image embeddings. --perturb multiplies one checkpoint tensor by
// (1 + SCALE) (default 1e-2) in the second run only. Prints the first node beyond tolerance (exit 1) or
// "all N nodes within tolerance" (exit 0).
#pragma once

#include "args.hpp"
#include "prefill_trace.hpp"
#include "prompt.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/models/qwen36/language_weights.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vlcli {

namespace diff_detail {

// ---------------------------------------------------------------------------------------------------
// Traced node -> (op class, depth). Every vl::name of models/qwen36/language.hpp and vision.hpp, without
// its "layers.N." / "blocks.N." prefix; the class is that of the op whose output the node is (a view takes
// the class of what it views: chunk_rule.query is a slice of conv.out). A name missing here is an error, so
// that a new vl::name in the model gets a class.
// ---------------------------------------------------------------------------------------------------
struct node_class {
    std::string_view name;
    vl::op_class cls;
};
using enum vl::op_class;
inline constexpr node_class language_layer_nodes[] = {
    {"input_layernorm.out", norm},
    {"post_attention_layernorm.out", norm},
    {"mlp.out", gemm},                              // down_proj(silu(gate) * up)
    {"out", elementwise},                           // the layer output: residual adds
    {"linear_attn.in_proj_qkv.out", gemm},
    {"linear_attn.in_proj_z.out", gemm},
    {"linear_attn.in_proj_a.out", gemm},
    {"linear_attn.in_proj_b.out", gemm},
    {"linear_attn.conv.out", transcendental},       // silu(causal conv)
    {"linear_attn.chunk_rule.query", transcendental},  // views of conv.out
    {"linear_attn.chunk_rule.key", transcendental},
    {"linear_attn.chunk_rule.value", transcendental},
    {"linear_attn.chunk_rule.beta", transcendental},   // sigmoid(b)
    {"linear_attn.chunk_rule.g", transcendental},      // -exp(A_log) * softplus(a + dt_bias)
    {"linear_attn.chunk_rule.out", delta_rule},
    {"linear_attn.recurrent_rule.query", transcendental},  // the same for a one-token prompt
    {"linear_attn.recurrent_rule.key", transcendental},
    {"linear_attn.recurrent_rule.value", transcendental},
    {"linear_attn.recurrent_rule.beta", transcendental},
    {"linear_attn.recurrent_rule.g", transcendental},
    {"linear_attn.recurrent_rule.out", delta_rule},
    {"linear_attn.norm.out", composite},            // rms_norm(o) (materialised), then * silu(z)
    {"linear_attn.out_proj.out", gemm},
    {"self_attn.q_proj.out", gemm},
    {"self_attn.k_proj.out", gemm},
    {"self_attn.v_proj.out", gemm},
    {"self_attn.q_norm.out", norm},
    {"self_attn.k_norm.out", norm},
    {"self_attn.o_proj.in0", attention},            // attention(...) * sigmoid(gate), fused
    {"self_attn.o_proj.out", gemm},
};
inline constexpr node_class language_top_nodes[] = {{"norm.out", norm}, {"logits", gemm}};
inline constexpr node_class vision_block_nodes[] = {
    {"norm1.out", norm},          {"attn.qkv.out", gemm},         {"attn.q_rot", elementwise}, {"attn.k_rot", elementwise},
    {"attn.proj.in0", attention}, {"attn.proj.out", gemm},        {"attn.residual", elementwise}, {"norm2.out", norm},
    {"mlp.linear_fc1.out", gemm}, {"mlp.out", gemm},              {"out", elementwise},
};
inline constexpr node_class vision_top_nodes[] = {
    {"patch_embed.out", gemm},     {"pos_embed.added", reduction}, {"hidden_states.0", elementwise},
    {"merger.norm.out", norm},     {"merger.linear_fc1.out", gemm}, {"merger.out", gemm},
};

struct node_place {
    vl::op_class cls = vl::op_class::composite;
    bool vision = false;
    long layer = -1;       // decoder layer or vision block; -1 for the nodes outside them
    vl::index_t depth = 0;  // layers (vision blocks, then decoder layers) that precede the node
};

template <std::size_t N>
std::optional<vl::op_class> lookup(const node_class (&table)[N], std::string_view name) {
    for (const node_class& n : table)
        if (n.name == name) return n.cls;
    return std::nullopt;
}

// "layers.12.mlp.out" with prefix "layers." -> (12, "mlp.out").
inline std::optional<std::pair<long, std::string_view>> split_index(std::string_view name, std::string_view prefix) {
    if (!name.starts_with(prefix)) return std::nullopt;
    name.remove_prefix(prefix.size());
    const std::size_t dot = name.find('.');
    if (dot == 0 || dot == std::string_view::npos) return std::nullopt;
    long i = 0;
    for (const char ch : name.substr(0, dot)) {
        if (ch < '0' || ch > '9') return std::nullopt;
        i = i * 10 + (ch - '0');
    }
    return std::pair{i, name.substr(dot + 1)};
}

// Depths: vision embedding 0, vision block j: j, merger: depth; then (with images) the language model
// starts after the merger: decoder layer i: offset + i, final norm and logits: offset + num_hidden_layers.
inline node_place place_of(std::string_view name, const vl::qwen36::model_config& cfg, bool images) {
    if (const auto hash = name.find('#'); hash != std::string_view::npos) name = name.substr(0, hash);  // a repeated name (trace_recorder)
    const vl::index_t language_offset = images ? cfg.vision.depth + 1 : 0;
    node_place p;
    std::optional<vl::op_class> c;
    if (const auto l = split_index(name, "layers.")) {
        p.layer = l->first;
        p.depth = language_offset + l->first;
        c = lookup(language_layer_nodes, l->second);
    } else if (const auto b = split_index(name, "blocks.")) {
        p.vision = true;
        p.layer = b->first;
        p.depth = b->first;
        c = lookup(vision_block_nodes, b->second);
    } else if ((c = lookup(language_top_nodes, name))) {
        p.depth = language_offset + cfg.text.num_hidden_layers;
    } else if ((c = lookup(vision_top_nodes, name))) {
        p.vision = true;
        p.depth = name.starts_with("merger.") ? cfg.vision.depth : 0;
    }
    if (!c) throw vl::error("diff: the traced node '" + std::string(name) + "' has no op class (add it to the tables of examples/vlgraph/diff.hpp)");
    p.cls = *c;
    return p;
}

// ---------------------------------------------------------------------------------------------------
// --perturb: the loaded tensors by checkpoint name (the names language_weights::load and
// vision_weights::load read; models/ keeps no names). A tied lm_head is listed under the embedding's name.
// ---------------------------------------------------------------------------------------------------
inline std::vector<std::pair<std::string, vl::tensor*>> tensors_by_name(vl::qwen36::language_weights& w, vl::qwen36::vision_weights* v) {
    std::vector<std::pair<std::string, vl::tensor*>> out;
    const auto add = [&](std::string name, vl::tensor& t) { out.emplace_back(std::move(name), &t); };
    const std::string lm = "model.language_model.";
    add(lm + "embed_tokens.weight", w.embed_tokens);
    if (w.head_source == vl::qwen36::lm_head_source::tied_to_embeddings) add(lm + "embed_tokens.weight", w.lm_head);
    else add("lm_head.weight", w.lm_head);
    add(lm + "norm.weight", w.norm);
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
        vl::qwen36::decoder_layer_weights& l = w.layers[i];
        const std::string p = lm + "layers." + std::to_string(i) + ".";
        add(p + "input_layernorm.weight", l.input_layernorm);
        add(p + "post_attention_layernorm.weight", l.post_attention_layernorm);
        add(p + "mlp.gate_proj.weight", l.gate_proj);
        add(p + "mlp.up_proj.weight", l.up_proj);
        add(p + "mlp.down_proj.weight", l.down_proj);
        if (auto* a = std::get_if<vl::qwen36::attention_weights>(&l.mixer)) {
            const std::string s = p + "self_attn.";
            add(s + "q_proj.weight", a->q_proj);
            add(s + "k_proj.weight", a->k_proj);
            add(s + "v_proj.weight", a->v_proj);
            add(s + "o_proj.weight", a->o_proj);
            add(s + "q_norm.weight", a->q_norm);
            add(s + "k_norm.weight", a->k_norm);
        } else {
            auto& d = std::get<vl::qwen36::delta_net_weights>(l.mixer);
            const std::string s = p + "linear_attn.";
            add(s + "in_proj_qkv.weight", d.in_proj_qkv);
            add(s + "in_proj_z.weight", d.in_proj_z);
            add(s + "in_proj_b.weight", d.in_proj_b);
            add(s + "in_proj_a.weight", d.in_proj_a);
            add(s + "conv1d.weight", d.conv_weight);  // loaded transposed to [K, C]: a scale commutes with that
            add(s + "A_log", d.A_log);
            add(s + "dt_bias", d.dt_bias);
            add(s + "norm.weight", d.norm);
            add(s + "out_proj.weight", d.out_proj);
        }
    }
    if (!v) return out;
    const std::string vm = "model.visual.";
    add(vm + "patch_embed.proj.weight", v->patch_weight);  // reshaped to [D, C·T·p·p]
    add(vm + "patch_embed.proj.bias", v->patch_bias);
    add(vm + "pos_embed.weight", v->pos_embed);
    for (std::size_t j = 0; j < v->blocks.size(); ++j) {
        vl::qwen36::vision_block_weights& b = v->blocks[j];
        const std::string p = vm + "blocks." + std::to_string(j) + ".";
        add(p + "norm1.weight", b.norm1_weight);
        add(p + "norm1.bias", b.norm1_bias);
        add(p + "attn.qkv.weight", b.qkv_weight);
        add(p + "attn.qkv.bias", b.qkv_bias);
        add(p + "attn.proj.weight", b.proj_weight);
        add(p + "attn.proj.bias", b.proj_bias);
        add(p + "norm2.weight", b.norm2_weight);
        add(p + "norm2.bias", b.norm2_bias);
        add(p + "mlp.linear_fc1.weight", b.fc1_weight);
        add(p + "mlp.linear_fc1.bias", b.fc1_bias);
        add(p + "mlp.linear_fc2.weight", b.fc2_weight);
        add(p + "mlp.linear_fc2.bias", b.fc2_bias);
    }
    add(vm + "merger.norm.weight", v->merger_norm_weight);
    add(vm + "merger.norm.bias", v->merger_norm_bias);
    add(vm + "merger.linear_fc1.weight", v->merger_fc1_weight);
    add(vm + "merger.linear_fc1.bias", v->merger_fc1_bias);
    add(vm + "merger.linear_fc2.weight", v->merger_fc2_weight);
    add(vm + "merger.linear_fc2.bias", v->merger_fc2_bias);
    return out;
}

// A new host tensor: t × factor, in t's dtype (t itself, maybe shared with the oracle's weights, is untouched).
inline vl::tensor scaled(const vl::tensor& t, double factor) {
    vl::tensor f = t.to(vl::dtype::f32);  // always a fresh contiguous copy
    float* p = f.data<float>();
    for (vl::index_t i = 0; i < f.numel(); ++i) p[i] = static_cast<float>(p[i] * factor);
    return f.type() == t.type() ? f : f.to(t.type());
}

struct perturbation {
    std::string name;
    double scale = 1e-2;
};

// --perturb NAME[=SCALE]
inline std::optional<perturbation> parse_perturb(const args& a) {
    if (!a.has("perturb")) return std::nullopt;
    const std::string v = a.one("perturb");
    perturbation p;
    const std::size_t eq = v.find('=');
    p.name = v.substr(0, eq);
    if (p.name.empty()) throw usage_error("--perturb needs a tensor name, got '" + v + "'");
    if (eq != std::string::npos) {
        const std::string s = v.substr(eq + 1);
        char* end = nullptr;
        p.scale = std::strtod(s.c_str(), &end);
        if (s.empty() || *end || !std::isfinite(p.scale) || p.scale == 0)
            throw usage_error("--perturb " + p.name + "=SCALE: SCALE must be a finite non-zero number, got '" + s + "'");
    }
    return p;
}

}  // namespace diff_detail

inline int diff(const args& a) {
    namespace q = vl::qwen36;
    namespace dd = diff_detail;
    using clock = std::chrono::steady_clock;
    const std::filesystem::path dir = a.required("model");
    const std::string backend = a.backend(VLGRAPH_CLI_CUDA);
    const int threads = a.threads();
    check_prompt_or_input_ids(a);
    const std::optional<dd::perturbation> perturb = dd::parse_perturb(a);

    auto t0 = clock::now();
    const q::model_config cfg = q::load_config(dir);
    const vl::checkpoint ck = vl::checkpoint::open(dir);
    if (perturb) {
        if (!ck.contains(perturb->name)) throw vl::error("--perturb: " + perturb->name + " is not a tensor of the checkpoint " + dir.string());
        if (!q::part_of(perturb->name)) throw vl::error("--perturb: " + perturb->name + " is not used by the model (the mtp.* head is ignored)");
        if (*q::part_of(perturb->name) == q::part::vision && !a.has("image"))
            throw vl::error("--perturb: " + perturb->name + " is a vision tensor; give --image so that the vision tower runs");
    }
    chat_prompt p;
    if (a.has("prompt")) p = render_chat_prompt(a, dir, cfg, q::load_tokenizer(dir));
    else p.input_ids = read_input_ids(a.one("input-ids"));
    const vl::tensor& ids = p.input_ids;
    const bool images = p.pixel_values.defined();
    const q::rope_index rope = q::get_rope_index({ids.data<std::int64_t>(), static_cast<std::size_t>(ids.numel())}, p.grids, {}, cfg);

    // The oracle's f32 weights; the other run's are the same tensors (shared storage) but the perturbed one.
    const q::language_weights lw = q::language_weights::load(ck, cfg, vl::dtype::f32);
    std::optional<q::vision_weights> vw;
    if (images) vw = q::vision_weights::load(ck, cfg.vision, vl::dtype::f32);
    q::language_weights lw2 = lw;
    std::optional<q::vision_weights> vw2 = vw;
    if (perturb) {
        int replaced = 0;
        for (auto& [name, t] : dd::tensors_by_name(lw2, vw2 ? &*vw2 : nullptr))
            if (name == perturb->name) *t = dd::scaled(*t, 1 + perturb->scale), ++replaced;
        if (!replaced) throw vl::error("--perturb: " + perturb->name + " is not a tensor the model reads");
    }
    const double t_setup = seconds_since(t0);

    t0 = clock::now();
    vl::cpu::executor cpu{threads};
    const vl::trace_recorder oracle = prefill_trace(lw, vw ? &*vw : nullptr, p.pixel_values, p.grids, ids, rope.position_ids, cpu);
    const double t_oracle = seconds_since(t0);
    t0 = clock::now();
    vl::trace_recorder other;
    vl::tolerance_profile profile = vl::exact_profile("cpu f32 vs cpu f32: bit-identical");
#if VLGRAPH_CLI_CUDA
    if (backend == "cuda") {
        other = prefill_trace_on_cuda(lw2, vw2 ? &*vw2 : nullptr, p.pixel_values, p.grids, ids, rope.position_ids);
        profile = vl::cuda_bf16_profile();
    }
#endif
    if (backend == "cpu") {
        vl::cpu::executor second{threads};
        other = prefill_trace(lw2, vw2 ? &*vw2 : nullptr, p.pixel_values, p.grids, ids, rope.position_ids, second);
    }
    const double t_other = seconds_since(t0);

    const vl::trace_diff d = vl::compare_traces(other, oracle, [&](std::string_view name, const vl::tensor& ref) {
        const dd::node_place at = dd::place_of(name, cfg, images);
        return vl::accumulated_tolerance(profile, at.cls, at.depth, ref);
    });

    std::printf("diff: %s against the cpu f32 oracle, prefill of %ld tokens, %zu images", backend == "cuda" ? "cuda bf16" : "cpu f32", long(ids.numel()),
                p.grids.size());
    if (perturb) std::printf("; %s x (1 + %g) in the second run", perturb->name.c_str(), perturb->scale);
    std::printf("\n");
    std::fprintf(stderr, "timings: load + tokenize %.3f s, oracle %.3f s, %s %.3f s\n", t_setup, t_oracle, backend.c_str(), t_other);

    if (!d.missing.empty()) {
        std::printf("node %s of the oracle is missing from the %s trace (%zu missing)\n", d.missing.front().c_str(), backend.c_str(), d.missing.size());
        return 1;
    }
    const vl::trace_diff::row* f = d.first_divergent();
    if (!f) {
        std::printf("all %zu nodes within tolerance\n", d.rows.size());
        return 0;
    }
    const dd::node_place at = dd::place_of(f->name, cfg, images);
    const std::string layer = at.layer < 0 ? "none" : std::to_string(at.layer);
    std::printf("first node beyond tolerance: %s\n", f->name.c_str());
    std::printf("  %s, layer %s, op class %s, shape %s\n", at.vision ? "vision" : "language", layer.c_str(), vl::name_of(at.cls),
                vl::to_string(oracle.find(f->name)->value.shape()).c_str());
    std::printf("  max-abs %.3e  nmse %.3e  max-rel %.3e%s\n", f->stats.max_abs, f->stats.nmse, f->stats.max_rel, f->stats.non_finite ? "  non-finite values" : "");
    std::printf("  tolerance: %s\n", f->tolerance.rule.c_str());
    std::printf("  %ld of %zu nodes within tolerance before it\n", long(f - d.rows.data()), d.rows.size());
    return 1;
}

}  // namespace vlcli
