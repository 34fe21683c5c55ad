// vlgraph/models/qwen36/vision.hpp — the Qwen3.5/3.6 vision tower (HF Qwen3_5VisionModel), spec §4.
//
//     auto w = vl::qwen36::vision_weights::load(model_dir, vl::dtype::f32);
//     vl::cpu::executor cpu{8};
//     auto out = vl::qwen36::vision_forward(w, pixel_values, grids, cpu);    // out.image_embeds: [N/4, out_hidden]
//
// pixel_values [N, C·T·p·p] holds the patches of every image of the call, each image's patches in
// merge-window order (spec §3.6), images one after the other; grids[i] = (t, h, w) is image i's patch
// grid. N = Σ t·h·w. Notation below: D = hidden_size, H = num_heads, hd = D / H, I = intermediate_size.
//
//   x = patch_embed(p) + pos_embed(grid)                         §4.1, §4.2   [N, D]
//   for each block:                                              §4.4
//       x = x + proj(attention(rope(q), rope(k), v))  q,k,v = qkv(LN1(x)), block-diagonal over cu_seqlens
//       x = x + fc2(gelu_tanh(fc1(LN2(x))))
//   image_embeds = fc2(gelu_erf(fc1(concat_2×2(LN(x)))))         §4.5         [N/4, out_hidden]
//
// The per-call host tables — bilinear pos-embed taps, rotary cos/sin, cu_seqlens — are computed by the
// small functions below, which follow HF's transformers/vision_utils.py (newest: f32 interpolation
// weights, max(h − 1, 1) denominator, spec §10 G2). The graph is evaluated block by block: the residual
// stream is materialised between blocks. Every intermediate is named as the HF module whose output it is
// (`blocks.0.attn.qkv.out`, ...) so that a trace compares node by node with HF forward-hook dumps.
#pragma once

#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>
#include <vlgraph/vlgraph.hpp>

#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace vl::qwen36 {

// One image's patch grid: t temporal slices of h × w patches (HF image_grid_thw row).
struct grid_thw {
    index_t t, h, w;
};

// The rows of an image_grid_thw tensor (integer [n_images, 3]).
inline std::vector<grid_thw> grids_from_tensor(const tensor& image_grid_thw) {
    if (image_grid_thw.rank() != 2 || image_grid_thw.extent(1) != 3)
        throw shape_error("image_grid_thw must be [n_images, 3], got " + to_string(image_grid_thw.shape()));
    const tensor g = image_grid_thw.to(dtype::i64);
    const std::int64_t* p = g.data<std::int64_t>();
    std::vector<grid_thw> out;
    for (index_t i = 0; i < g.extent(0); ++i) out.push_back({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
    return out;
}

// Total patches of a call; checks every grid against the merge window.
inline index_t vision_patch_count(std::span<const grid_thw> grids, const vision_config& c) {
    index_t n = 0;
    for (const grid_thw& g : grids) {
        if (g.t <= 0 || g.h <= 0 || g.w <= 0 || g.h % c.spatial_merge_size || g.w % c.spatial_merge_size)
            throw shape_error("vision: grid (t " + std::to_string(g.t) + ", h " + std::to_string(g.h) + ", w " + std::to_string(g.w) +
                              ") must be positive with h and w multiples of spatial_merge_size " + std::to_string(c.spatial_merge_size));
        n += g.t * g.h * g.w;
    }
    return n;
}

// Attention segments (spec §4.4): each temporal slice of each image attends only to itself.
//     cu_seqlens = {0, h0·w0, 2·h0·w0, ... (t0 times), ... + h1·w1, ...}
inline std::vector<index_t> vision_cu_seqlens(std::span<const grid_thw> grids) {
    std::vector<index_t> cu{0};
    for (const grid_thw& g : grids)
        for (index_t s = 0; s < g.t; ++s) cu.push_back(cu.back() + g.h * g.w);
    return cu;
}

// Calls f(grid, row, col) for every patch of the call, in the order of the patches: per image, per
// temporal slice, merge-window-major (block_row, block_col, in_row, in_col) — HF get_vision_position_ids.
template <class F>
void for_each_patch(std::span<const grid_thw> grids, index_t merge, F&& f) {
    for (const grid_thw& g : grids)
        for (index_t s = 0; s < g.t; ++s)
            for (index_t br = 0; br < g.h / merge; ++br)
                for (index_t bc = 0; bc < g.w / merge; ++bc)
                    for (index_t ir = 0; ir < merge; ++ir)
                        for (index_t ic = 0; ic < merge; ++ic) f(g, br * merge + ir, bc * merge + ic);
}

// Bilinear resampling (align_corners) of the S×S learned position grid to each image's h × w grid
// (spec §4.2), as gather taps: pos(n) = Σ_k weights[n, k] · pos_embed[indices[n, k]], k over the
// corners (y0,x0), (y0,x1), (y1,x0), (y1,x1).
struct pos_embed_taps {
    tensor indices;  // i64 [N, 4]: rows of pos_embed (y·S + x)
    tensor weights;  // f32 [N, 4]
};

namespace detail {
// Taps and weights along one axis, in f32 exactly as HF's _interpolation_axis_taps_weights:
// src = i·(S−1)/max(n−1, 1); taps floor(src) and floor(src)+1 clamped to S−1; weights 1 − |src − tap|.
struct axis_taps {
    index_t tap[2];
    float weight[2];
};
inline axis_taps bilinear_axis(index_t i, index_t n, index_t side) {
    const float src = static_cast<float>(i) * static_cast<float>(side - 1) / static_cast<float>(std::max<index_t>(n - 1, 1));
    const float floor = std::floor(src);
    axis_taps a{};
    for (int o = 0; o < 2; ++o) {
        a.tap[o] = std::min(static_cast<index_t>(floor) + o, side - 1);
        a.weight[o] = std::max(1.0f - std::fabs(src - floor - static_cast<float>(o)), 0.0f);
    }
    return a;
}
}  // namespace detail

inline pos_embed_taps vision_pos_embed_taps(std::span<const grid_thw> grids, const vision_config& c) {
    const index_t side = c.num_grid_per_side();
    std::vector<std::int64_t> idx;
    std::vector<float> wts;
    for_each_patch(grids, c.spatial_merge_size, [&](const grid_thw& g, index_t row, index_t col) {
        const detail::axis_taps y = detail::bilinear_axis(row, g.h, side), x = detail::bilinear_axis(col, g.w, side);
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                idx.push_back(y.tap[i] * side + x.tap[j]);
                wts.push_back(y.weight[i] * x.weight[j]);
            }
    });
    const auto n = static_cast<index_t>(wts.size() / 4);
    return {tensor::from(idx, {n, 4}), tensor::from(wts, {n, 4})};
}

// 2-D rotary tables (spec §4.3), f32 [N, hd]: with k = hd/4 frequencies inv_freq[j] = θ^(−4j/hd),
//     φ(n) = [row·inv_freq, col·inv_freq, row·inv_freq, col·inv_freq],  cos = cos φ,  sin = sin φ.
// rotate_half pairs dims (i, i + hd/2), so the row angles rotate the pairs of the first and third
// quarters, the column angles those of the second and fourth.
struct rotary_tables {
    tensor cos, sin;
};
inline rotary_tables vision_rotary(std::span<const grid_thw> grids, const vision_config& c) {
    const index_t hd = c.head_dim(), half = hd / 2, k = hd / 4;
    if (hd % 4) throw config_error("vision: head_dim " + std::to_string(hd) + " must be a multiple of 4 for the 2-D rotary embedding");
    std::vector<float> inv_freq(static_cast<std::size_t>(k));
    for (index_t j = 0; j < k; ++j)  // HF: 1 / theta ** (arange(0, hd/2, 2) / (hd/2)), all f32
        inv_freq[static_cast<std::size_t>(j)] = 1.0f / std::pow(static_cast<float>(c.rope_theta), static_cast<float>(2 * j) / static_cast<float>(half));
    std::vector<float> cos, sin;
    const auto put = [&](index_t position) {  // the k angles of one axis
        for (const float f : inv_freq) {
            cos.push_back(std::cos(static_cast<float>(position) * f));
            sin.push_back(std::sin(static_cast<float>(position) * f));
        }
    };
    for_each_patch(grids, c.spatial_merge_size, [&](const grid_thw&, index_t row, index_t col) {
        for (int twice = 0; twice < 2; ++twice) {
            put(row);
            put(col);
        }
    });
    const auto n = static_cast<index_t>(cos.size()) / hd;
    return {tensor::from(cos, {n, hd}), tensor::from(sin, {n, hd})};
}

// x·cos + rotate_half(x)·sin over the last axis, rotate_half([x₁, x₂]) = [−x₂, x₁].
//     x: [N, H, hd],  cos, sin: [N, 1, hd] (one angle set per patch, shared by the heads)
template <floating_expression X, floating_expression C>
auto rotary_2d(X x_, C cos, C sin) {
    const index_t half = x_.shape()[2] / 2;
    auto x = vl::share(std::move(x_));                                                               // [N, H, hd]
    auto rotated = vl::concat(-1, -vl::slice(x, -1, half, 2 * half), vl::slice(x, -1, 0, half));     // [N, H, hd]
    return x * cos + rotated * sin;                                                                  // [N, H, hd]  fused
}

struct vision_output {
    tensor image_embeds;                // [N/4, out_hidden]: merged tokens, per image in raster order of its (h/2)×(w/2) grid
    tensor last_hidden_state;           // [N, D]: the output of the last block (before the merger)
    std::vector<tensor> hidden_states;  // when asked for: [0] = input of block 0, [j + 1] = output of block j
};

// Per-call tables shared by every block.
struct vision_tables {
    std::vector<index_t> cu_seqlens;
    pos_embed_taps pos;
    rotary_tables rotary;  // cos, sin viewed as [N, 1, hd]
};

inline vision_tables make_vision_tables(std::span<const grid_thw> grids, const vision_config& c) {
    rotary_tables r = vision_rotary(grids, c);
    const index_t n = r.cos.extent(0), hd = r.cos.extent(1);
    return {vision_cu_seqlens(grids), vision_pos_embed_taps(grids, c), {r.cos.reshape({n, 1, hd}), r.sin.reshape({n, 1, hd})}};
}

// §4.1 + §4.2: x = W_pe · p + b_pe + Σ_k weights[:, k] · pos_embed[indices[:, k]]
template <class Executor>
tensor vision_embed(const vision_weights& w, const tensor& pixel_values, const vision_tables& t, Executor& exec) {
    const index_t n = pixel_values.extent(0), d = w.config.hidden_size;
    auto p = vl::input<2>(pixel_values);                                                           // [N, C·T·p·p]
    auto patches = vl::name("patch_embed.out", vl::linear(p, vl::input<2>(w.patch_weight), vl::input<1>(w.patch_bias)));  // [N, D]
    auto corners = vl::gather(vl::input<2>(w.pos_embed), vl::indices<2>(t.pos.indices));           // [N, 4, D]
    auto weights = vl::reshape(vl::input<2>(t.pos.weights), vl::shape_t<3>{n, 4, 1});              // [N, 4, 1]
    auto pos = vl::name("pos_embed.added", vl::reshape(vl::sum(corners * weights, 1), vl::shape_t<2>{n, d}));  // [N, D]
    return vl::eval(vl::name("hidden_states.0", patches + pos), exec);                             // [N, D]
}

// §4.4: one pre-LN block; `prefix` = "blocks.<j>.".
template <class Executor>
tensor vision_block(const vision_block_weights& w, const vision_config& c, const tensor& hidden, const vision_tables& t, const std::string& prefix,
                    Executor& exec) {
    const index_t n = hidden.extent(0), d = c.hidden_size, heads = c.num_heads, hd = c.head_dim();
    constexpr float eps = 1e-6f;
    const auto nm = [&](const char* what) { return prefix + what; };
    auto x = vl::input<2>(hidden);                                                                  // [N, D]
    auto n1 = vl::name(nm("norm1.out"), vl::layer_norm(x, vl::input<1>(w.norm1_weight), vl::input<1>(w.norm1_bias), eps));  // [N, D]
    auto qkv = vl::share(vl::reshape(vl::name(nm("attn.qkv.out"), vl::linear(n1, vl::input<2>(w.qkv_weight), vl::input<1>(w.qkv_bias))),
                                     vl::shape_t<4>{n, 3, heads, hd}));                             // [N, 3, H, hd]
    auto [q, k, v] = vl::split(qkv, 1, std::array<index_t, 3>{1, 1, 1});                            // 3 × [N, 1, H, hd]  views
    // [N, 1, H, hd] -> [N, H, hd]; a slice of the packed qkv is strided, so this copies (N·D values).
    const auto per_head = [&](auto e) { return vl::reshape(e, vl::shape_t<3>{n, heads, hd}); };
    auto cos = vl::input<3>(t.rotary.cos), sin = vl::input<3>(t.rotary.sin);                        // [N, 1, hd]
    auto q_rot = vl::name(nm("attn.q_rot"), rotary_2d(per_head(q), cos, sin));                      // [N, H, hd]
    auto k_rot = vl::name(nm("attn.k_rot"), rotary_2d(per_head(k), cos, sin));                      // [N, H, hd]
    auto attn = vl::attention(q_rot, k_rot, per_head(v), 1.0f / std::sqrt(static_cast<float>(hd)),
                              vl::attention_mask::segments(t.cu_seqlens));                          // [N, H, hd]
    auto heads_cat = vl::name(nm("attn.proj.in0"), vl::reshape(attn, vl::shape_t<2>{n, d}));       // [N, D]
    auto proj = vl::name(nm("attn.proj.out"), vl::linear(heads_cat, vl::input<2>(w.proj_weight), vl::input<1>(w.proj_bias)));  // [N, D]
    auto h = vl::share(vl::name(nm("attn.residual"), x + proj));                                    // [N, D]
    auto n2 = vl::name(nm("norm2.out"), vl::layer_norm(h, vl::input<1>(w.norm2_weight), vl::input<1>(w.norm2_bias), eps));  // [N, D]
    auto fc1 = vl::name(nm("mlp.linear_fc1.out"), vl::linear(n2, vl::input<2>(w.fc1_weight), vl::input<1>(w.fc1_bias)));  // [N, I]
    auto mlp = vl::name(nm("mlp.out"), vl::linear(vl::gelu_tanh(fc1), vl::input<2>(w.fc2_weight), vl::input<1>(w.fc2_bias)));  // [N, D]
    return vl::eval(vl::name(nm("out"), h + mlp), exec);                                            // [N, D]
}

// §4.5: LayerNorm per patch, then each 2×2 window's 4 consecutive patches as one row, exact-GELU MLP.
template <class Executor>
tensor vision_merger(const vision_weights& w, const tensor& hidden, Executor& exec) {
    const index_t n = hidden.extent(0), unit = w.config.merge_unit(), merged = w.config.merged_hidden_size();
    auto x = vl::input<2>(hidden);                                                                  // [N, D]
    auto norm = vl::name("merger.norm.out", vl::layer_norm(x, vl::input<1>(w.merger_norm_weight), vl::input<1>(w.merger_norm_bias), 1e-6f));  // [N, D]
    auto windows = vl::reshape(norm, vl::shape_t<2>{n / unit, merged});                             // [N/4, 4D]
    auto fc1 = vl::name("merger.linear_fc1.out", vl::linear(windows, vl::input<2>(w.merger_fc1_weight), vl::input<1>(w.merger_fc1_bias)));  // [N/4, 4D]
    auto out = vl::linear(vl::gelu_erf(fc1), vl::input<2>(w.merger_fc2_weight), vl::input<1>(w.merger_fc2_bias));  // [N/4, out_hidden]
    return vl::eval(vl::name("merger.out", out), exec);                                            // [N/4, out_hidden]
}

namespace detail {
inline void check_pixels(const vision_config& c, const tensor& pixel_values, std::span<const grid_thw> grids) {
    const index_t n = vision_patch_count(grids, c);
    if (pixel_values.rank() != 2 || pixel_values.extent(0) != n || pixel_values.extent(1) != c.patch_elements())
        throw shape_error("vision: pixel_values " + to_string(pixel_values.shape()) + " must be [" + std::to_string(n) + ", " +
                          std::to_string(c.patch_elements()) + "] for these grids (Σ t·h·w patches of C·T·p·p values)");
}
}  // namespace detail

// The whole tower, evaluated eagerly. pixel_values: floating [N, C·T·p·p] on the host or in the executor's memory.
template <class Executor>
vision_output vision_tower(const vision_weights& w, const tensor& pixel_values, std::span<const grid_thw> grids, Executor& exec,
                           bool keep_hidden_states = false) {
    const vision_config& c = w.config;
    detail::check_pixels(c, pixel_values, grids);
    const vision_tables tables = make_vision_tables(grids, c);

    vision_output out;
    tensor hidden = vision_embed(w, pixel_values, tables, exec);
    if (keep_hidden_states) out.hidden_states.push_back(hidden);
    for (std::size_t j = 0; j < w.blocks.size(); ++j) {
        hidden = vision_block(w.blocks[j], c, hidden, tables, "blocks." + std::to_string(j) + ".", exec);
        if (keep_hidden_states) out.hidden_states.push_back(hidden);
    }
    out.image_embeds = vision_merger(w, hidden, exec);
    out.last_hidden_state = hidden;
    return out;
}

// The tower for one set of image grids, recorded once as a program (vlgraph/program.hpp): run() copies the
// pixel values into the program's input and replays it; the outputs (in the executor's memory) are
// rewritten by every run. The grids' tables (rotary angles, position-embedding taps, segments) are
// constants of the recording.
template <class Executor>
class vision_program {
public:
    vision_program(const vision_weights& w, std::vector<grid_thw> grids, Executor& exec) : w_(&w), grids_(std::move(grids)), exec_(&exec) {
        const vision_config& c = w.config;
        pixels_ = exec.make_tensor(dims{vision_patch_count(grids_, c), c.patch_elements()}, dtype::f32);
        program_ = vl::program<Executor>::record(exec, [&](Executor& e) { out_ = vision_tower(*w_, pixels_, grids_, e); });
    }
    const vision_output& run(const tensor& pixel_values) {
        detail::check_pixels(w_->config, pixel_values, grids_);
        vl::eval_into(vl::input<2>(pixel_values), *exec_, pixels_);
        program_.run();
        return out_;
    }

private:
    const vision_weights* w_;
    std::vector<grid_thw> grids_;
    Executor* exec_;
    tensor pixels_;
    vision_output out_;
    vl::program<Executor> program_;
};

// The whole tower. pixel_values: floating [N, C·T·p·p] on the host or in the executor's memory. Runs as a
// recorded program (vision_program), except when the hidden states are kept or the executor traces its
// nodes (a trace reads every named node as it is computed): then eagerly (vision_tower).
template <class Executor>
vision_output vision_forward(const vision_weights& w, const tensor& pixel_values, std::span<const grid_thw> grids, Executor& exec,
                             bool keep_hidden_states = false) {
    if (keep_hidden_states || exec.trace) return vision_tower(w, pixel_values, grids, exec, keep_hidden_states);
    detail::check_pixels(w.config, pixel_values, grids);
    vision_program<Executor> tower(w, std::vector<grid_thw>(grids.begin(), grids.end()), exec);
    return tower.run(pixel_values);
}

}  // namespace vl::qwen36
