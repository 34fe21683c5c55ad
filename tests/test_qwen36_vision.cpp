// The Qwen3.6 vision tower (models/qwen36/vision.hpp) on the CPU backend against HF transformers'
// goldens (tests/data/golden/vision.safetensors, tools/reference/README.md), given HF's own pixel
// values (preprocess.safetensors stores them as u8 codes: pixel = (u8 − 127.5) / 127.5):
//
//   * the host tables: cu_seqlens, rope positions (exact), bilinear pos-embed taps (indices exact,
//     weights to 1 ulp), rotary cos/sin;
//   * images a + b in one call (two attention segments) with the f32 tiny checkpoint: every named
//     intermediate HF dumped (patch_embed.out, pos_embed.added, block 0 internals, block outputs, merger
//     internals) node by node, and hidden_states.0..2, last_hidden_state, pooler_output;
//   * image c (resized, non-square grid) alone: last_hidden_state, pooler_output;
//   * the bf16 checkpoint (weights rounded to bf16, computed in f32): a looser check;
//   * image_embeds bit-identical with 1 and 2 threads; bad grids, pixel values and weights are errors.
//
// Errors are max relative errors, max |got − ref| / max |ref| (vl::compare), printed for every tensor.
#define BOOST_TEST_MODULE qwen36_vision
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::test::hf_pixels;
using vl::test::images_ab;
using pixels = vl::test::hf_pixels_t;
vl::tensor golden(const std::string& name) { return vl::test::vision_tensor(name); }
using vl::index_t;

const std::string data_dir = VLGRAPH_TEST_DATA;
const std::string tiny_f32 = data_dir + "/tiny-qwen36";
const std::string tiny_bf16 = data_dir + "/tiny-qwen36-bf16";

constexpr double final_tolerance = 1e-4;  // spec: image_embeds and the pre-merger state, f32, max relative error


const q36::vision_weights& weights_f32() {
    static const q36::vision_weights w = q36::vision_weights::load(tiny_f32, vl::dtype::f32);
    return w;
}

// Reports and returns the max relative error of `got` against golden `name`.
double rel_error(const vl::tensor& got, const std::string& name) {
    const vl::error_stats s = vl::compare(got, golden(name));
    BOOST_TEST_MESSAGE(name << ": max relative error " << s.max_rel << " (max abs " << s.max_abs << ")");
    BOOST_TEST(!s.non_finite, name << " has non-finite values");
    return s.non_finite ? INFINITY : s.max_rel;
}

}  // namespace

BOOST_AUTO_TEST_CASE(host_tables_match_hf) {
    const q36::vision_config& c = weights_f32().config;
    const pixels ab = hf_pixels(images_ab);
    BOOST_TEST_REQUIRE(ab.grids.size() == 2u);

    const std::vector<index_t> cu = q36::vision_cu_seqlens(ab.grids);
    const std::vector<double> cu_got(cu.begin(), cu.end());
    BOOST_TEST(cu_got == vt::values(golden("ab.cu_seqlens")), boost::test_tools::per_element());

    std::vector<double> positions;
    q36::for_each_patch(ab.grids, c.spatial_merge_size, [&](const q36::grid_thw&, index_t row, index_t col) {
        positions.push_back(static_cast<double>(row));
        positions.push_back(static_cast<double>(col));
    });
    BOOST_TEST(positions == vt::values(golden("ab.rotary.position_ids")), boost::test_tools::per_element());

    const q36::pos_embed_taps taps = q36::vision_pos_embed_taps(ab.grids, c);
    BOOST_TEST(vt::values(taps.indices) == vt::values(golden("ab.pos_embed.interp_indices")), boost::test_tools::per_element());
    BOOST_TEST(rel_error(taps.weights, "ab.pos_embed.interp_weights") <= 1.2e-7);  // f32, as HF computes them

    const q36::rotary_tables rot = q36::vision_rotary(ab.grids, c);
    BOOST_TEST(rel_error(rot.cos, "ab.rotary.out0") <= 1e-6);
    BOOST_TEST(rel_error(rot.sin, "ab.rotary.out1") <= 1e-6);
}

BOOST_AUTO_TEST_CASE(images_a_and_b_in_one_call_match_hf) {
    const pixels ab = hf_pixels(images_ab);
    vl::trace_recorder trace;
    vl::cpu::executor cpu{2};
    cpu.trace = trace.callback();
    const q36::vision_output out = q36::vision_forward(weights_f32(), ab.values, ab.grids, cpu, /*keep_hidden_states=*/true);

    // Node by node: every intermediate HF dumped under the same module name.
    const vl::trace_recorder hf = vl::test::hf_vision_trace_ab();
    const vl::trace_diff diff = vl::compare_traces(trace, hf, final_tolerance);
    BOOST_TEST_MESSAGE("node-by-node against HF (images a + b):\n" << diff.report());
    BOOST_TEST(diff.ok(), diff.report());

    BOOST_TEST_REQUIRE(out.hidden_states.size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) BOOST_TEST(rel_error(out.hidden_states[i], "ab.hidden_states." + std::to_string(i)) <= final_tolerance);
    BOOST_TEST(rel_error(out.last_hidden_state, "ab.last_hidden_state") <= final_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, "ab.pooler_output") <= final_tolerance);
}

BOOST_AUTO_TEST_CASE(resized_image_c_alone_matches_hf) {
    const pixels c = hf_pixels({"img_c_125x94_png"});
    vl::cpu::executor cpu{2};
    const q36::vision_output out = q36::vision_forward(weights_f32(), c.values, c.grids, cpu);
    BOOST_TEST(out.hidden_states.empty());
    BOOST_TEST(rel_error(out.last_hidden_state, "c.last_hidden_state") <= final_tolerance);
    BOOST_TEST(rel_error(out.image_embeds, "c.pooler_output") <= final_tolerance);
}

BOOST_AUTO_TEST_CASE(bf16_checkpoint_loads_and_runs) {
    // The same weights rounded to bf16 (relative error 2^-9 each): outputs stay within a few percent of HF's f32.
    const q36::vision_weights w = q36::vision_weights::load(tiny_bf16, vl::dtype::f32);
    BOOST_TEST(w.blocks.size() == 2u);
    const pixels ab = hf_pixels(images_ab);
    vl::cpu::executor cpu{2};
    const q36::vision_output out = q36::vision_forward(w, ab.values, ab.grids, cpu);
    BOOST_TEST(rel_error(out.last_hidden_state, "ab.last_hidden_state") <= 2e-2);
    BOOST_TEST(rel_error(out.image_embeds, "ab.pooler_output") <= 2e-2);
    // Its matrices read as stored (bf16 views of the file): the very same bits.
    const q36::vision_weights stored = q36::vision_weights::load(tiny_bf16, vl::dtype::f32, q36::matrix_storage::as_stored);
    BOOST_TEST_REQUIRE((stored.blocks[0].fc1_weight.type() == vl::dtype::bf16));
    BOOST_TEST(vt::bit_identical(q36::vision_forward(stored, ab.values, ab.grids, cpu).image_embeds, out.image_embeds));
}

BOOST_AUTO_TEST_CASE(image_embeds_bit_identical_for_1_and_2_threads) {
    const pixels ab = hf_pixels(images_ab);
    vl::cpu::executor one{1}, two{2};
    const vl::tensor a = q36::vision_forward(weights_f32(), ab.values, ab.grids, one).image_embeds;
    const vl::tensor b = q36::vision_forward(weights_f32(), ab.values, ab.grids, two).image_embeds;
    BOOST_TEST(vt::bit_identical(a, b));
}

BOOST_AUTO_TEST_CASE(bad_grids_pixels_and_weights_are_errors) {
    const pixels ab = hf_pixels(images_ab);
    vl::cpu::executor cpu{1};
    const auto run = [&](std::vector<q36::grid_thw> grids, const vl::tensor& px) { q36::vision_forward(weights_f32(), px, grids, cpu); };
    vt::check_throws<vl::shape_error>([&] { run({{1, 8, 10}}, ab.values); }, {"pixel_values [104, 1536] must be [80, 1536]"}, "grids cover fewer patches");
    vt::check_throws<vl::shape_error>([&] { run({{1, 8, 10}, {1, 7, 4}}, ab.values); }, {"h 7", "multiples of spatial_merge_size 2"}, "odd grid");
    vt::check_throws<vl::shape_error>([&] { run({{0, 8, 10}}, ab.values); }, {"must be positive"}, "empty grid");
    vt::check_throws<vl::shape_error>([&] { run(ab.grids, ab.values.slice(1, 0, 1535).contiguous()); }, {"[104, 1535]"}, "short patch vectors");

    q36::vision_config wrong = weights_f32().config;
    wrong.intermediate_size = 100;
    vt::check_throws<vl::format_error>([&] { q36::vision_weights::load(vl::checkpoint::open(tiny_f32), wrong, vl::dtype::f32); },
                                       {"do not match config.json", "blocks.0.mlp.linear_fc1.weight: shape [96, 64] does not match the expected [100, 64]"},
                                       "weights of another config");
}
