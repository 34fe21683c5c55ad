// Generation (models/qwen36/generate.hpp) on the CPU backend against HF transformers' greedy generate
// (tests/data/golden/lm.safetensors: `generated_ids` [16] and `step_logits` [16, 2048] per prompt, EOS
// disabled), with the f32 tiny checkpoint:
//
//   * greedy, 16 new tokens, the text prompt (181 tokens) and the two-image prompt (151 tokens, images a
//     and b through vision_forward): tokens identical, every step's logits within 1e-4 max relative error;
//   * greedy with repetition_penalty 1.5 (tests/data/golden/generate_extra.safetensors): HF's tokens;
//   * sampling with a seed is deterministic, different seeds differ; top_k 1 / tiny top_p = greedy;
//   * sampler edge cases: option validation, NaN / +Inf / all −Inf logits, −Inf masking, top-k / top-p sets,
//     empirical frequencies against the softmax; generate's argument checks (max_position_embeddings).
#define BOOST_TEST_MODULE qwen36_generate
#include <boost/test/unit_test.hpp>

#include "lm_goldens.hpp"
#include "test_util.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

const std::string data_dir = VLGRAPH_TEST_DATA;
const std::string tiny_f32 = data_dir + "/tiny-qwen36";
constexpr double logits_tolerance = 1e-4;

using vl::test::golden_file;
vl::tensor lm(const std::string& name) { return vl::test::lm_tensor(name); }
vl::tensor prompt(const std::string& name) { return vl::test::prompt_tensor(name); }

using vl::test::ints;

const q36::language_weights& weights() {
    static const q36::language_weights w = q36::language_weights::load(tiny_f32, vl::dtype::f32);
    return w;
}

vl::tensor image_embeds_ab(vl::cpu::executor& exec) {
    const vl::test::hf_pixels_t ab = vl::test::hf_pixels(vl::test::images_ab);
    const q36::vision_weights vw = q36::vision_weights::load(tiny_f32, vl::dtype::f32);
    return q36::vision_forward(vw, ab.values, ab.grids, exec).image_embeds;
}

// Greedy 16 steps, EOS disabled; checks tokens and step logits against HF.
void check_greedy(const std::string& prefix, const vl::tensor& ids, const vl::tensor& images, const std::vector<q36::grid_thw>& grids) {
    vl::cpu::executor cpu{2};
    q36::generate_options opt;
    opt.max_new_tokens = 16;
    opt.sampling.greedy = true;
    opt.keep_step_logits = true;
    std::vector<std::int32_t> streamed;
    const q36::generation_result r = q36::generate(weights(), ids, images, grids, opt, cpu, [&](const q36::token_event& e) {
        BOOST_TEST(e.step == static_cast<index_t>(streamed.size()));
        streamed.push_back(e.id);
    });
    const std::vector<std::int64_t> want = ints(lm(prefix + ".generated_ids"));
    BOOST_TEST_REQUIRE(r.tokens.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(r.tokens[i] == want[i], prefix << " token " << i);
    BOOST_TEST(streamed == r.tokens);
    BOOST_TEST(r.stats.generated_tokens == 16);
    BOOST_TEST(r.stats.prompt_tokens == ids.numel());
    BOOST_TEST(!r.stopped_at_eos);

    const vl::tensor ref = lm(prefix + ".step_logits");
    BOOST_TEST_REQUIRE(r.step_logits.size() == 16u);
    double worst = 0;
    for (index_t s = 0; s < 16; ++s) {
        const vl::tensor got = vl::tensor::from(r.step_logits[static_cast<std::size_t>(s)], {ref.extent(1)});
        const vl::error_stats e = vl::compare(got, ref.slice(0, s, s + 1).reshape({ref.extent(1)}));
        BOOST_TEST(!e.non_finite);
        worst = std::max(worst, e.max_rel);
        BOOST_TEST(e.max_rel <= logits_tolerance, prefix << " step " << s << " logits max rel " << e.max_rel);
    }
    BOOST_TEST_MESSAGE(prefix << ": 16 greedy tokens identical to HF; worst step logits max relative error " << worst << " (prefill "
                              << r.stats.prefill_s << " s, decode " << r.stats.decode_s << " s)");
}

std::vector<float> logits_of(std::initializer_list<float> v) { return {v}; }

}  // namespace

BOOST_AUTO_TEST_CASE(greedy_text_prompt_matches_hf) { check_greedy("text", prompt("text.input_ids"), {}, {}); }

BOOST_AUTO_TEST_CASE(greedy_two_image_prompt_matches_hf) {
    vl::cpu::executor cpu{2};
    const vl::tensor images = image_embeds_ab(cpu);
    check_greedy("mm", prompt("mm.input_ids"), images, q36::grids_from_tensor(prompt("mm.image_grid_thw")));
}

BOOST_AUTO_TEST_CASE(repetition_penalty_matches_hf) {
    vl::cpu::executor cpu{2};
    q36::generate_options opt;
    opt.max_new_tokens = 16;
    opt.sampling.greedy = true;
    opt.sampling.repetition_penalty = 1.5;
    const q36::generation_result r = q36::generate(weights(), prompt("text.input_ids"), {}, {}, opt, cpu);
    const std::vector<std::int64_t> want = ints(golden_file("generate_extra.safetensors").get("text.repetition_penalty_1.5.generated_ids"));
    BOOST_TEST_REQUIRE(r.tokens.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(r.tokens[i] == want[i], "token " << i);
}

// The penalty acts once per distinct id of the context, dividing positive logits and multiplying negative ones.
BOOST_AUTO_TEST_CASE(sampler_repetition_penalty) {
    const std::vector<float> logits = logits_of({2.0f, -1.0f, 1.5f, 0.5f});
    q36::sampler plain({1.0, 0, 1.0, 0, true});
    BOOST_TEST(plain.next(logits, std::vector<std::int64_t>{0, 1, 1}) == 0);
    q36::sampler penalised({1.0, 0, 1.0, 0, true, 2.0});
    BOOST_TEST(penalised.next(logits) == 0);                                      // no context: nothing to penalise
    BOOST_TEST(penalised.next(logits, std::vector<std::int64_t>{0, 0, 0}) == 2);  // 2 / 2 = 1 < 1.5 (once, not 2 / 8)
    const std::vector<float> negative = logits_of({-1.0f, -1.5f});
    BOOST_TEST(penalised.next(negative, std::vector<std::int64_t>{0}) == 1);      // -1 · 2 = -2 < -1.5
    q36::sampler sampled({1.0, 1, 1.0, 5, false, 2.0});                           // top_k 1 after the penalty
    BOOST_TEST(sampled.next(logits, std::vector<std::int64_t>{0}) == 2);
}

BOOST_AUTO_TEST_CASE(sampling_is_deterministic_per_seed) {
    vl::cpu::executor cpu{2};
    const vl::tensor ids = prompt("text.input_ids");
    auto run = [&](std::uint64_t seed, double top_p, std::int64_t top_k) {
        q36::generate_options opt;
        opt.max_new_tokens = 8;
        opt.sampling = {1.5, top_k, top_p, seed, false};
        return q36::generate(weights(), ids, {}, {}, opt, cpu).tokens;
    };
    const auto a = run(7, 1.0, 0), b = run(7, 1.0, 0), c = run(8, 1.0, 0);
    BOOST_TEST(a == b);
    BOOST_TEST(a != c);
    // top_k 1 and a tiny top_p are greedy whatever the seed
    const std::vector<std::int64_t> greedy = ints(lm("text.generated_ids"));
    for (const auto& t : {run(3, 1.0, 1), run(4, 1e-9, 0)})
        for (std::size_t i = 0; i < t.size(); ++i) BOOST_TEST(t[i] == greedy[i]);
}

BOOST_AUTO_TEST_CASE(generation_stops_at_eos) {
    vl::cpu::executor cpu{1};
    const std::vector<std::int64_t> greedy = ints(lm("text.generated_ids"));
    q36::generate_options opt;
    opt.max_new_tokens = 16;
    opt.eos_token_ids = {greedy[3]};
    const auto r = q36::generate(weights(), prompt("text.input_ids"), {}, {}, opt, cpu);
    // stops at the first occurrence of that id (included)
    std::size_t first = 0;
    while (greedy[first] != greedy[3]) ++first;
    BOOST_TEST(r.stopped_at_eos);
    BOOST_TEST(r.tokens.size() == first + 1);
}

BOOST_AUTO_TEST_CASE(sampler_validation) {
    auto bad = [](q36::sampling_options o, const char* what) {
        vt::check_throws<vl::config_error>([&] { q36::sampler s(o); }, {what}, what);
    };
    bad({std::nan(""), 0, 1.0, 0, false}, "temperature must be");
    bad({-1.0, 0, 1.0, 0, false}, "temperature must be");
    bad({INFINITY, 0, 1.0, 0, false}, "temperature must be");
    bad({1.0, -1, 1.0, 0, false}, "top_k must be");
    bad({1.0, 0, 0.0, 0, false}, "top_p must be");
    bad({1.0, 0, 1.5, 0, false}, "top_p must be");
    bad({1.0, 0, std::nan(""), 0, false}, "top_p must be");
    bad({1.0, 0, 0.0, 0, true}, "top_p must be");  // validated even when greedy
    bad({1.0, 0, 1.0, 0, true, 0.0}, "repetition_penalty must be");
    bad({1.0, 0, 1.0, 0, true, -1.0}, "repetition_penalty must be");
    bad({1.0, 0, 1.0, 0, true, INFINITY}, "repetition_penalty must be");
}

BOOST_AUTO_TEST_CASE(sampler_non_finite_logits) {
    q36::sampler greedy({1.0, 0, 1.0, 0, true}), sampled({1.0, 0, 1.0, 1, false});
    const float inf = std::numeric_limits<float>::infinity();
    for (q36::sampler* s : {&greedy, &sampled}) {
        auto nan_l = logits_of({0.f, std::nanf(""), 1.f});
        vt::check_throws<vl::error>([&] { s->next(nan_l); }, {"token 1 is NaN"}, "NaN");
        auto pinf = logits_of({0.f, 1.f, inf});
        vt::check_throws<vl::error>([&] { s->next(pinf); }, {"token 2 is +Inf"}, "+Inf");
        auto all = logits_of({-inf, -inf});
        vt::check_throws<vl::error>([&] { s->next(all); }, {"every logit is -Inf"}, "all -Inf");
        auto masked = logits_of({-inf, -3.f, -inf});
        for (int i = 0; i < 20; ++i) BOOST_TEST(s->next(masked) == 1);
        std::vector<float> none;
        vt::check_throws<vl::shape_error>([&] { s->next(none); }, {"empty logits"}, "empty");
    }
    // greedy ties: first index; temperature 0 = greedy
    auto tie = logits_of({1.f, 5.f, 5.f});
    BOOST_TEST(greedy.next(tie) == 1);
    q36::sampler t0({0.0, 0, 1.0, 5, false});
    BOOST_TEST(t0.next(tie) == 1);
}

BOOST_AUTO_TEST_CASE(sampler_top_k_top_p_sets_and_frequencies) {
    const std::vector<float> l = {std::log(0.1f), std::log(0.4f), std::log(0.2f), std::log(0.3f)};  // p = .1 .4 .2 .3
    auto counts = [&](q36::sampling_options o, int n) {
        q36::sampler s(o);
        std::vector<int> c(4, 0);
        for (int i = 0; i < n; ++i) ++c[static_cast<std::size_t>(s.next(l))];
        return c;
    };
    const int n = 20000;
    const auto full = counts({1.0, 0, 1.0, 42, false}, n);
    const double p[4] = {0.1, 0.4, 0.2, 0.3};
    for (int i = 0; i < 4; ++i) BOOST_TEST(std::abs(full[i] / double(n) - p[i]) < 0.015, "token " << i << " freq " << full[i] / double(n));
    const auto k2 = counts({1.0, 2, 1.0, 42, false}, n);  // {1, 3}: 4/7, 3/7
    BOOST_TEST(k2[0] == 0);
    BOOST_TEST(k2[2] == 0);
    BOOST_TEST(std::abs(k2[1] / double(n) - 4.0 / 7) < 0.015);
    // top_p 0.65: ascending cumulative .1 .3 .6 1.0; drop <= 0.35 → {0, 2} dropped, keep {3, 1}
    const auto tp = counts({1.0, 0, 0.65, 42, false}, n);
    BOOST_TEST(tp[0] == 0);
    BOOST_TEST(tp[2] == 0);
    BOOST_TEST(std::abs(tp[3] / double(n) - 3.0 / 7) < 0.015);
    // top_p 0.75: drop cumulative <= 0.25 → only token 0
    const auto tp2 = counts({1.0, 0, 0.75, 42, false}, n);
    BOOST_TEST(tp2[0] == 0);
    BOOST_TEST(tp2[2] > 0);
    // top_k 3 then top_p 0.5 (HF order: renormalised over {1,3,2} = 4/9 3/9 2/9; ascending cum 2/9 5/9 → drop 2 only)
    const auto kp = counts({1.0, 3, 0.5, 42, false}, n);
    BOOST_TEST(kp[0] == 0);
    BOOST_TEST(kp[2] == 0);
    BOOST_TEST(kp[3] > 0);
    // temperature sharpens: T = 0.25 → p ∝ p^4
    const auto tl = counts({0.25, 0, 1.0, 42, false}, n);
    const double z = std::pow(.1, 4) + std::pow(.4, 4) + std::pow(.2, 4) + std::pow(.3, 4);
    BOOST_TEST(std::abs(tl[1] / double(n) - std::pow(.4, 4) / z) < 0.015);
    // same seed, same sequence
    BOOST_TEST(counts({1.0, 0, 1.0, 9, false}, 100) == counts({1.0, 0, 1.0, 9, false}, 100));
}

BOOST_AUTO_TEST_CASE(generate_argument_checks) {
    vl::cpu::executor cpu{1};
    const vl::tensor ids = prompt("text.input_ids");
    q36::generate_options opt;
    opt.max_new_tokens = weights().config.text.max_position_embeddings;
    vt::check_throws<vl::config_error>([&] { q36::generate(weights(), ids, {}, {}, opt, cpu); }, {"exceeds max_position_embeddings"}, "too long");
    opt.max_new_tokens = -1;
    vt::check_throws<vl::config_error>([&] { q36::generate(weights(), ids, {}, {}, opt, cpu); }, {"max_new_tokens must be >= 0"}, "negative");
    opt.max_new_tokens = 0;
    const auto r = q36::generate(weights(), ids, {}, {}, opt, cpu);
    BOOST_TEST(r.tokens.empty());
    opt.max_new_tokens = 2;
    opt.sampling.top_p = 2;
    vt::check_throws<vl::config_error>([&] { q36::generate(weights(), ids, {}, {}, opt, cpu); }, {"top_p must be"}, "bad sampling");
}

BOOST_AUTO_TEST_CASE(streamed_pieces_decode_to_the_text) {
    vl::cpu::executor cpu{1};
    const q36::tokenizer tok = q36::load_tokenizer(tiny_f32);
    q36::generate_options opt;
    opt.max_new_tokens = 16;
    opt.tokenizer = &tok.bpe;
    std::string text;
    const auto r = q36::generate(weights(), prompt("text.input_ids"), {}, {}, opt, cpu, [&](const q36::token_event& e) { text += e.piece; });
    text += r.text_tail;
    BOOST_TEST(text == tok.bpe.decode(r.tokens, true));
}
