// Recorded programs (vlgraph/program.hpp) on the CPU backend: a replay computes bit for bit what eager
// evaluation computes — for a small graph, for the language model's prefill chunks and decode steps
// (qwen36::language_program against qwen36::language_forward on the tiny checkpoint) and for the vision
// tower (qwen36::vision_program against qwen36::vision_tower) — with 1 and 2 threads, reading its inputs
// where they lie at every run and allocating nothing; a fragment that is not the same twice, a traced
// executor and a step past its cache are refused.
#define BOOST_TEST_MODULE program
#include <boost/test/unit_test.hpp>

#include "lm_goldens.hpp"
#include "test_util.hpp"
#include "vision_goldens.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace {

namespace q36 = vl::qwen36;
using vl::index_t;

const std::string tiny_f32 = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36";

const q36::language_weights& weights() {
    static const q36::language_weights w = q36::language_weights::load(tiny_f32, vl::dtype::f32);
    return w;
}
const q36::vision_weights& vision_weights() {
    static const q36::vision_weights w = q36::vision_weights::load(tiny_f32, vl::dtype::f32);
    return w;
}

// x -> rms_norm(x + 1) · W, then softmax: a GEMM, a norm and fused chains over three evals.
vl::tensor small_graph(const vl::tensor& x, const vl::tensor& w, const vl::tensor& norm, vl::cpu::executor& exec) {
    const vl::tensor h = vl::eval(vl::rms_norm(vl::input<2>(x) + 1.0f, vl::input<1>(norm), 1e-6f, vl::rms_weight::one_plus), exec);  // [4, 8]
    const vl::tensor y = vl::eval(vl::linear(vl::input<2>(h), vl::input<2>(w)), exec);                                                   // [4, 16]
    return vl::eval(vl::softmax(vl::silu(vl::input<2>(y)) * 2.0f), exec);                                                                // [4, 16]
}

void fill(const vl::tensor& t, int salt) {
    float* p = t.data<float>();
    for (index_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(vt::uniform(i, salt));
}

}  // namespace

BOOST_AUTO_TEST_CASE(replay_equals_eager_and_reads_inputs_at_every_run) {
    vl::cpu::executor cpu{2};
    const vl::tensor x = vl::tensor::empty({4, 8}, vl::dtype::f32), w = vl::tensor::empty({16, 8}, vl::dtype::f32), norm = vl::tensor::empty({8}, vl::dtype::f32);
    fill(w, 2), fill(norm, 3);
    vl::tensor out;
    auto prog = vl::program<vl::cpu::executor>::record(cpu, [&](vl::cpu::executor& e) { out = small_graph(x, w, norm, e); });
    BOOST_TEST(prog.launch_count() == 5u);  // norm and its + 1 chain, GEMM, softmax and its silu · 2 chain: each straight into its result
    for (int salt : {11, 12, 13}) {
        fill(x, salt);
        const vl::work_counters before = cpu.counters;
        prog.run();
        BOOST_TEST(cpu.counters.allocations == before.allocations);
        BOOST_TEST(cpu.counters.launches - before.launches == 5);
        BOOST_TEST(vt::bit_identical(out, small_graph(x, w, norm, cpu)), "salt " << salt);
    }
}

// The fragment's tensors and intermediates share one arena planned by lifetime: five 256 KB results made one
// after another, each dropped once the next exists, need two of them at a time, not five.
BOOST_AUTO_TEST_CASE(program_arena_is_the_peak_not_the_sum) {
    vl::cpu::executor cpu{2};
    const vl::tensor x = vl::tensor::empty({256, 256}, vl::dtype::f32);
    fill(x, 5);
    const auto chain = [&](vl::cpu::executor& e) {
        vl::tensor t = vl::eval(vl::input<2>(x) * 2.0f, e);
        for (int i = 0; i < 4; ++i) t = vl::eval(vl::softmax(vl::input<2>(t)), e);
        return t;
    };
    vl::tensor out;
    auto prog = vl::program<vl::cpu::executor>::record(cpu, [&](vl::cpu::executor& e) { out = chain(e); });
    const std::size_t one = 256 * 256 * sizeof(float);
    BOOST_TEST(prog.arena_bytes() >= 2 * one);
    BOOST_TEST(prog.arena_bytes() <= 2 * one + 4096, "arena " << prog.arena_bytes() << " bytes");
    prog.run();
    BOOST_TEST(vt::bit_identical(out, chain(cpu)));
}

BOOST_AUTO_TEST_CASE(fragments_must_repeat_and_cannot_be_traced) {
    vl::cpu::executor cpu{1};
    const vl::tensor x = vl::tensor::empty({64, 8}, vl::dtype::f32);
    int calls = 0;
    vt::check_throws<vl::error>(
        [&] {
            (void)vl::program<vl::cpu::executor>::record(cpu, [&](vl::cpu::executor& e) {
                const index_t rows = ++calls == 1 ? 64 : 8;  // a different buffer the second time
                (void)vl::eval(vl::input<2>(x.slice(0, 0, rows)) * 2.0f, e);
            });
        },
        {"allocated differently"}, "a fragment that changes between its passes");
    BOOST_TEST(cpu.recording == nullptr);
    cpu.trace = [](std::string_view, const vl::tensor&) {};
    vt::check_throws<vl::error>([&] { (void)vl::program<vl::cpu::executor>::record(cpu, [&](vl::cpu::executor& e) { (void)vl::eval(vl::input<2>(x) * 2.0f, e); }); },
                                {"trace cannot record"}, "a traced executor");
    vt::check_throws<vl::error>([] { vl::program<vl::cpu::executor>().run(); }, {"nothing was recorded"}, "an empty program");
}

// Prefill in chunks of 50 positions (one recorded chunk program run three times, then a 31-position one)
// and 6 decode steps (one recorded one-token program) against language_forward: logits and every cache
// tensor bit-identical, with 1 and 2 threads.
BOOST_AUTO_TEST_CASE(language_program_equals_eager_prefill_chunks_and_decode) {
    const q36::language_weights& w = weights();
    const vl::tensor ids = vl::test::prompt_tensor("text.input_ids").to(vl::dtype::i64), positions = vl::test::prompt_tensor("text.position_ids");
    const std::vector<std::int64_t> decoded = {17, 905, 3, 2047, 64, 1200};
    for (int threads : {1, 2}) {
        BOOST_TEST_CONTEXT("threads " << threads) {
            vl::cpu::executor cpu{threads};
            const vl::tensor embeds = q36::embed_prompt(w, ids, {}, cpu);
            const index_t capacity = 181 + static_cast<index_t>(decoded.size());
            q36::model_cache eager = q36::model_cache::empty(w.config.text, cpu), recorded = q36::model_cache::empty(w.config.text, cpu);
            eager.reserve = capacity;

            q36::language_program<vl::cpu::executor> chunk(w, recorded, 50, /*from_ids=*/false, 2, cpu, capacity);
            for (index_t a = 0; a < 150; a += 50) {
                const vl::tensor got = chunk.run_embeds(embeds.slice(0, a, a + 50).contiguous(), positions.slice(1, a, a + 50).contiguous());
                const vl::tensor want = q36::language_forward(w, embeds.slice(0, a, a + 50).contiguous(), positions.slice(1, a, a + 50).contiguous(), eager, cpu, {2, false}).logits;
                BOOST_TEST(vt::bit_identical(got, want), "chunk at " << a);
            }
            q36::language_program<vl::cpu::executor> tail(w, recorded, 31, /*from_ids=*/false, 1, cpu, capacity);
            BOOST_TEST(vt::bit_identical(tail.run_embeds(embeds.slice(0, 150, 181).contiguous(), positions.slice(1, 150, 181).contiguous()),
                                         q36::language_forward(w, embeds.slice(0, 150, 181).contiguous(), positions.slice(1, 150, 181).contiguous(), eager, cpu).logits));

            q36::language_program<vl::cpu::executor> decode(w, recorded, 1, /*from_ids=*/true, 1, cpu, capacity);
            for (const std::int64_t id : decoded) {
                const vl::tensor pos = q36::text_position_ids(recorded.length, 1);
                const vl::work_counters before = cpu.counters;
                const vl::tensor got = decode.run_ids({&id, 1}, pos);
                BOOST_TEST(cpu.counters.allocations == before.allocations, "a decode step allocates nothing");
                const vl::tensor one = vl::tensor::from(std::vector<std::int64_t>{id}, {1});
                const vl::tensor want = q36::language_forward(w, q36::embed_prompt(w, one, {}, cpu), pos, eager, cpu).logits;
                BOOST_TEST(vt::bit_identical(got, want), "decode of " << id);
            }
            BOOST_TEST(recorded.length == eager.length);
            for (std::size_t l = 0; l < w.layers.size(); ++l) {
                const q36::layer_cache &a = recorded.layers[l], &b = eager.layers[l];
                if (a.conv_state.defined()) {
                    BOOST_TEST(vt::bit_identical(a.conv_state, b.conv_state), "layer " << l << " conv window");
                    BOOST_TEST(vt::bit_identical(a.recurrent_state, b.recurrent_state), "layer " << l << " recurrent state");
                } else {
                    BOOST_TEST(vt::bit_identical(a.keys, b.keys), "layer " << l << " keys");
                    BOOST_TEST(vt::bit_identical(a.values, b.values), "layer " << l << " values");
                }
            }
            // The decode step is recorded for this cache's capacity.
            vt::check_throws<vl::shape_error>([&] { (void)decode.run_ids(std::vector<std::int64_t>{1}, q36::text_position_ids(recorded.length, 1)); },
                                              {"187 cached + 1 new positions exceed the 187 positions"}, "a step past the capacity");
            vt::check_throws<vl::shape_error>([&] { (void)decode.run_ids(std::vector<std::int64_t>{2048}, q36::text_position_ids(0, 1)); },
                                              {"token id 2048 outside the vocabulary [0, 2048)"}, "a bad token id");
        }
    }
}

// The tower as a program, run on two sets of pixels of the same grids: bit-identical to eager evaluation.
BOOST_AUTO_TEST_CASE(vision_program_equals_eager) {
    const vl::test::hf_pixels_t ab = vl::test::hf_pixels(vl::test::images_ab);
    for (int threads : {1, 2}) {
        vl::cpu::executor cpu{threads};
        q36::vision_program<vl::cpu::executor> tower(vision_weights(), ab.grids, cpu);
        vl::tensor shifted = ab.values.to(vl::dtype::f32).contiguous();
        for (index_t i = 0; i < shifted.numel(); ++i) shifted.data<float>()[i] = -shifted.data<float>()[i] * 0.5f;
        for (const vl::tensor& pixels : {ab.values, shifted}) {
            const q36::vision_output& got = tower.run(pixels);
            const q36::vision_output want = q36::vision_tower(vision_weights(), pixels, ab.grids, cpu);
            BOOST_TEST(vt::bit_identical(got.image_embeds, want.image_embeds), "threads " << threads);
            BOOST_TEST(vt::bit_identical(got.last_hidden_state, want.last_hidden_state), "threads " << threads);
        }
    }
}
