// tests/cuda/test_step_counts.cu — what one decode step costs the host on executor<bf16>, at the
// Qwen3.6-27B layer widths (hidden 5120, Gated DeltaNet 16 q/k and 48 v heads of 128, attention 24 query
// and 4 key/value heads of 256, MLP 17408; layers GDN, GDN, attention; a 1024-token vocabulary) with zero
// weights. A decode step recorded once (qwen36::language_program) and replayed must do
//
//   0 allocations, 1 host synchronisation (reading the logits), 1 graph launch, 0 launches from the host,
//   and at most kernels_per_gdn_layer · 2 + kernels_per_attention_layer + kernels_for_embed_and_head
//   kernels and gemms_per_* GEMMs inside the graph;
//
// the eager step (qwen36::language_forward) is measured too, for the record (docs/benchmarks.md). Without
// a GPU this runs on the counting stand-in for the CUDA runtime (../shared/tools/cudashim, CTest
// `cuda_test_step_counts_on_cudashim`), whose own counts (vlshim_report) are checked as well: kernels do
// not execute there, so values are meaningless and only the shape of the work is tested.
// Exits with 77 (CTest: skipped) when there is neither a GPU nor the stand-in.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"
#include "shim_report.hpp"
#include "wide_model.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>
#include <vlgraph/models/qwen36/language.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::dims;
using vl::index_t;
using vl::tensor;

// The bounds of a replayed decode step (measured: see docs/benchmarks.md).
constexpr long kernels_per_gdn_layer = 14, kernels_per_attention_layer = 15, kernels_for_embed_and_head = 4;
constexpr long gemms_per_gdn_layer = 8, gemms_per_attention_layer = 7, gemms_for_head = 1;

q36::language_weights wide_model() { return vl::test::zero_weights(vl::test::wide_config()); }

using vl::test::shim_counts;
using vl::test::shim_report;

void decode_step_is_one_graph_launch() {
    const q36::language_weights w = wide_model();
    const q36::text_config& c = w.config.text;
    vl::cuda::executor<vl::bf16> gpu;
    q36::model_cache cache = q36::model_cache::empty(c, gpu);
    constexpr index_t prompt = 8, capacity = 64;
    {
        q36::language_program<vl::cuda::executor<vl::bf16>> prefill(w, cache, prompt, /*from_ids=*/false, 1, gpu, capacity);
        std::vector<std::int64_t> ids(prompt, 7);
        q36::embed_prompt_into(w, tensor::from(ids, {prompt}), {}, prefill.embeds_input(), gpu);
        (void)gpu.to_host(prefill.run_embeds(prefill.embeds_input(), q36::text_position_ids(0, prompt)));
    }

    // Before: the same step evaluated eagerly.
    (void)shim_report("setup");
    gpu.counters = {};
    const auto t0 = std::chrono::steady_clock::now();
    const tensor one = tensor::from(std::vector<std::int64_t>{5}, {1});
    (void)gpu.to_host(q36::language_forward(w, q36::embed_prompt(w, one, {}, gpu), q36::text_position_ids(cache.length, 1), cache, gpu).logits);
    const double eager_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const vl::work_counters eager = gpu.counters;
    BOOST_TEST_MESSAGE("eager decode step: launches " << eager.launches << ", syncs " << eager.syncs << ", allocations " << eager.allocations << " ("
                                                      << eager.allocated_bytes << " B), to device " << eager.bytes_to_device << " B, to host "
                                                      << eager.bytes_to_host << " B, host " << eager_ms << " ms");
    (void)shim_report("eager decode step (language_forward)");

    // After: recorded once, replayed per token.
    q36::language_program<vl::cuda::executor<vl::bf16>> decode(w, cache, 1, /*from_ids=*/true, 1, gpu, capacity);
    std::int64_t token = 9;
    (void)gpu.to_host(decode.run_ids({&token, 1}, q36::text_position_ids(cache.length, 1)));  // the first run captures the graph
    (void)shim_report("decode program: record + capture + first run");
    for (int step = 0; step < 3; ++step) {
        BOOST_TEST_CONTEXT("step " << step) {
            gpu.counters = {};
            const auto t1 = std::chrono::steady_clock::now();
            (void)gpu.to_host(decode.run_ids({&token, 1}, q36::text_position_ids(cache.length, 1)));
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
            const vl::work_counters& k = gpu.counters;
            BOOST_TEST_MESSAGE("replayed decode step: launches " << k.launches << ", graph launches " << k.graph_launches << ", syncs " << k.syncs
                                                                 << ", allocations " << k.allocations << ", to device " << k.bytes_to_device
                                                                 << " B, to host " << k.bytes_to_host << " B, host " << ms << " ms");
            BOOST_TEST(k.allocations == 0);
            BOOST_TEST(k.syncs == 1);
            BOOST_TEST(k.graph_launches == 1);
            BOOST_TEST(k.launches == 0);
            const shim_counts s = shim_report("replayed decode step");
            if (s.n.empty()) continue;  // a real GPU: the executor's counts are all there is
            BOOST_TEST(!s.problems, s.text);
            BOOST_TEST(s.n.at("cudaMalloc") == 0);
            BOOST_TEST(s.n.at("launches") == 0);
            BOOST_TEST(s.n.at("matmul") == 0);
            BOOST_TEST(s.n.at("sync stream") + s.n.at("sync device") == 1);
            BOOST_TEST(s.n.at("graph launch") == 1);
            BOOST_TEST(s.n.at("replayed kernel") <= 2 * kernels_per_gdn_layer + kernels_per_attention_layer + kernels_for_embed_and_head);
            BOOST_TEST(s.n.at("replayed gemm") <= 2 * gemms_per_gdn_layer + gemms_per_attention_layer + gemms_for_head);
        }
    }
    BOOST_TEST(cache.length == prompt + 5);
}

}  // namespace

int main(int argc, char** argv) {
    return vl::test::run_cuda_tests(argc, argv, "cuda_step_counts",
                                    [](boost::unit_test::test_suite& all) { all.add(VL_CUDA_TEST_CASE(decode_step_is_one_graph_launch)); });
}
