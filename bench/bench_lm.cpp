// bench/bench_lm.cpp — the Qwen3.6 language model (models/qwen36/language.hpp through generate.hpp) at the
// real Qwen3.6-27B layer widths with 4 layers (3 Gated DeltaNet + 1 gated full attention), f32, on the CPU
// backend: prefill and greedy-decode throughput. bench/run_lm.sh runs it with its PyTorch peer
// (bench/peer_lm.py: HF transformers on the same checkpoint, which peer_lm.py writes).
//
//   build/bin/bench_lm DIR THREADS [PROMPT DECODE WARMUP REPS]
//   build/bin/bench_lm write DIR LAYERS [CONFIG_JSON]      random bf16 weights at the real 27B widths (see write_mode)
//
// One run is vl::qwen36::generate, greedy, PROMPT + 1 + DECODE tokens in all: its prefill (rope index,
// embedding, one recorded prefill step over the PROMPT (default 128) prompt ids, the first argmax) and its
// decode (DECODE (default 16) replays of the recorded one-token step, each with its argmax) are timed
// separately. WARMUP (default 1) untimed runs, then the best of REPS (default 3) for each. The prompt ids are
// peer_lm.py's prompt_ids(): the same formula on both sides.
//
// Each rate is also given as a fraction of the limit measured in the same run with THREADS threads
// (machine_peak.hpp; the bandwidth before and after the timed runs, the larger):
//   decode:  tokens/s ÷ (read bandwidth ÷ bytes read per token). The bytes: every language-model tensor
//            except the embedding table (all layers, final norm, lm_head), one embedding row, and the state
//            each step reads: the GDN recurrent and conv states, the attention keys and values (at the mean
//            cache length of the decode steps).
//   prefill: FLOP/s ÷ FMA peak. The FLOPs: 2 per weight of every linear projection per prompt token (the
//            lm_head for the last token only: logits are computed for it alone), plus the causal attention
//            Q·Kᵀ and P·V, 2·2·H·hd per (query, key ≤ query) pair. Not counted: norms, the conv, the gated
//            delta rule, elementwise ops (≈ 1 % together).
#include "machine_peak.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <nlohmann/json.hpp>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

// n ids in [0, vocab − 64) — below the special tokens — from splitmix64 with state 0 (peer_lm.py: prompt_ids).
vl::tensor prompt_ids(index_t n, std::int64_t vocab) {
    std::vector<std::int64_t> ids;
    std::uint64_t s = 0;
    for (index_t i = 0; i < n; ++i) {
        std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        ids.push_back(static_cast<std::int64_t>((z ^ (z >> 31)) % static_cast<std::uint64_t>(vocab - 64)));
    }
    return vl::tensor::from(ids, {n});
}

// f(tensor, is_linear_weight) for every tensor of the language model but the embedding table.
template <class F>
void for_each_weight(const q36::language_weights& w, F&& f) {
    for (const q36::decoder_layer_weights& l : w.layers) {
        for (const vl::tensor* t : {&l.input_layernorm, &l.post_attention_layernorm}) f(*t, false);
        if (const auto* g = std::get_if<q36::delta_net_weights>(&l.mixer)) {
            for (const vl::tensor* t : {&g->in_proj_qkv, &g->in_proj_z, &g->in_proj_b, &g->in_proj_a, &g->out_proj}) f(*t, true);
            for (const vl::tensor* t : {&g->conv_weight, &g->A_log, &g->dt_bias, &g->norm}) f(*t, false);
        } else {
            const auto& a = std::get<q36::attention_weights>(l.mixer);
            for (const vl::tensor* t : {&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj}) f(*t, true);
            for (const vl::tensor* t : {&a.q_norm, &a.k_norm}) f(*t, false);
        }
        for (const vl::tensor* t : {&l.gate_proj, &l.up_proj, &l.down_proj}) f(*t, true);
    }
    f(w.norm, false);
    f(w.lm_head, true);
}

struct work_count {
    double decode_bytes = 0;  // read per decode token
    double prefill_flops = 0;
};

work_count count_work(const q36::language_weights& w, index_t prompt, index_t decode) {
    const q36::text_config& c = w.config.text;
    const auto f = [](auto v) { return static_cast<double>(v); };
    work_count n;
    double linear = 0;
    for_each_weight(w, [&](const vl::tensor& t, bool is_linear) {
        n.decode_bytes += f(t.nbytes());
        if (is_linear) linear += f(t.numel());
    });
    n.decode_bytes += f(c.hidden_size) * f(vl::size_of(w.embed_tokens.type()));
    const double state = f(c.linear_num_value_heads * c.linear_key_head_dim * c.linear_value_head_dim + (q36::conv_kernel_size - 1) * c.linear_conv_dim());
    const double mean_keys = f(prompt) + f(decode + 1) / 2;  // step i (1..DECODE) attends to PROMPT + i positions
    n.decode_bytes += 4 * (f(c.num_linear_attention_layers()) * state + f(c.num_full_attention_layers()) * 2 * mean_keys * f(c.kv_proj_out()));

    const double lm_head = f(w.lm_head.numel());
    const double causal_pairs = f(prompt) * f(prompt + 1) / 2;
    n.prefill_flops = 2 * f(prompt) * (linear - lm_head) + 2 * lm_head +
                      f(c.num_full_attention_layers()) * 2 * 2 * f(c.num_attention_heads * c.head_dim) * causal_pairs;
    return n;
}

// Random bf16 language-model weights at the widths of `config` (the real Qwen3.6-27B config.json,
// bench/data/qwen3.6-27b-config.json) with its first `layers` layers, written as a sharded checkpoint (one
// shard per layer, one for the embedding, final norm and lm_head) so that no more than a layer is in memory:
// the memory-bounded benchmark's checkpoint, larger than this machine's RAM once converted to f32. Values:
// matrices and the embedding U(±0.02·√3) (the std of HF's N(0, 0.02) init; uniform because it is cheap),
// the (1 + w) norms 0, the gated GDN norm 1, A_log = log U(1, 16), dt_bias 1, the conv U(±0.5) (1/√fan_in):
// activations stay finite through the layers. Seeded by the tensor name.
int write_mode(const std::filesystem::path& dir, index_t layers, const std::filesystem::path& config_path) {
    nlohmann::json cfg = vl::parse_json(vl::read_file_capped(config_path, 1 << 20, "config"), config_path.string());
    auto& text = cfg.at("text_config");
    auto types = text.at("layer_types");
    if (layers < 1 || layers > static_cast<index_t>(types.size())) throw vl::error("LAYERS must be in 1.." + std::to_string(types.size()));
    types.erase(types.begin() + layers, types.end());
    text["layer_types"] = types;
    text["num_hidden_layers"] = layers;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "config.json") << cfg.dump(2) << "\n";
    const q36::model_config config = q36::load_config(dir);

    std::map<std::string, std::vector<q36::expected_tensor>> shards;  // file name -> its tensors
    for (q36::expected_tensor& t : q36::expected_tensors(config, q36::part::language)) {
        const std::string prefix = "model.language_model.layers.";
        std::string file = "model-embed-head.safetensors";
        if (t.name.starts_with(prefix)) {
            const std::string layer = t.name.substr(prefix.size(), t.name.find('.', prefix.size()) - prefix.size());
            file = "model-layer-" + std::string(3 - std::min<std::size_t>(3, layer.size()), '0') + layer + ".safetensors";
        }
        shards[file].push_back(std::move(t));
    }
    nlohmann::json weight_map = nlohmann::json::object();
    double total_bytes = 0;
    for (const auto& [file, list] : shards) {
        std::vector<std::pair<std::string, vl::tensor>> tensors;
        for (const q36::expected_tensor& e : list) {
            vl::tensor t = vl::tensor::empty(vl::dims(e.shape.begin(), e.shape.end()), vl::dtype::bf16);
            const auto n = static_cast<std::size_t>(t.numel());
            vl::bf16* p = t.data<vl::bf16>();
            std::uint64_t state = std::hash<std::string>{}(e.name);
            const auto uniform = [&state] {  // splitmix64 -> [0, 1)
                std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
                z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
                z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
                return static_cast<float>((z ^ (z >> 31)) >> 40) * 0x1p-24f;
            };
            const bool norm = e.name.ends_with("layernorm.weight") || e.name.ends_with("q_norm.weight") || e.name.ends_with("k_norm.weight") ||
                              e.name == "model.language_model.norm.weight";
            for (std::size_t i = 0; i < n; ++i) {
                float v = (2.0f * uniform() - 1.0f) * 0.0346410f;  // 0.02 * sqrt(3)
                if (norm) v = 0.0f;
                else if (e.name.ends_with("linear_attn.norm.weight") || e.name.ends_with("dt_bias")) v = 1.0f;
                else if (e.name.ends_with("A_log")) v = std::log(1.0f + 15.0f * uniform());
                else if (e.name.ends_with("conv1d.weight")) v = (2.0f * uniform() - 1.0f) * 0.5f;
                p[i] = vl::bf16::from_float(v);
            }
            total_bytes += static_cast<double>(t.nbytes());
            weight_map[e.name] = file;
            tensors.emplace_back(e.name, std::move(t));
        }
        vl::save_safetensors(dir / file, tensors, {{"format", "pt"}});
        std::printf("  %s: %zu tensors\n", file.c_str(), tensors.size());
        std::fflush(stdout);
    }
    nlohmann::json index = {{"metadata", {{"total_size", static_cast<std::uint64_t>(total_bytes)}}}, {"weight_map", weight_map}};
    std::ofstream(dir / "model.safetensors.index.json") << index.dump(2) << "\n";
    std::printf("wrote %s: %lld layers, %.2f GB of bf16 weights (%.2f GB as f32)\n", dir.string().c_str(), static_cast<long long>(layers), total_bytes * 1e-9,
                2 * total_bytes * 1e-9);
    return 0;
}

// Peak resident set of this process so far (mapped checkpoint pages included), GB.
double peak_rss_gb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) * 1024 * 1e-9;
}

int run(const std::filesystem::path& dir, int threads, index_t prompt, index_t decode, int warmup, int reps) {
    auto t0 = std::chrono::steady_clock::now();
    // as the CLI reads them: bf16 matrices straight from the mmap (f32 arithmetic), f32 ones as f32
    const q36::language_weights w = q36::language_weights::load(dir, vl::dtype::f32, q36::matrix_storage::as_stored);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const work_count work = count_work(w, prompt, decode);
    double loaded_bytes = static_cast<double>(w.embed_tokens.nbytes()), f32_bytes = 4.0 * static_cast<double>(w.embed_tokens.numel());
    for_each_weight(w, [&](const vl::tensor& t, bool) {
        loaded_bytes += static_cast<double>(t.nbytes());
        f32_bytes += 4.0 * static_cast<double>(t.numel());
    });
    const double peak = vl::bench::checked_fma_peak(threads), bandwidth_before = vl::bench::read_bandwidth_gbs(threads);
    std::printf("vlgraph CPU, threads %d: loaded in %.1f s; measured FMA peak %.1f GFLOP/s, read bandwidth %.1f GB/s\n", threads, load_s, peak,
                bandwidth_before);
    std::fflush(stdout);

    const vl::tensor ids = prompt_ids(prompt, w.config.text.vocab_size);
    q36::generate_options opt;
    opt.max_new_tokens = decode + 1;  // the prefill's token, then one per decode step
    vl::cpu::executor exec{threads};
    double prefill_s = 1e30, decode_s = 1e30;
    std::vector<std::int32_t> tokens;
    for (int rep = 1 - warmup; rep <= reps; ++rep) {  // rep <= 0: warm-up
        const q36::generation_result r = q36::generate(w, ids, {}, {}, opt, exec);
        std::printf("  rep %d: prefill %.3f s, decode %.3f s (%lld steps)\n", rep, r.stats.prefill_s, r.stats.decode_s, static_cast<long long>(decode));
        std::fflush(stdout);
        if (rep > 0) {
            prefill_s = std::min(prefill_s, r.stats.prefill_s);
            decode_s = std::min(decode_s, r.stats.decode_s);
        }
        tokens = r.tokens;
    }

    // Measured again: on a shared machine one measurement can catch other work's memory traffic.
    const double bandwidth_after = vl::bench::read_bandwidth_gbs(threads), bandwidth = std::max(bandwidth_before, bandwidth_after);
    std::printf("read bandwidth after the runs %.1f GB/s; the limit uses the larger\n", bandwidth_after);
    const double decode_tok_s = static_cast<double>(decode) / decode_s, limit_tok_s = bandwidth * 1e9 / work.decode_bytes;
    const double gflops = work.prefill_flops / prefill_s * 1e-9;
    std::printf("RESULT impl=vlgraph threads=%d prompt=%lld decode=%lld prefill_s=%.4f prefill_tok_s=%.2f decode_s=%.4f decode_tok_s=%.3f "
                "prefill_gflop=%.1f prefill_gflops=%.1f fma_peak=%.1f prefill_frac=%.3f decode_gb_per_tok=%.4f read_gbs=%.1f limit_tok_s=%.3f "
                "decode_frac=%.3f weights_gb=%.2f weights_f32_gb=%.2f peak_rss_gb=%.2f\n",
                threads, static_cast<long long>(prompt), static_cast<long long>(decode), prefill_s, static_cast<double>(prompt) / prefill_s, decode_s,
                decode_tok_s, work.prefill_flops * 1e-9, gflops, peak, gflops / peak, work.decode_bytes * 1e-9, bandwidth, limit_tok_s,
                decode_tok_s / limit_tok_s, loaded_bytes * 1e-9, f32_bytes * 1e-9, peak_rss_gb());
    std::printf("TOKENS");
    for (const std::int32_t t : tokens) std::printf(" %d", t);
    std::printf("\n");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        if (argc >= 4 && argc <= 5 && std::string(argv[1]) == "write")
            return write_mode(argv[2], std::atoll(argv[3]), argc == 5 ? argv[4] : "bench/data/qwen3.6-27b-config.json");
        if (argc < 3 || argc > 7) {
            std::fprintf(stderr, "usage: bench_lm DIR THREADS [PROMPT DECODE WARMUP REPS] | bench_lm write DIR LAYERS [CONFIG_JSON]\n");
            return 2;
        }
        const int threads = std::atoi(argv[2]);
        const index_t prompt = argc > 3 ? std::atoll(argv[3]) : 128, decode = argc > 4 ? std::atoll(argv[4]) : 16;
        const int warmup = argc > 5 ? std::atoi(argv[5]) : 1, reps = argc > 6 ? std::atoi(argv[6]) : 3;
        if (threads < 1 || prompt < 1 || decode < 1 || warmup < 0 || reps < 1) throw vl::error("THREADS, PROMPT, DECODE and REPS must be >= 1, WARMUP >= 0");
        return run(argv[1], threads, prompt, decode, warmup, reps);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_lm: %s\n", e.what());
        return 1;
    }
}
