// Continuous batching (vl::serve::scheduler over vl::qwen36::serving_model) on the bundled checkpoint:
//   - 8 requests sent together (they join a running batch, their prefills chunked and interleaved with the
//     decodes) give, token for token, what each gives alone — greedy and seeded sampling, one with an image;
//   - a request that fails to start fails alone; cancel() ends a stream with finish_reason cancelled;
//   - a full queue refuses (queue_full), a stopped scheduler refuses (not_accepting) and cancels what runs;
//   - tensor parallel (2 ranks in lockstep, the vision tower on rank 0): the same greedy tokens as one rank.
#define BOOST_TEST_MODULE serving
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/comm.hpp>
#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/lockstep.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/prompt.hpp>
#include <vlgraph/models/qwen36/serving.hpp>
#include <vlgraph/serve/prefix_cache.hpp>
#include <vlgraph/serve/scheduler.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

namespace q = vl::qwen36;
namespace sv = vl::serve;
using vl::index_t;
using namespace std::chrono_literals;

const std::string tiny = std::string(VLGRAPH_TEST_DATA) + "/tiny-qwen36";

struct fixture {
    q::model_config config = q::load_config(tiny);
    q::tokenizer tok = q::load_tokenizer(tiny);
    q::chat_template chat = q::chat_template::load(tiny);
    q::preprocessor_config pre = q::load_preprocessor_config(tiny, config.vision);
    q::language_weights w = q::language_weights::load(tiny, vl::dtype::f32);
    q::vision_weights vw = q::vision_weights::load(tiny, vl::dtype::f32);
    vl::cpu::executor cpu{2};
    q::serving_model<vl::cpu::executor> model{w, &vw, tok, {2015, 2017}, cpu};
};

struct outcome {
    std::vector<std::int32_t> tokens;
    std::string text;
    sv::finish_reason reason = sv::finish_reason::error;
    std::string error;
    sv::usage usage;
};

outcome drain(sv::token_stream& s) {
    outcome o;
    for (;;) {
        const std::optional<sv::stream_event> e = s.next(60s);
        BOOST_TEST_REQUIRE(e.has_value(), "a stream ends within 60 s");
        if (e->done) {
            o.reason = e->reason, o.error = e->error, o.usage = e->usage;
            return o;
        }
        o.tokens.push_back(e->token);
        o.text += e->text;
    }
}

// Request i: a user turn of its own (every third with an image), greedy or seeded sampling.
q::serving_request make_request(const fixture& f, int i) {
    std::vector<q::message> messages;
    q::message user{"user", {}, std::nullopt};
    if (i % 3 == 1) user.content.push_back(q::content_part::of_image(std::string(VLGRAPH_TEST_DATA) + "/images/img_b_96x64.png"));
    user.content.push_back(q::content_part::of_text("Request " + std::to_string(i) + std::string(static_cast<std::size_t>(7 * i), 'x')));
    messages.push_back(std::move(user));
    const q::prepared_prompt p = q::prepare_prompt(messages, {}, {&f.config, &f.chat, &f.tok, &f.pre});
    q::serving_request r{p.input_ids, p.pixel_values, p.grids, {}, 10 + i};
    r.sampling.greedy = i % 2 == 0;
    r.sampling.seed = static_cast<std::uint64_t>(1000 + i);
    r.sampling.top_k = 20;
    return r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_request_amid_seven_others_gives_what_it_gives_alone) {
    fixture f;
    std::vector<outcome> alone, together;
    {
        sv::scheduler<decltype(f.model)> s(f.model, {.max_batch = 8, .max_queue = 8, .prefill_chunk = 16});
        for (int i = 0; i < 8; ++i) alone.push_back(drain(*s.submit(make_request(f, i))));
    }
    {
        sv::scheduler<decltype(f.model)> s(f.model, {.max_batch = 8, .max_queue = 8, .prefill_chunk = 16});
        std::vector<std::shared_ptr<sv::token_stream>> streams;
        for (int i = 0; i < 8; ++i) streams.push_back(s.submit(make_request(f, i)));
        for (auto& st : streams) together.push_back(drain(*st));
        const sv::scheduler_stats stats = s.stats();
        BOOST_TEST_MESSAGE("8 together: " << stats.decode_steps << " decode steps for " << stats.decode_rows << " rows, " << stats.prefill_chunks << " prefill chunks");
        BOOST_TEST(stats.decode_rows > 2 * stats.decode_steps, "the decodes ran batched (" << stats.decode_rows << " rows in " << stats.decode_steps << " steps)");
    }
    for (std::size_t i = 0; i < 8; ++i) {
        BOOST_TEST_CONTEXT("request " << i) {
            BOOST_TEST(alone[i].error.empty(), alone[i].error);
            BOOST_TEST(together[i].tokens == alone[i].tokens);
            BOOST_TEST(together[i].text == alone[i].text);
            BOOST_TEST(static_cast<int>(together[i].reason) == static_cast<int>(alone[i].reason));
            BOOST_TEST(together[i].usage.prompt_tokens == alone[i].usage.prompt_tokens);
            BOOST_TEST(together[i].usage.completion_tokens == static_cast<std::int64_t>(together[i].tokens.size()));
            BOOST_TEST(!alone[i].tokens.empty());
        }
    }
    BOOST_TEST(alone[1].usage.prompt_tokens > alone[0].usage.prompt_tokens + 8, "prompt tokens count the image tokens");
}

BOOST_AUTO_TEST_CASE(failures_and_cancellation_stay_with_their_request) {
    fixture f;
    sv::scheduler<decltype(f.model)> s(f.model, {.max_batch = 4, .max_queue = 4, .prefill_chunk = 32});
    q::serving_request bad = make_request(f, 0);
    bad.input_ids = vl::tensor::from(std::vector<std::int64_t>{1, f.config.text.vocab_size + 5}, {2});
    auto failing = s.submit(std::move(bad));
    q::serving_request longer = make_request(f, 2);
    longer.max_new_tokens = 4000;
    auto cancelled = s.submit(std::move(longer));
    auto fine = s.submit(make_request(f, 4));
    const outcome failed = drain(*failing);
    BOOST_TEST(static_cast<int>(failed.reason) == static_cast<int>(sv::finish_reason::error));
    BOOST_TEST(failed.error.find("outside the vocabulary") != std::string::npos, failed.error);
    BOOST_TEST_REQUIRE(cancelled->next(60s).has_value(), "the long request produces a token");
    cancelled->cancel();
    const outcome c = drain(*cancelled);
    BOOST_TEST(static_cast<int>(c.reason) == static_cast<int>(sv::finish_reason::cancelled));
    const outcome ok = drain(*fine);
    BOOST_TEST(ok.error.empty());
    BOOST_TEST(ok.tokens.size() >= 1u);
}

BOOST_AUTO_TEST_CASE(a_full_queue_and_a_stopped_scheduler_refuse) {
    fixture f;
    sv::scheduler<decltype(f.model)> s(f.model, {.max_batch = 1, .max_queue = 1, .prefill_chunk = 64});
    std::vector<std::shared_ptr<sv::token_stream>> accepted;
    int refused = 0;
    for (int i = 0; i < 6; ++i) {
        q::serving_request r = make_request(f, 0);
        r.max_new_tokens = 3000;
        try {
            accepted.push_back(s.submit(std::move(r)));
        } catch (const sv::queue_full&) {
            ++refused;
        }
    }
    BOOST_TEST(refused >= 3, refused << " of 6 refused with one running and one waiting");
    s.stop(0ms);
    for (auto& st : accepted) BOOST_TEST(static_cast<int>(drain(*st).reason) == static_cast<int>(sv::finish_reason::cancelled));
    BOOST_CHECK_THROW(s.submit(make_request(f, 0)), sv::not_accepting);
}

BOOST_AUTO_TEST_CASE(tensor_parallel_serving_gives_the_tokens_of_one_rank) {
    fixture f;
    const auto greedy = [&](int i) {
        q::serving_request r = make_request(f, i);
        r.sampling.greedy = true;
        return r;
    };
    std::vector<outcome> one, two;
    {
        sv::scheduler<decltype(f.model)> s(f.model, {.max_batch = 4, .max_queue = 4, .prefill_chunk = 16});
        std::vector<std::shared_ptr<sv::token_stream>> streams;
        for (int i = 0; i < 4; ++i) streams.push_back(s.submit(greedy(i)));
        for (auto& st : streams) one.push_back(drain(*st));
    }
    vl::cpu::local_group group(2);
    const vl::checkpoint ck = vl::checkpoint::open(tiny);
    std::vector<q::language_weights> shards;
    std::vector<std::unique_ptr<vl::cpu::executor>> executors;
    for (int r = 0; r < 2; ++r) {
        shards.push_back(q::language_weights::load_shard(ck, f.config, vl::dtype::f32, q::matrix_storage::converted, q::plan_shards(f.config, r, 2), group.rank(r)));
        executors.push_back(std::make_unique<vl::cpu::executor>(1));
    }
    {
        q::tensor_parallel_serving_engine<vl::cpu::executor> engine(std::move(shards), q::vision_weights::load(tiny, vl::dtype::f32), f.tok, {2015, 2017},
                                                                   {.max_batch = 4, .max_queue = 4, .prefill_chunk = 16}, std::move(executors),
                                                                   std::make_unique<vl::lockstep>(2));
        std::vector<std::shared_ptr<sv::token_stream>> streams;
        for (int i = 0; i < 4; ++i) streams.push_back(engine.submit(greedy(i)));
        for (auto& st : streams) two.push_back(drain(*st));
        // a request refused by its checks fails on every rank before any collective: the group is not left waiting
        q::serving_request bad = greedy(0);
        bad.input_ids = vl::tensor::from(std::vector<std::int64_t>{-1}, {1});
        BOOST_TEST(drain(*engine.submit(std::move(bad))).error.find("outside the vocabulary") != std::string::npos);
        BOOST_TEST(!drain(*engine.submit(greedy(2))).tokens.empty(), "and the engine still serves");
    }
    for (std::size_t i = 0; i < 4; ++i) {
        BOOST_TEST(two[i].error.empty(), two[i].error);
        BOOST_TEST(two[i].tokens == one[i].tokens, "request " << i << ": TP 2 greedy tokens = TP 1");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Prefix cache (serving_options::prefix_cache_bytes): the store itself, then a 6-turn conversation whose
// every turn gives, with the cache, the logits and greedy tokens it gives without — bit for bit.

namespace {

struct turn_result {
    std::vector<std::int32_t> tokens;
    std::string text;
    vl::tensor first_logits;  // host f32 [1, V]: what the first token was sampled from
    std::int64_t cached = 0;
};

// One request alone, straight through the model (prefill chunks of `chunk`, then decode steps).
turn_result run_alone(q::serving_model<vl::cpu::executor>& model, q::serving_request r, index_t chunk) {
    std::unique_ptr<q::serving_model<vl::cpu::executor>::sequence> s = model.start(std::move(r));
    turn_result out;
    out.cached = model.usage_of(*s).cached_tokens;
    std::optional<sv::step_result> t;
    while (!(t = model.prefill(*s, chunk))) {}
    out.first_logits = s->logits;
    for (;;) {
        out.tokens.push_back(t->token);
        out.text += t->text;
        if (t->finish) return out;
        q::serving_model<vl::cpu::executor>::sequence* one = s.get();
        t = model.decode(std::span(&one, 1))[0];
    }
}

bool same_bits(const vl::tensor& a, const vl::tensor& b) {
    return a.shape() == b.shape() && a.type() == b.type() && std::memcmp(a.contiguous().raw_data(), b.contiguous().raw_data(), a.nbytes()) == 0;
}

std::vector<std::uint64_t> numbers(std::initializer_list<int> v) { return {v.begin(), v.end()}; }

}  // namespace

BOOST_AUTO_TEST_CASE(the_prefix_store_finds_the_longest_stored_prefix_and_evicts_least_recently_used) {
    sv::prefix_cache<int> store({.max_bytes = 100, .block = 2});
    store.insert(numbers({1, 2}), 12, 40);
    store.insert(numbers({1, 2, 3, 4}), 1234, 40);
    BOOST_CHECK_THROW(store.insert(numbers({1, 2, 3}), 0, 1), vl::config_error);  // not whole blocks
    const std::vector<std::uint64_t> query = numbers({1, 2, 3, 4, 5, 6});
    BOOST_TEST(store.find(query, 6)->snapshot == 1234);
    BOOST_TEST(store.find(query, 3)->snapshot == 12, "no longer than max_length");
    BOOST_TEST(store.find(numbers({1, 2, 3, 9}), 4)->snapshot == 12, "a prefix, not merely a hash");
    BOOST_TEST(!store.find(numbers({2, 1, 3, 4}), 4));
    BOOST_TEST(!store.find(numbers({1}), 1), "shorter than a block");
    {
        const auto held = store.find(numbers({1, 2, 0}), 3);  // {1, 2} in use
        store.insert(numbers({7, 8}), 78, 40);                // over 100 bytes: the least recently used that nobody holds goes
        BOOST_TEST(store.stats().evictions == 1u);
        BOOST_TEST(store.find(query, 6)->snapshot == 12, "{1,2,3,4} went: {1,2} is held and {7,8} is newer");
    }
    const sv::prefix_cache_stats st = store.stats();
    BOOST_TEST(st.entries == 2u);
    BOOST_TEST(st.bytes <= 100u);
    sv::byte_ledger ledger;
    {
        sv::byte_ledger::ticket a = ledger.charge(10), b = ledger.charge(5);
        BOOST_TEST(ledger.bytes() == 15u);
    }
    BOOST_TEST(ledger.bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(a_six_turn_conversation_gives_with_the_prefix_cache_what_it_gives_without) {
    fixture f;
    constexpr index_t chunk = 16;
    // Without: the fixture's model. With: a cache of 64 MiB, and one of 600 KiB that must evict as it goes.
    q::serving_model<vl::cpu::executor> cached{f.w, &f.vw, f.tok, {2015, 2017}, f.cpu, {std::size_t{64} << 20, chunk, 48}};
    q::serving_model<vl::cpu::executor> small{f.w, &f.vw, f.tok, {2015, 2017}, f.cpu, {std::size_t{600} << 10, chunk, 48}};
    const std::string images = std::string(VLGRAPH_TEST_DATA) + "/images/";
    std::vector<q::message> chat{{"system", {q::content_part::of_text("You are a careful agent. Answer briefly.")}, std::nullopt}};
    std::int64_t reused = 0;
    for (int turn = 0; turn < 6; ++turn) {
        q::message user{"user", {}, std::nullopt};
        if (turn == 0) user.content.push_back(q::content_part::of_image(images + "img_a_128x160.png"));
        if (turn == 3) user.content.push_back(q::content_part::of_image(images + "img_b_96x64.png"));
        user.content.push_back(q::content_part::of_text("Turn " + std::to_string(turn) + ": " + std::string(static_cast<std::size_t>(5 + 9 * turn), 'a' + turn)));
        chat.push_back(std::move(user));
        const q::prepared_prompt p = q::prepare_prompt(chat, {}, {&f.config, &f.chat, &f.tok, &f.pre});
        q::serving_request r{p.input_ids, p.pixel_values, p.grids, {}, 12};
        r.sampling.greedy = true;
        const turn_result without = run_alone(f.model, r, chunk), with = run_alone(cached, r, chunk), with_small = run_alone(small, r, chunk);
        BOOST_TEST_CONTEXT("turn " << turn << " (" << p.input_ids.numel() << " prompt tokens, " << with.cached << " from the cache)") {
            BOOST_TEST(without.cached == 0);
            BOOST_TEST(same_bits(with.first_logits, without.first_logits), "the first token's logits, bit for bit");
            BOOST_TEST(with.tokens == without.tokens);
            BOOST_TEST(same_bits(with_small.first_logits, without.first_logits));
            BOOST_TEST(with_small.tokens == without.tokens);
            BOOST_TEST(with.cached % chunk == 0);
            BOOST_TEST(with.cached < p.input_ids.numel());
            if (turn > 0) BOOST_TEST(with.cached > 0, "a later turn resumes from the earlier turns' prefix");
        }
        reused += with.cached;
        chat.push_back({"assistant", {q::content_part::of_text(without.text)}, std::nullopt});
    }
    const sv::prefix_cache_stats st = cached.prefix_stats(), st_small = small.prefix_stats();
    BOOST_TEST_MESSAGE("prefix cache over 6 turns: " << st.hits << " hits of " << st.lookups << ", " << st.positions_reused << " of "
                       << st.positions_looked_up << " positions reused, " << st.entries << " entries, " << st.bytes << " bytes; 600 KiB cache: "
                       << st_small.evictions << " evictions, " << st_small.bytes << " bytes");
    BOOST_TEST(st.hits == 5u);
    BOOST_TEST(st.positions_reused == static_cast<std::uint64_t>(reused));
    BOOST_TEST(st_small.evictions > 0u);
    BOOST_TEST(st_small.bytes <= std::size_t{600} << 10);
    BOOST_TEST(st_small.bytes > 0u, "it holds something");
    BOOST_TEST(f.model.prefix_stats().lookups == 0u, "no cache, no lookups");
}

BOOST_AUTO_TEST_CASE(the_scheduler_reports_the_cached_tokens_in_the_usage) {
    fixture f;
    q::serving_model<vl::cpu::executor> cached{f.w, &f.vw, f.tok, {2015, 2017}, f.cpu, {std::size_t{64} << 20, 16}};
    sv::scheduler<decltype(cached)> s(cached, {.max_batch = 4, .max_queue = 4, .prefill_chunk = 16});
    const outcome first = drain(*s.submit(make_request(f, 5)));
    q::serving_request again = make_request(f, 5);
    const std::int64_t n = again.input_ids.numel();
    const outcome second = drain(*s.submit(std::move(again)));
    BOOST_TEST(first.usage.cached_tokens == 0);
    BOOST_TEST(second.usage.cached_tokens == (n - 1) / 16 * 16, "the same prompt again: every whole block but the one holding the last position");
    BOOST_TEST(second.tokens == first.tokens);
    sv::scheduler<decltype(cached)> wrong(cached, {.max_batch = 1, .max_queue = 1, .prefill_chunk = 32});
    const outcome refused = drain(*wrong.submit(make_request(f, 5)));
    BOOST_TEST(refused.error.find("prefix cache was made for 16") != std::string::npos, refused.error);
}
