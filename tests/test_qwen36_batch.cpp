// A decode batch (language_program over several caches: one position of each sequence per step, the
// projections and the MLP over all rows at once, the conv windows, delta-rule states and attention per
// sequence): every sequence gets, bit for bit, the logits and greedy tokens it gets decoded alone — the
// property that makes a server's output independent of what else is in the batch. On the bundled
// checkpoint, f32 weights and bf16 weights read as stored, sequences of different lengths.
#define BOOST_TEST_MODULE qwen36_batch
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>

#include <cstring>
#include <random>
#include <vector>

namespace {

namespace q = vl::qwen36;
using vl::index_t;

const std::string tiny = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36";

struct sequence {
    q::model_cache cache;
    std::vector<std::int64_t> tokens;       // prompt, then the greedy tokens
    std::vector<std::vector<float>> steps;  // every decode step's logits
};

std::vector<float> row_of(const vl::tensor& logits, index_t r) {
    const vl::tensor row = logits.slice(0, r, r + 1).contiguous();
    return {row.data<float>(), row.data<float>() + row.numel()};
}

// A prompt of random ids, prefilled (one recorded step) with room for `decode` more positions; its first greedy token appended.
sequence prefill(const q::language_weights& w, index_t length, unsigned seed, index_t decode, vl::cpu::executor& cpu) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<std::int64_t> id(0, w.config.text.vocab_size - 1);
    sequence s{q::model_cache::empty(w.config.text, cpu), {}, {}};
    for (index_t i = 0; i < length; ++i) s.tokens.push_back(id(rng));
    const vl::tensor ids = vl::tensor::from(s.tokens, {length});
    q::language_program<vl::cpu::executor> step(w, s.cache, length, /*from_ids=*/false, 1, cpu, length + decode);
    q::embed_prompt_into(w, ids, {}, step.embeds_input(), cpu);
    const vl::tensor logits = step.run_embeds(step.embeds_input(), q::text_position_ids(0, length));
    s.tokens.push_back(q::sampler::argmax(row_of(logits, 0)));
    return s;
}

void check_batch_equals_alone(const q::language_weights& w) {
    vl::cpu::executor cpu{2};
    const index_t lengths[] = {5, 17, 9, 30}, steps = 8;
    std::vector<sequence> alone, batched;
    for (unsigned i = 0; i < 4; ++i) {
        alone.push_back(prefill(w, lengths[i], 100 + i, steps, cpu));
        batched.push_back(prefill(w, lengths[i], 100 + i, steps, cpu));
    }
    for (sequence& s : alone) {
        q::language_program<vl::cpu::executor> decode(w, s.cache, 1, /*from_ids=*/true, 1, cpu);
        for (index_t t = 0; t < steps; ++t) {
            const std::int64_t next = s.tokens.back();
            s.steps.push_back(row_of(decode.run_ids({&next, 1}, q::text_position_ids(s.cache.length, 1)), 0));
            s.tokens.push_back(q::sampler::argmax(s.steps.back()));
        }
    }
    std::vector<q::model_cache*> caches;
    for (sequence& s : batched) caches.push_back(&s.cache);
    q::language_program<vl::cpu::executor> decode(w, caches, cpu);
    for (index_t t = 0; t < steps; ++t) {
        std::vector<std::int64_t> next;
        vl::tensor positions = vl::tensor::empty({3, 4}, vl::dtype::i64);
        for (index_t b = 0; b < 4; ++b) {
            next.push_back(batched[static_cast<std::size_t>(b)].tokens.back());
            for (index_t axis = 0; axis < 3; ++axis) positions.data<std::int64_t>()[axis * 4 + b] = batched[static_cast<std::size_t>(b)].cache.length;
        }
        const vl::tensor& logits = decode.run_ids(next, positions);
        BOOST_TEST_REQUIRE(logits.extent(0) == 4);
        for (index_t b = 0; b < 4; ++b) {
            sequence& s = batched[static_cast<std::size_t>(b)];
            s.steps.push_back(row_of(logits, b));
            s.tokens.push_back(q::sampler::argmax(s.steps.back()));
        }
    }
    for (std::size_t b = 0; b < 4; ++b) {
        BOOST_TEST(batched[b].tokens == alone[b].tokens, "sequence " << b << ": the same greedy tokens");
        for (std::size_t t = 0; t < static_cast<std::size_t>(steps); ++t)
            BOOST_TEST(std::memcmp(batched[b].steps[t].data(), alone[b].steps[t].data(), alone[b].steps[t].size() * sizeof(float)) == 0,
                       "sequence " << b << ", step " << t << ": the same logits, bit for bit");
        BOOST_TEST(batched[b].cache.length == alone[b].cache.length);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_batch_decodes_each_sequence_as_it_decodes_alone) {
    check_batch_equals_alone(q::language_weights::load(tiny, vl::dtype::f32));
}

BOOST_AUTO_TEST_CASE(bf16_weights_as_stored_too) {
    const std::string dir = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36-bf16";
    check_batch_equals_alone(q::language_weights::load(vl::checkpoint::open(dir), q::load_config(dir), vl::dtype::f32, q::matrix_storage::as_stored));
}

BOOST_AUTO_TEST_CASE(bad_batches_are_refused) {
    const q::language_weights w = q::language_weights::load(tiny, vl::dtype::f32);
    vl::cpu::executor cpu{1};
    q::model_cache a = q::model_cache::empty(w.config.text, cpu), b = q::model_cache::empty(w.config.text, cpu);
    std::vector<q::model_cache*> caches{&a, &b};
    q::language_program<vl::cpu::executor> decode(w, caches, cpu);
    const std::int64_t one = 1;
    BOOST_CHECK_THROW(decode.run_ids({&one, 1}, q::text_position_ids(0, 1)), vl::shape_error);           // 1 id for 2 sequences
    const std::int64_t two[] = {1, w.config.text.vocab_size};
    BOOST_CHECK_THROW(decode.run_ids(two, q::text_position_ids(0, 2)), vl::shape_error);                 // an id outside the vocabulary
    BOOST_CHECK_THROW(q::language_program<vl::cpu::executor>(w, std::span<q::model_cache* const>{}, cpu), vl::shape_error);  // no sequence
}
