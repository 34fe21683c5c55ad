// tests/cuda/test_vision_cuda.cu — the Qwen3.6 vision tower (models/qwen36/vision.hpp,
// the same code as the CPU test) on the CUDA executors, with the tiny checkpoint and
// HF's own pixel values (tests/test_qwen36_vision.cpp describes the goldens):
//
//   * executor<float>, images a + b in one call (two attention segments), host
//     weights: every named intermediate against HF node by node, hidden_states,
//     last_hidden_state and pooler_output within 1e-4 (the spec's f32 bound), and
//     every traced node against the CPU backend within 1e-5;
//   * executor<float>, image c (non-square grid) alone, weights on the device;
//   * executor<bf16>, the bf16 checkpoint on the device: every intermediate is
//     stored in bf16 (relative rounding 2^-9 per materialisation), so the outputs
//     are compared with the CPU's f32 evaluation of the same bf16 weights (3e-2)
//     and with HF's f32 goldens (5e-2; the bf16 weights alone account for up to
//     2e-2 on the CPU).
//
// Errors are max relative errors, max |got − ref| / max |ref| (vl::compare).
// Exits with 77 (CTest: skipped) when no CUDA device is present.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

namespace vl::test {
// tests/cuda/test_vision_cuda_ref.cpp: the tower on the CPU backend (2 threads).
qwen36::vision_output vision_cpu(const qwen36::vision_weights& w, const tensor& pixel_values, std::span<const qwen36::grid_thw> grids, const trace_fn& trace);
}  // namespace vl::test

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;
using vl::tensor;

const std::string data_dir = VLGRAPH_TEST_DATA;
constexpr double f32_tolerance = 1e-4;       // against HF, as the CPU test
constexpr double f32_vs_cpu_tolerance = 1e-5;  // against the CPU backend: f32 GEMMs and reductions in another order
constexpr double bf16_vs_cpu_tolerance = 3e-2;
constexpr double bf16_vs_hf_tolerance = 5e-2;

using vl::test::hf_pixels;
using vl::test::images_ab;
using pixels = vl::test::hf_pixels_t;
tensor golden(const std::string& name) { return vl::test::vision_tensor(name); }

const q36::vision_weights& weights_f32() {
    static const q36::vision_weights w = q36::vision_weights::load(data_dir + "/tiny-qwen36", vl::dtype::f32);
    return w;
}

// Every weight uploaded once as `t` (device tensors of the executor's dtype are used in place).
q36::vision_weights on_device(const q36::vision_weights& host, vl::dtype t) {
    return host.map([t](const tensor& x) { return vl::cuda::to_device(x, t); });
}

// Reports and returns the max relative error of device tensor `got` against `ref`.
double rel_error(const tensor& got, const tensor& ref, const std::string& what) {
    const vl::error_stats s = vl::compare(vl::cuda::to_host(got), ref);
    BOOST_TEST_MESSAGE(what << ": max relative error " << s.max_rel << " (max abs " << s.max_abs << ")");
    BOOST_TEST(!s.non_finite, what << " has non-finite values");
    return s.non_finite ? INFINITY : s.max_rel;
}
double rel_error(const tensor& got, const std::string& golden_name) { return rel_error(got, golden(golden_name), "HF " + golden_name); }

void images_a_and_b_f32_match_hf_and_cpu() {
    const pixels ab = hf_pixels(images_ab);
    vl::cuda::executor<float> gpu;
    vl::trace_recorder trace;
    gpu.trace = trace.callback([&](const tensor& t) { return vl::cuda::to_host(t, gpu.stream); });
    const q36::vision_output out = q36::vision_forward(weights_f32(), ab.values, ab.grids, gpu, /*keep_hidden_states=*/true);
    gpu.trace = nullptr;

    const vl::trace_recorder hf = vl::test::hf_vision_trace_ab();
    const vl::trace_diff vs_hf = vl::compare_traces(trace, hf, f32_tolerance);
    BOOST_TEST_MESSAGE("CUDA f32 node by node against HF (images a + b):\n" << vs_hf.report());
    BOOST_TEST(vs_hf.ok(), vs_hf.report());

    vl::trace_recorder cpu;
    q36::vision_output cpu_out = vl::test::vision_cpu(weights_f32(), ab.values, ab.grids, cpu.callback());
    const vl::trace_diff vs_cpu = vl::compare_traces(trace, cpu, f32_vs_cpu_tolerance);
    BOOST_TEST_MESSAGE("CUDA f32 node by node against the CPU backend:\n" << vs_cpu.report());
    BOOST_TEST(vs_cpu.ok(), vs_cpu.report());

    BOOST_TEST_REQUIRE(out.hidden_states.size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(rel_error(out.hidden_states[i], "ab.hidden_states." + std::to_string(i)) <= f32_tolerance);
    BOOST_TEST(rel_error(out.last_hidden_state, "ab.last_hidden_state") <= f32_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, "ab.pooler_output") <= f32_tolerance);
}

void image_c_f32_device_weights_matches_hf() {
    const pixels c = hf_pixels({"img_c_125x94_png"});
    const q36::vision_weights w = on_device(weights_f32(), vl::dtype::f32);
    vl::cuda::executor<float> gpu;
    const q36::vision_output out = q36::vision_forward(w, vl::cuda::to_device(c.values), c.grids, gpu);
    BOOST_TEST(rel_error(out.last_hidden_state, "c.last_hidden_state") <= f32_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, "c.pooler_output") <= f32_tolerance);
}

void bf16_executor_with_bf16_checkpoint() {
    const pixels ab = hf_pixels(images_ab);
    const std::string dir = data_dir + "/tiny-qwen36-bf16";
    const q36::vision_weights w = on_device(q36::vision_weights::load(dir, vl::dtype::bf16), vl::dtype::bf16);
    vl::cuda::executor<vl::bf16> gpu;
    const q36::vision_output out = q36::vision_forward(w, ab.values, ab.grids, gpu);
    BOOST_TEST((out.image_embeds.type() == vl::dtype::bf16));

    const q36::vision_output cpu = vl::test::vision_cpu(q36::vision_weights::load(dir, vl::dtype::f32), ab.values, ab.grids, nullptr);
    BOOST_TEST(rel_error(out.last_hidden_state, cpu.last_hidden_state, "CPU last_hidden_state") <= bf16_vs_cpu_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, cpu.image_embeds, "CPU image_embeds") <= bf16_vs_cpu_tolerance);
    BOOST_TEST(rel_error(out.last_hidden_state, "ab.last_hidden_state") <= bf16_vs_hf_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, "ab.pooler_output") <= bf16_vs_hf_tolerance);
}

}  // namespace

int main(int argc, char** argv) {
    return vl::test::run_cuda_tests(argc, argv, "cuda_vision", [](boost::unit_test::test_suite& all) {
        all.add(VL_CUDA_TEST_CASE(images_a_and_b_f32_match_hf_and_cpu));
        all.add(VL_CUDA_TEST_CASE(image_c_f32_device_weights_matches_hf));
        all.add(VL_CUDA_TEST_CASE(bf16_executor_with_bf16_checkpoint));
    });
}
