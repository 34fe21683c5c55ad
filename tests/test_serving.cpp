// Continuous batching (vl::serve::scheduler over vl::qwen36::serving_model) on the bundled checkpoint:
//   - 8 requests sent together (they join a running batch, their prefills chunked and interleaved with the
//     decodes) give, token for token, what each gives alone — greedy and seeded sampling, one with an image;
//   - a request that fails to start fails alone; cancel() ends a stream with finish_reason cancelled;
//   - a full queue refuses (queue_full), a stopped scheduler refuses (not_accepting) and cancels what runs.
#define BOOST_TEST_MODULE serving
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/prompt.hpp>
#include <vlgraph/models/qwen36/serving.hpp>
#include <vlgraph/serve/scheduler.hpp>

#include <chrono>
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
