// bench/bench_vision.cpp — the Qwen3.6 vision tower (models/qwen36/vision.hpp) at the real
// Qwen3.6-27B vision dims, random weights, on the CPU backend. bench/run_vision.sh runs it together
// with its PyTorch peer (bench/peer_vision.py: HF transformers' Qwen3_5VisionModel on the same weights).
//
//   build/bin/bench_vision write DIR              random weights -> DIR/config.json + DIR/model.safetensors,
//                                                 and DIR/check.safetensors: a small input (64×64 image) with
//                                                 our outputs, for the peer to prove it runs the same weights
//   build/bin/bench_vision time DIR THREADS [WARMUP REPS [SIZES...]]
//                                                 loads DIR, measures the FMA peak with THREADS threads, and
//                                                 times the tower on SIZE×SIZE images (default 448 1024):
//                                                 WARMUP untimed runs (default 1), then best of REPS (default 3)
//
// Dims (Qwen3.6-27B vision_config): depth 27, hidden 1152, 16 heads, MLP 4304, patch 16, temporal 2,
// merge 2, 2304 position embeddings, out_hidden 5120. The weights are deterministic (splitmix64 of a
// per-tensor seed), uniform with std 1/sqrt(fan_in) for the linears so activations stay O(1).
//
// FLOPs are counted analytically (a multiply-add = 2 FLOPs), see tower_flops().
#include "machine_peak.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

// Qwen3.6-27B's vision_config (and text hidden_size, which out_hidden_size must equal).
q36::vision_config real_dims() {
    q36::vision_config c;
    c.depth = 27;
    c.hidden_size = 1152;
    c.intermediate_size = 4304;
    c.num_heads = 16;
    c.in_channels = 3;
    c.patch_size = 16;
    c.temporal_patch_size = 2;
    c.spatial_merge_size = 2;
    c.num_position_embeddings = 2304;
    c.out_hidden_size = 5120;
    return c;
}

std::uint64_t splitmix64(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Uniform in [offset − a, offset + a] with a = std·√3.
vl::tensor random_tensor(std::vector<index_t> shape, std::uint64_t seed, double stddev, double offset = 0.0) {
    vl::tensor t = vl::tensor::empty(vl::dims(shape.begin(), shape.end()), vl::dtype::f32);
    float* p = t.data<float>();
    const double a = stddev * std::sqrt(3.0);
    std::uint64_t s = seed * 0x2545f4914f6cdd1dULL + 1;
    for (index_t i = 0; i < t.numel(); ++i) {
        const double u = static_cast<double>(splitmix64(s) >> 11) * 0x1.0p-53;  // [0, 1)
        p[i] = static_cast<float>(offset + a * (2.0 * u - 1.0));
    }
    return t;
}

// config.json of a qwen3_5 checkpoint whose vision_config is `c`; the text config is a small valid one
// except hidden_size, which must equal out_hidden_size (config.hpp checks it). Only model.visual.* is read.
std::string config_json(const q36::vision_config& c) {
    char buf[4096];
    std::snprintf(buf, sizeof buf, R"({
  "architectures": ["Qwen3_5ForConditionalGeneration"],
  "model_type": "qwen3_5",
  "dtype": "float32",
  "image_token_id": 2027,
  "video_token_id": 2028,
  "vision_start_token_id": 2024,
  "vision_end_token_id": 2025,
  "eos_token_id": 2017,
  "pad_token_id": 2015,
  "tie_word_embeddings": false,
  "text_config": {
    "model_type": "qwen3_5_text",
    "vocab_size": 2048,
    "hidden_size": %lld,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
    "layer_types": ["linear_attention", "linear_attention", "linear_attention", "full_attention"],
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "hidden_act": "silu",
    "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 16,
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 6,
    "linear_value_head_dim": 24,
    "rms_norm_eps": 1e-06,
    "rope_parameters": {"mrope_interleaved": true, "mrope_section": [3, 3, 2], "partial_rotary_factor": 0.25,
                        "rope_theta": 10000000.0, "rope_type": "default"}
  },
  "vision_config": {
    "model_type": "qwen3_5_vision",
    "depth": %lld,
    "hidden_size": %lld,
    "intermediate_size": %lld,
    "num_heads": %lld,
    "in_channels": %lld,
    "patch_size": %lld,
    "temporal_patch_size": %lld,
    "spatial_merge_size": %lld,
    "num_position_embeddings": %lld,
    "out_hidden_size": %lld,
    "hidden_act": "gelu_pytorch_tanh",
    "initializer_range": 0.02,
    "rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"}
  }
}
)",
                  static_cast<long long>(c.out_hidden_size), static_cast<long long>(c.depth), static_cast<long long>(c.hidden_size),
                  static_cast<long long>(c.intermediate_size), static_cast<long long>(c.num_heads), static_cast<long long>(c.in_channels),
                  static_cast<long long>(c.patch_size), static_cast<long long>(c.temporal_patch_size), static_cast<long long>(c.spatial_merge_size),
                  static_cast<long long>(c.num_position_embeddings), static_cast<long long>(c.out_hidden_size));
    return buf;
}

// The model.visual.* tensors in HF's names and shapes.
std::vector<std::pair<std::string, vl::tensor>> random_weights(const q36::vision_config& c) {
    const index_t d = c.hidden_size, in = c.intermediate_size, pe = c.patch_elements(), m = c.merged_hidden_size();
    std::vector<std::pair<std::string, vl::tensor>> w;
    std::uint64_t seed = 1;
    const auto add = [&](const std::string& name, std::vector<index_t> shape, double stddev, double offset = 0.0) {
        w.emplace_back("model.visual." + name, random_tensor(std::move(shape), seed++, stddev, offset));
    };
    const auto inv = [](index_t fan_in) { return 1.0 / std::sqrt(static_cast<double>(fan_in)); };
    add("patch_embed.proj.weight", {d, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}, inv(pe));
    add("patch_embed.proj.bias", {d}, 0.02);
    add("pos_embed.weight", {c.num_position_embeddings, d}, 0.5);
    for (index_t j = 0; j < c.depth; ++j) {
        const std::string b = "blocks." + std::to_string(j) + ".";
        add(b + "norm1.weight", {d}, 0.1, 1.0);
        add(b + "norm1.bias", {d}, 0.02);
        add(b + "attn.qkv.weight", {3 * d, d}, inv(d));
        add(b + "attn.qkv.bias", {3 * d}, 0.02);
        add(b + "attn.proj.weight", {d, d}, inv(d));
        add(b + "attn.proj.bias", {d}, 0.02);
        add(b + "norm2.weight", {d}, 0.1, 1.0);
        add(b + "norm2.bias", {d}, 0.02);
        add(b + "mlp.linear_fc1.weight", {in, d}, inv(d));
        add(b + "mlp.linear_fc1.bias", {in}, 0.02);
        add(b + "mlp.linear_fc2.weight", {d, in}, inv(in));
        add(b + "mlp.linear_fc2.bias", {d}, 0.02);
    }
    add("merger.norm.weight", {d}, 0.1, 1.0);
    add("merger.norm.bias", {d}, 0.02);
    add("merger.linear_fc1.weight", {m, m}, inv(m));
    add("merger.linear_fc1.bias", {m}, 0.02);
    add("merger.linear_fc2.weight", {c.out_hidden_size, m}, inv(m));
    add("merger.linear_fc2.bias", {c.out_hidden_size}, 0.02);
    return w;
}

// One still image of side×side pixels: grid (1, side/p, side/p), pixel values uniform in [−1, 1].
struct image_input {
    vl::tensor pixel_values;
    std::vector<q36::grid_thw> grids;
};
image_input random_image(const q36::vision_config& c, index_t side, std::uint64_t seed) {
    const index_t g = side / c.patch_size;
    return {random_tensor({g * g, c.patch_elements()}, seed, 1.0 / std::sqrt(3.0)), {{1, g, g}}};
}

// Analytic FLOPs of the tower (2 per multiply-add): GEMMs, and attention's Q·Kᵀ and P·V per segment.
struct flop_count {
    double patch_embed = 0, block_gemms = 0, attention = 0, merger = 0;
    double total() const { return patch_embed + block_gemms + attention + merger; }
};
flop_count tower_flops(const q36::vision_config& c, std::span<const q36::grid_thw> grids) {
    const auto d = static_cast<double>(c.hidden_size), in = static_cast<double>(c.intermediate_size);
    const double n = static_cast<double>(q36::vision_patch_count(grids, c));
    flop_count f;
    f.patch_embed = 2 * n * static_cast<double>(c.patch_elements()) * d;
    f.block_gemms = static_cast<double>(c.depth) * 2 * n * (3 * d * d + d * d + d * in + in * d);  // qkv, proj, fc1, fc2
    const std::vector<index_t> cu = q36::vision_cu_seqlens(grids);
    double s2 = 0;
    for (std::size_t s = 0; s + 1 < cu.size(); ++s) s2 += static_cast<double>(cu[s + 1] - cu[s]) * static_cast<double>(cu[s + 1] - cu[s]);
    f.attention = static_cast<double>(c.depth) * 2 * (2 * s2 * d);  // QKᵀ and PV: S² · hd · heads multiply-adds each
    const double tokens = n / static_cast<double>(c.merge_unit()), m = static_cast<double>(c.merged_hidden_size());
    f.merger = 2 * tokens * m * m + 2 * tokens * m * static_cast<double>(c.out_hidden_size);
    return f;
}

int write_mode(const std::filesystem::path& dir) {
    const q36::vision_config c = real_dims();
    std::filesystem::create_directories(dir);
    const auto t0 = std::chrono::steady_clock::now();
    {
        std::ofstream(dir / "config.json") << config_json(c);
        auto w = random_weights(c);
        vl::save_safetensors(dir / "model.safetensors", w, {{"format", "pt"}});
    }
    std::printf("wrote %s (%.1f s)\n", dir.c_str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

    // Check input: a 64×64 image (grid 1×4×4, 16 patches) plus a 32×64 one: two segments in one call.
    const q36::vision_weights w = q36::vision_weights::load(dir, vl::dtype::f32);
    const index_t pe = c.patch_elements();
    std::vector<q36::grid_thw> grids = {{1, 4, 4}, {1, 2, 4}};
    const vl::tensor px = random_tensor({24, pe}, 999, 1.0 / std::sqrt(3.0));
    vl::cpu::executor cpu{1};
    const q36::vision_output out = q36::vision_forward(w, px, grids, cpu);
    const vl::tensor thw = vl::tensor::from(std::vector<std::int64_t>{1, 4, 4, 1, 2, 4}, {2, 3});
    vl::save_safetensors(dir / "check.safetensors",
                         {{"pixel_values", px}, {"image_grid_thw", thw}, {"image_embeds", out.image_embeds}, {"last_hidden_state", out.last_hidden_state}});
    std::printf("check input: %lld patches, image_embeds [%lld, %lld]\n", static_cast<long long>(px.extent(0)),
                static_cast<long long>(out.image_embeds.extent(0)), static_cast<long long>(out.image_embeds.extent(1)));
    return 0;
}

int time_mode(const std::filesystem::path& dir, int threads, int warmup, int reps, std::vector<index_t> sides) {
    const q36::vision_weights w = q36::vision_weights::load(dir, vl::dtype::f32);
    const q36::vision_config& c = w.config;
    const double peak = vl::bench::checked_fma_peak(threads);
    std::printf("vlgraph CPU, threads %d: measured FMA peak %.1f GFLOP/s\n", threads, peak);
    vl::cpu::executor exec{threads};
    for (const index_t side : sides) {
        const image_input img = random_image(c, side, static_cast<std::uint64_t>(side));
        const flop_count f = tower_flops(c, img.grids);
        std::vector<double> times;
        for (int rep = 1 - warmup; rep <= reps; ++rep) {  // rep <= 0: warm-up
            const auto t0 = std::chrono::steady_clock::now();
            const q36::vision_output out = q36::vision_forward(w, img.pixel_values, img.grids, exec);
            const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (rep > 0) times.push_back(s);
            if (!std::isfinite(out.image_embeds.data<float>()[0])) std::puts("non-finite output!");
            std::printf("  %lldx%lld rep %d: %.3f s\n", static_cast<long long>(side), static_cast<long long>(side), rep, s);
            std::fflush(stdout);
        }
        const double best = *std::min_element(times.begin(), times.end());
        const double g = f.total() / best * 1e-9;
        std::printf("RESULT impl=vlgraph threads=%d image=%lldx%lld patches=%lld tokens=%lld best_s=%.4f gflop=%.1f gflops=%.1f peak=%.1f frac=%.3f "
                    "(gflop: patch %.1f, block gemms %.1f, attention %.1f, merger %.1f)\n",
                    threads, static_cast<long long>(side), static_cast<long long>(side), static_cast<long long>(img.pixel_values.extent(0)),
                    static_cast<long long>(img.pixel_values.extent(0) / c.merge_unit()), best, f.total() * 1e-9, g, peak, g / peak,
                    f.patch_embed * 1e-9, f.block_gemms * 1e-9, f.attention * 1e-9, f.merger * 1e-9);
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string mode = argc > 1 ? argv[1] : "";
        if (mode == "write" && argc == 3) return write_mode(argv[2]);
        if (mode == "time" && argc >= 4) {
            const int threads = std::atoi(argv[3]);
            const int warmup = argc > 4 ? std::atoi(argv[4]) : 1;
            const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
            if (warmup < 0 || reps < 1) throw vl::error("WARMUP must be >= 0 and REPS >= 1");
            std::vector<index_t> sides;
            for (int i = 6; i < argc; ++i) sides.push_back(std::atoll(argv[i]));
            if (sides.empty()) sides = {448, 1024};
            return time_mode(argv[2], threads, warmup, reps, sides);
        }
        std::fprintf(stderr, "usage: bench_vision write DIR | bench_vision time DIR THREADS [WARMUP REPS [SIZES...]]\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_vision: %s\n", e.what());
        return 1;
    }
}
