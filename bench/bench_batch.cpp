// bench/bench_batch.cpp — the decode step of continuous batching (qwen36::language_program over B caches:
// one position of each of B sequences, what `vlgraph serve` runs per step) at the Qwen3.6-27B layer widths
// with 4 layers (3 Gated DeltaNet + 1 gated full attention; bench_lm's shapes), random bf16 weights read as
// stored, on the CPU backend: aggregate decode tokens/s at batch 1, 2, 4, 8.
//
//   build/bin/bench_batch DIR THREADS [PROMPT DECODE REPS BATCH...]      (defaults 128 16 3, batches 1 2 4 8)
//
// DIR/model.safetensors is written when absent (≈ 3.1 GB of bf16: weights uniform in ±0.02, the scale of
// HF's initializer_range, so activations stay finite through the layers; norms zero = weight 1 for the 1+w
// norms; A_log in [0, 2]). For each batch size B: B sequences of PROMPT different ids prefilled, then one
// warm-up step and REPS × DECODE replays of the recorded batch step (each followed by the greedy argmax of
// every row, as the server samples); the best rep's step time gives the rate.
//
// Decode reads every weight once per step whatever B (the projections are GEMMs over B rows), plus each
// sequence's states and keys: the limit is tokens/s ≤ B · bandwidth ÷ (weight bytes + B · state bytes),
// bandwidth measured in the same run (machine_peak.hpp). The fraction of that limit is printed, and whether
// sequence 0's greedy tokens are the same at every B (the batch does not change a sequence's bits).
#include "machine_peak.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

q36::model_config bench_config() {
    q36::model_config cfg;
    q36::text_config& t = cfg.text;
    t.vocab_size = 8192, t.hidden_size = 5120, t.intermediate_size = 17408, t.num_hidden_layers = 4;
    t.layer_types = {q36::layer_type::linear_attention, q36::layer_type::linear_attention, q36::layer_type::linear_attention, q36::layer_type::full_attention};
    t.num_attention_heads = 24, t.num_key_value_heads = 4, t.head_dim = 256, t.max_position_embeddings = 262144;
    t.linear_key_head_dim = 128, t.linear_value_head_dim = 128, t.linear_num_key_heads = 16, t.linear_num_value_heads = 48;
    t.rope.theta = 1e7, t.rope.partial_rotary_factor = 0.25, t.rope.mrope_section = {11, 11, 10};
    cfg.vision.out_hidden_size = t.hidden_size;
    return cfg;
}

std::uint64_t splitmix(std::uint64_t& s) {
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void write_checkpoint(const std::filesystem::path& dir, const q36::model_config& cfg) {
    std::filesystem::create_directories(dir);
    std::uint64_t state = 20250512;
    std::vector<std::pair<std::string, vl::tensor>> tensors;
    for (const auto& e : q36::expected_tensors(cfg, q36::part::language)) {
        vl::tensor t = vl::tensor::empty(vl::dims(e.shape.begin(), e.shape.end()), vl::dtype::bf16);
        const bool norm = e.name.ends_with("norm.weight") && !e.name.ends_with("linear_attn.norm.weight"), a_log = e.name.ends_with("A_log");
        auto* p = t.data<vl::bf16>();
        for (index_t i = 0; i < t.numel(); ++i) {
            const double u = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53;  // [0, 1)
            p[i] = vl::bf16::from_float(norm ? 0.0f : a_log ? static_cast<float>(2 * u) : static_cast<float>(0.04 * u - 0.02));
        }
        tensors.emplace_back(e.name, std::move(t));
    }
    vl::save_safetensors(dir / "model.safetensors", tensors);
}

std::vector<std::int64_t> ids_of(index_t n, std::uint64_t seed, std::int64_t vocab) {
    std::vector<std::int64_t> ids;
    for (index_t i = 0; i < n; ++i) ids.push_back(static_cast<std::int64_t>(splitmix(seed) % static_cast<std::uint64_t>(vocab - 64)));
    return ids;
}

std::int32_t argmax_row(const vl::tensor& logits, index_t row) {
    const index_t v = logits.extent(1);
    const float* p = logits.data<float>() + row * v;
    return static_cast<std::int32_t>(std::max_element(p, p + v) - p);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s DIR THREADS [PROMPT DECODE REPS BATCH...]\n", argv[0]);
        return 2;
    }
    try {
        const std::filesystem::path dir = argv[1];
        const int threads = std::atoi(argv[2]);
        const index_t prompt = argc > 3 ? std::atoll(argv[3]) : 128, decode = argc > 4 ? std::atoll(argv[4]) : 16;
        const int reps = argc > 5 ? std::atoi(argv[5]) : 3;
        std::vector<index_t> batches;
        for (int i = 6; i < argc; ++i) batches.push_back(std::atoll(argv[i]));
        if (batches.empty()) batches = {1, 2, 4, 8};
        const q36::model_config cfg = bench_config();
        if (!std::filesystem::exists(dir / "model.safetensors")) {
            std::printf("writing %s/model.safetensors (random bf16) ...\n", dir.c_str());
            std::fflush(stdout);
            write_checkpoint(dir, cfg);
        }
        const q36::language_weights w = q36::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::f32, q36::matrix_storage::as_stored);
        double weight_bytes = 0;
        w.map([&](const vl::tensor& t) {
            weight_bytes += static_cast<double>(t.nbytes());
            return t;
        });
        weight_bytes -= static_cast<double>(w.embed_tokens.nbytes());  // one row per token is read, not the table
        const q36::text_config& c = cfg.text;
        const double state_bytes = 4.0 * static_cast<double>(c.num_linear_attention_layers()) *
                                       static_cast<double>(c.linear_num_value_heads * c.linear_key_head_dim * c.linear_value_head_dim +
                                                           (q36::conv_kernel_size - 1) * c.linear_conv_dim()) +
                                   4.0 * static_cast<double>(c.num_full_attention_layers()) * 2 * static_cast<double>(prompt + decode * reps) *
                                       static_cast<double>(c.kv_proj_out());
        const double bandwidth_before = vl::bench::read_bandwidth_gbs(threads);
        std::printf("vlgraph CPU, threads %d, weights %.2f GB as stored (bf16), read bandwidth %.1f GB/s\n", threads, weight_bytes / 1e9, bandwidth_before);

        vl::cpu::executor exec{threads};
        struct row {
            index_t batch;
            double step_s;
            std::vector<std::int32_t> first_tokens;
        };
        std::vector<row> rows;
        for (const index_t b : batches) {
            std::vector<q36::model_cache> caches;
            caches.reserve(static_cast<std::size_t>(b));  // the programs hold pointers to them
            std::vector<std::int64_t> next;
            for (index_t s = 0; s < b; ++s) {
                caches.push_back(q36::model_cache::empty(c, exec));
                const std::vector<std::int64_t> ids = ids_of(prompt, 1000 + static_cast<std::uint64_t>(s), c.vocab_size);
                q36::language_program<vl::cpu::executor> prefill(w, caches.back(), prompt, /*from_ids=*/false, 1, exec, prompt + decode * reps + 2);
                q36::embed_prompt_into(w, vl::tensor::from(ids, {prompt}), {}, prefill.embeds_input(), exec);
                next.push_back(argmax_row(prefill.run_embeds(prefill.embeds_input(), q36::text_position_ids(0, prompt)), 0));
            }
            std::vector<q36::model_cache*> ptrs;
            for (auto& cache : caches) ptrs.push_back(&cache);
            q36::language_program<vl::cpu::executor> step(w, ptrs, exec);
            row r{b, 1e30, {static_cast<std::int32_t>(next[0])}};
            const auto run_step = [&] {
                vl::tensor positions = vl::tensor::empty({3, b}, vl::dtype::i64);
                for (index_t s = 0; s < b; ++s)
                    for (index_t axis = 0; axis < 3; ++axis) positions.data<std::int64_t>()[axis * b + s] = caches[static_cast<std::size_t>(s)].length;
                const vl::tensor& logits = step.run_ids(next, positions);
                for (index_t s = 0; s < b; ++s) next[static_cast<std::size_t>(s)] = argmax_row(logits, s);
                r.first_tokens.push_back(static_cast<std::int32_t>(next[0]));
            };
            run_step();  // warm-up
            for (int rep = 0; rep < reps; ++rep) {
                const auto t0 = std::chrono::steady_clock::now();
                for (index_t i = 0; i < decode; ++i) run_step();
                r.step_s = std::min(r.step_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / static_cast<double>(decode));
            }
            std::printf("  batch %lld: %.1f ms per step, %.2f tok/s\n", static_cast<long long>(b), 1e3 * r.step_s, static_cast<double>(b) / r.step_s);
            std::fflush(stdout);
            rows.push_back(std::move(r));
        }
        const double bandwidth = std::max(bandwidth_before, vl::bench::read_bandwidth_gbs(threads));
        std::printf("\n| batch | ms / step | step ÷ batch-1 step | aggregate tok/s | limit tok/s | of limit | sequence 0's tokens as at batch 1 |\n|---|---|---|---|---|---|---|\n");
        for (const row& r : rows) {
            const double limit = static_cast<double>(r.batch) * bandwidth * 1e9 / (weight_bytes + static_cast<double>(r.batch) * state_bytes);
            const double tps = static_cast<double>(r.batch) / r.step_s;
            std::printf("| %lld | %.1f | %.2f | %.2f | %.2f | %.0f %% | %s |\n", static_cast<long long>(r.batch), 1e3 * r.step_s, r.step_s / rows.front().step_s, tps,
                        limit, 100 * tps / limit, r.first_tokens == rows.front().first_tokens ? "yes" : "NO");
        }
        std::printf("(threads %d; read bandwidth %.1f GB/s, the larger of before and after; prompt %lld, %lld steps × %d reps)\n", threads, bandwidth,
                    static_cast<long long>(prompt), static_cast<long long>(decode), reps);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_batch: %s\n", e.what());
        return 1;
    }
}
