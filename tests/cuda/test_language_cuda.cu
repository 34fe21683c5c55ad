// tests/cuda/test_language_cuda.cu — the Qwen3.6 language model (models/qwen36/language.hpp, the same
// code as the CPU test) on the CUDA executors, with the tiny checkpoint (3 Gated DeltaNet layers, then one
// gated attention layer) and HF's goldens (tests/test_qwen36_language.cpp describes them). The two-image
// prompt takes HF's own image embeddings (the vision tower has its own CUDA test), then HF's 15 greedy
// tokens are fed back one at a time (teacher forcing), so every step is compared with HF's step logits:
//
//   * executor<float>, host weights: prefill + 15 decode steps against HF (1e-4, the issue's bound) and the
//     CPU backend (1e-4), HF's greedy tokens as the argmax of every step; the cache lives on the device
//     (conv windows in f32, recurrent states f32);
//   * executor<float>: the 181-token text prompt split 100 + 81 == one pass (1e-5), the delta-rule
//     chunked form on the GPU against its recurrent form;
//   * executor<bf16>, the bf16 checkpoint on the device: bf16 conv windows and keys/values, f32 recurrent
//     states; the same steps against the CPU's f32 evaluation of the same bf16 weights (5e-2: every
//     materialised intermediate rounds to bf16, and the tiny model's GDN gated norm amplifies such
//     differences up to ~1000×, docs/numerics.md); and vl::qwen36::generate on the GPU.
//
// Errors are max relative errors, max |got − ref| / max |ref| (vl::compare).
// Exits with 77 (CTest: skipped) when no CUDA device is present.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"
#include "language_steps.hpp"
#include "lm_goldens.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>
#include <vlgraph/compare.hpp>
#include <vlgraph/models/qwen36/generate.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vl::test {
// tests/cuda/test_language_cuda_ref.cpp: forced_steps on the CPU backend (2 threads).
tensor forced_steps_cpu(const qwen36::language_weights& w, const tensor& input_ids, const tensor& image_embeds, const qwen36::rope_index& rope,
                        std::span<const std::int64_t> forced);
}  // namespace vl::test

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;
using vl::tensor;

const std::string data_dir = VLGRAPH_TEST_DATA;
constexpr double f32_tolerance = 1e-4;
constexpr double split_tolerance = 1e-5;
constexpr double bf16_vs_cpu_tolerance = 5e-2;

const q36::language_weights& weights_f32() {
    static const q36::language_weights w = q36::language_weights::load(data_dir + "/tiny-qwen36", vl::dtype::f32);
    return w;
}

using vl::test::ints;

// The two-image prompt: ids, HF's image embeddings and positions, and HF's greedy tokens.
struct mm_prompt {
    tensor ids = vl::test::prompt_tensor("mm.input_ids");
    tensor image_embeds = vl::test::vision_tensor("ab.pooler_output").to(vl::dtype::f32);
    q36::rope_index rope{vl::test::prompt_tensor("mm.position_ids"), ints(vl::test::prompt_tensor("mm.rope_deltas"))[0]};
    std::vector<std::int64_t> generated = ints(vl::test::lm_tensor("mm.generated_ids"));  // ids < 2048: exact in f32
    std::span<const std::int64_t> forced() const { return std::span(generated).first(generated.size() - 1); }
};

double rel_error(const tensor& got, const tensor& ref, const std::string& what) {
    const vl::error_stats s = vl::compare(got, ref);
    BOOST_TEST_MESSAGE(what << ": max relative error " << s.max_rel << " (max abs " << s.max_abs << ")");
    BOOST_TEST(!s.non_finite, what << " has non-finite values");
    return s.non_finite ? INFINITY : s.max_rel;
}

std::int64_t argmax_row(const tensor& logits, index_t row) {
    const tensor r = logits.slice(0, row, row + 1).contiguous();
    const float* p = r.data<float>();
    return std::max_element(p, p + r.numel()) - p;
}

void two_image_prompt_and_decode_f32_match_hf_and_cpu() {
    const mm_prompt p;
    vl::cuda::executor<float> gpu;
    q36::model_cache cache = q36::model_cache::empty(weights_f32().config.text, gpu);
    BOOST_TEST((cache.layers[0].recurrent_state.space() == vl::memory_space::device && cache.layers[0].recurrent_state.type() == vl::dtype::f32));
    const tensor steps = vl::test::forced_steps(weights_f32(), p.ids, p.image_embeds, p.rope, p.forced(), cache, gpu);
    BOOST_TEST(cache.length == p.ids.numel() + static_cast<index_t>(p.forced().size()));
    BOOST_TEST((cache.layers[3].keys.space() == vl::memory_space::device));

    BOOST_TEST(rel_error(steps, vl::test::lm_tensor("mm.step_logits"), "HF mm.step_logits (prefill + 15 steps)") <= f32_tolerance);
    const tensor cpu = vl::test::forced_steps_cpu(weights_f32(), p.ids, p.image_embeds, p.rope, p.forced());
    BOOST_TEST(rel_error(steps, cpu, "CPU backend, same steps") <= f32_tolerance);
    for (index_t i = 0; i < steps.extent(0); ++i) BOOST_TEST(argmax_row(steps, i) == p.generated[static_cast<std::size_t>(i)], "step " << i);
}

void split_text_prompt_f32_equals_one_pass() {
    const tensor ids = vl::test::prompt_tensor("text.input_ids"), pos = vl::test::prompt_tensor("text.position_ids");
    const index_t n = ids.numel(), cut = 100;
    const q36::language_weights& w = weights_f32();
    vl::cuda::executor<float> gpu;
    q36::model_cache one = q36::model_cache::empty(w.config.text, gpu), split = q36::model_cache::empty(w.config.text, gpu);
    const tensor whole = gpu.to_host(q36::language_forward(w, q36::embed_prompt(w, ids, {}, gpu), pos, one, gpu).logits);
    (void)q36::language_forward(w, q36::embed_prompt(w, ids.slice(0, 0, cut), {}, gpu), pos.slice(1, 0, cut).contiguous(), split, gpu);
    const tensor parts = gpu.to_host(q36::language_forward(w, q36::embed_prompt(w, ids.slice(0, cut, n), {}, gpu), pos.slice(1, cut, n).contiguous(), split, gpu).logits);
    BOOST_TEST(rel_error(parts, whole, "split 100 + 81 vs one pass, last logits") <= split_tolerance);
    for (std::size_t l = 0; l < 3; ++l)
        BOOST_TEST(rel_error(gpu.to_host(split.layers[l].recurrent_state), gpu.to_host(one.layers[l].recurrent_state),
                             "layer " + std::to_string(l) + " recurrent state") <= split_tolerance);
    BOOST_TEST(rel_error(whole.slice(0, 0, 1), vl::test::lm_tensor("text.logits_tail").slice(0, 31, 32), "HF text last logits") <= 2 * f32_tolerance);
}

void bf16_checkpoint_steps_and_generate() {
    const mm_prompt p;
    const std::string dir = data_dir + "/tiny-qwen36-bf16";
    const q36::language_weights host = q36::language_weights::load(dir, vl::dtype::bf16);
    const q36::language_weights w = host.map([](const tensor& t) { return vl::cuda::to_device(t, vl::dtype::bf16); });
    vl::cuda::executor<vl::bf16> gpu;
    q36::model_cache cache = q36::model_cache::empty(w.config.text, gpu);
    BOOST_TEST((cache.layers[0].conv_state.type() == vl::dtype::bf16 && cache.layers[0].recurrent_state.type() == vl::dtype::f32));
    const tensor steps = vl::test::forced_steps(w, p.ids, p.image_embeds, p.rope, p.forced(), cache, gpu);
    BOOST_TEST((cache.layers[0].recurrent_state.type() == vl::dtype::f32 && cache.layers[3].keys.type() == vl::dtype::bf16));
    const tensor cpu = vl::test::forced_steps_cpu(q36::language_weights::load(dir, vl::dtype::f32), p.ids, p.image_embeds, p.rope, p.forced());
    BOOST_TEST(rel_error(steps, cpu, "CPU f32 with the same bf16 weights, prefill + 15 steps") <= bf16_vs_cpu_tolerance);

    q36::generate_options opt;
    opt.sampling.greedy = true;
    opt.max_new_tokens = 8;
    const q36::generation_result r = q36::generate(w, p.ids, p.image_embeds, q36::grids_from_tensor(vl::test::prompt_tensor("mm.image_grid_thw")), opt, gpu);
    BOOST_TEST(r.tokens.size() == 8u);
    BOOST_TEST(r.stats.image_tokens == p.image_embeds.extent(0));
}

}  // namespace

int main(int argc, char** argv) {
    return vl::test::run_cuda_tests(argc, argv, "cuda_language", [](boost::unit_test::test_suite& all) {
        all.add(VL_CUDA_TEST_CASE(two_image_prompt_and_decode_f32_match_hf_and_cpu));
        all.add(VL_CUDA_TEST_CASE(split_text_prompt_f32_equals_one_pass));
        all.add(VL_CUDA_TEST_CASE(bf16_checkpoint_steps_and_generate));
    });
}
