// MRoPE position ids (models/qwen36/rope_index.hpp) against HF's get_rope_index
// (tests/data/golden/text_prompts.safetensors, lm.safetensors; tools/reference/README.md):
//
//   * the text prompt (all three rows 0..L−1, rope_delta 0) and the two-image prompt (grids (1, 8, 10)
//     and (1, 6, 4), rope_delta −18), exactly, with mm_token_type_ids derived from the token ids;
//   * the two-image prompt extended by the generated tokens: get_rope_index over the longer sequence
//     equals the prompt's positions followed by the decode rule p + rope_delta;
//   * spec §6.2's worked example, a video (split into frames), and the errors: image tokens vs grids
//     (both counts named), two images without text between them, grids off the merge window.
#define BOOST_TEST_MODULE qwen36_rope_index
#include <boost/test/unit_test.hpp>

#include "lm_goldens.hpp"
#include "test_util.hpp"

#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

const std::string data_dir = VLGRAPH_TEST_DATA;

const q36::model_config& config() {
    static const q36::model_config c = q36::load_config(data_dir + "/tiny-qwen36");
    return c;
}

vl::tensor golden(const std::string& file, const std::string& name) {
    const vl::safetensors_file f = vl::safetensors_file::open(data_dir + "/golden/" + file);
    return f.load(name, vl::dtype::i64);
}

using vl::test::ints;

// The rows of a [3, L] position tensor as T, H, W vectors.
std::vector<std::vector<std::int64_t>> rows(const vl::tensor& pos) {
    const std::vector<std::int64_t> v = ints(pos);
    const auto n = static_cast<std::ptrdiff_t>(pos.extent(1));
    return {{v.begin(), v.begin() + n}, {v.begin() + n, v.begin() + 2 * n}, {v.begin() + 2 * n, v.end()}};
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_prompt_matches_hf) {
    const std::vector<std::int64_t> ids = ints(golden("text_prompts.safetensors", "text.input_ids"));
    const q36::rope_index r = q36::get_rope_index(ids, {}, {}, config());
    BOOST_TEST(r.rope_delta == 0);
    BOOST_TEST(vt::bit_identical(r.position_ids, golden("text_prompts.safetensors", "text.position_ids")));
    BOOST_TEST(vt::bit_identical(q36::text_position_ids(0, static_cast<index_t>(ids.size())), r.position_ids));
}

BOOST_AUTO_TEST_CASE(two_image_prompt_matches_hf) {
    const std::vector<std::int64_t> ids = ints(golden("text_prompts.safetensors", "mm.input_ids"));
    const std::vector<q36::grid_thw> grids = q36::grids_from_tensor(golden("text_prompts.safetensors", "mm.image_grid_thw"));
    BOOST_TEST_REQUIRE(grids.size() == 2u);

    std::vector<std::int64_t> types;
    for (const q36::token_modality m : q36::token_modalities(ids, config())) types.push_back(static_cast<std::int64_t>(m));
    BOOST_TEST(types == ints(golden("text_prompts.safetensors", "mm.mm_token_type_ids")), boost::test_tools::per_element());

    const q36::rope_index r = q36::get_rope_index(ids, grids, {}, config());
    BOOST_TEST(r.rope_delta == ints(golden("text_prompts.safetensors", "mm.rope_deltas")).at(0));
    BOOST_TEST(r.rope_delta == -18);
    const auto got = rows(r.position_ids), ref = rows(golden("text_prompts.safetensors", "mm.position_ids"));
    for (int a = 0; a < 3; ++a) BOOST_TEST(got[static_cast<std::size_t>(a)] == ref[static_cast<std::size_t>(a)], boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(generated_tokens_continue_with_the_rope_delta) {
    // HF's positions of prompt + 15 generated tokens (the no-cache cross-check of the decode run).
    std::vector<std::int64_t> ids = ints(golden("text_prompts.safetensors", "mm.input_ids"));
    const auto prompt = static_cast<index_t>(ids.size());
    const std::vector<std::int64_t> generated = ints(golden("lm.safetensors", "mm.generated_ids"));
    ids.insert(ids.end(), generated.begin(), generated.end() - 1);
    const std::vector<q36::grid_thw> grids = q36::grids_from_tensor(golden("text_prompts.safetensors", "mm.image_grid_thw"));

    const q36::rope_index r = q36::get_rope_index(ids, grids, {}, config());
    const vl::tensor ref = golden("lm.safetensors", "mm.extended_position_ids");
    BOOST_TEST(vt::bit_identical(r.position_ids, ref));
    // spec §6.3: token at sequence index p >= prompt length has p + rope_delta on every axis
    const q36::rope_index prompt_only = q36::get_rope_index(std::span(ids).first(static_cast<std::size_t>(prompt)), grids, {}, config());
    const index_t n_new = static_cast<index_t>(ids.size()) - prompt;
    BOOST_TEST(vt::bit_identical(q36::text_position_ids(prompt + prompt_only.rope_delta, n_new), ref.slice(1, prompt, prompt + n_new).contiguous()));
}

BOOST_AUTO_TEST_CASE(spec_worked_example) {
    // spec §6.2: 5 text tokens (the last is vision_start), an image with grid (1, 4, 6) -> 2 × 3 merged
    // tokens, vision_end, then 3 more text tokens: L = 12, rope_delta = −3.
    const q36::model_config& c = config();
    const std::int64_t img = c.image_token_id;
    const std::vector<std::int64_t> ids = {1, 2, 3, 4, c.vision_start_token_id, img, img, img, img, img, img, c.vision_end_token_id, 7, 8, 9};
    const std::vector<q36::grid_thw> grids = {{1, 4, 6}};
    const q36::rope_index r = q36::get_rope_index(ids, grids, {}, c);
    const auto p = rows(r.position_ids);
    using v = std::vector<std::int64_t>;
    BOOST_TEST(p[0] == (v{0, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 8, 9, 10, 11}), boost::test_tools::per_element());
    BOOST_TEST(p[1] == (v{0, 1, 2, 3, 4, 5, 5, 5, 6, 6, 6, 8, 9, 10, 11}), boost::test_tools::per_element());
    BOOST_TEST(p[2] == (v{0, 1, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10, 11}), boost::test_tools::per_element());
    BOOST_TEST(r.rope_delta == -3);
}

BOOST_AUTO_TEST_CASE(video_grids_are_split_into_frames) {
    // A 2-frame video (grid (2, 4, 4)): each frame is its own run of 2 × 2 tokens behind timestamp text.
    const q36::model_config& c = config();
    const std::int64_t vid = c.video_token_id;
    const std::vector<std::int64_t> ids = {1, vid, vid, vid, vid, 2, 3, vid, vid, vid, vid, 4};
    const std::vector<q36::grid_thw> videos = {{2, 4, 4}};
    const q36::rope_index r = q36::get_rope_index(ids, {}, videos, c);
    const auto p = rows(r.position_ids);
    using v = std::vector<std::int64_t>;
    BOOST_TEST(p[0] == (v{0, 1, 1, 1, 1, 3, 4, 5, 5, 5, 5, 7}), boost::test_tools::per_element());
    BOOST_TEST(p[1] == (v{0, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 7}), boost::test_tools::per_element());
    BOOST_TEST(p[2] == (v{0, 1, 2, 1, 2, 3, 4, 5, 6, 5, 6, 7}), boost::test_tools::per_element());
    BOOST_TEST(r.rope_delta == 8 - 12);
}

BOOST_AUTO_TEST_CASE(mismatched_prompts_and_grids_are_errors) {
    const q36::model_config& c = config();
    std::vector<std::int64_t> ids = ints(golden("text_prompts.safetensors", "mm.input_ids"));
    const std::vector<q36::grid_thw> grids = q36::grids_from_tensor(golden("text_prompts.safetensors", "mm.image_grid_thw"));
    const auto run = [&](const std::vector<std::int64_t>& i, const std::vector<q36::grid_thw>& g) { q36::get_rope_index(i, g, {}, c); };

    vt::check_throws<vl::shape_error>([&] { run(ids, {grids[0]}); }, {"26 image tokens (id 2027)", "1 image grids describe 20"}, "a grid missing");
    vt::check_throws<vl::shape_error>([&] { run(ids, {}); }, {"26 image tokens", "0 image grids describe 0"}, "no grids");
    vt::check_throws<vl::shape_error>([&] { run(ints(golden("text_prompts.safetensors", "text.input_ids")), grids); },
                                      {"0 image tokens", "2 image grids describe 26"}, "grids for a text prompt");
    std::vector<std::int64_t> fewer = ids;
    fewer.erase(std::find(fewer.begin(), fewer.end(), c.image_token_id));
    vt::check_throws<vl::shape_error>([&] { run(fewer, grids); }, {"25 image tokens", "describe 26"}, "an image token missing");

    // Two images with nothing between them form one run of 6 + 6 tokens.
    const std::int64_t img = c.image_token_id;
    const std::vector<std::int64_t> touching(12, img);
    vt::check_throws<vl::shape_error>([&] { run(touching, {{1, 4, 6}, {1, 4, 6}}); },
                                      {"image run at position 0 has 12 tokens but its grid (1, 4, 6) gives 6"}, "adjacent images");
    vt::check_throws<vl::shape_error>([&] { run({img, img, img}, {{1, 3, 4}}); }, {"multiples of spatial_merge_size 2"}, "odd grid");
    vt::check_throws<vl::shape_error>([&] { q36::get_rope_index(std::vector<std::int64_t>{1, c.video_token_id}, {}, {}, c); },
                                      {"1 video tokens (id 2028)", "0 video grids describe 0"}, "a video token without a grid");
}
