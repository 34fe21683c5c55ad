// vlgraph/models/qwen36/serving.hpp — Qwen3.6 as the model side of continuous batching
// (vl::serve::scheduler): a request's prompt through the vision tower and a chunked prefill, then one
// token per decode step of a batch, sampled per request.
//
//     vl::qwen36::serving_model<vl::cpu::executor> model(w, &vision, tok, gen.eos_token_ids, cpu);
//     vl::serve::scheduler<decltype(model)> s(model, {.max_batch = 8});
//     auto out = s.submit({prompt.input_ids, prompt.pixel_values, prompt.grids, sampling, 256});
//
// A prefill chunk is language_forward over the next positions of the prompt (the prompt's embeddings
// made once, image rows spliced in); the decode step is a language_program over the running sequences'
// caches (recorded again when the set of sequences changes; on CUDA one graph launch per step). Each
// sequence's key/value buffers are reserved for its prompt + max_new_tokens when it starts, so they never
// move under a recorded step. Sampling is the request's own sampler (seeded per request), on the host.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>
#include <vlgraph/serve/scheduler.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vl::qwen36 {

struct serving_request {
    tensor input_ids;             // i64 [L], image tokens expanded (prepare_prompt)
    tensor pixel_values;          // the images' patches (undefined without images)
    std::vector<grid_thw> grids;  // one per image
    sampling_options sampling;
    std::int64_t max_new_tokens = 256;
};

template <class Executor>
class serving_model {
public:
    using request = serving_request;

    struct sequence {
        std::uint64_t serial;                 // tells sequences apart (a new one may reuse a freed one's address)
        std::vector<std::int64_t> context;    // prompt and generated ids (the repetition penalty reads them)
        std::int64_t prompt_tokens, image_tokens;
        rope_index rope;
        tensor embeds;                        // [L, D] the prompt's input embeddings, until its prefill is done
        model_cache cache;
        index_t prefilled = 0;
        sampler pick;
        text::bpe_tokenizer::stream_decoder text;
        std::int64_t max_new_tokens, generated = 0;
    };

    // vision: null for a checkpoint without a vision tower (requests with images are then refused).
    serving_model(const language_weights& w, const vision_weights* vision, const tokenizer& tok, std::vector<std::int64_t> eos_token_ids, Executor& exec)
        : w_(&w), vision_(vision), tok_(&tok), eos_(std::move(eos_token_ids)), exec_(&exec) {}

    // Checks the request, runs the vision tower and embeds the prompt.
    std::unique_ptr<sequence> start(request&& r) {
        const text_config& c = w_->config.text;
        if (r.input_ids.rank() != 1 || r.input_ids.extent(0) < 1) throw shape_error("serving: input_ids must be [L] with L >= 1");
        if (r.max_new_tokens < 1) throw config_error("serving: max_new_tokens must be >= 1, got " + std::to_string(r.max_new_tokens));
        const tensor ids = r.input_ids.to(dtype::i64).contiguous();
        const index_t n = ids.numel();
        if (n + r.max_new_tokens > c.max_position_embeddings)
            throw config_error("serving: prompt (" + std::to_string(n) + " tokens) + max_new_tokens (" + std::to_string(r.max_new_tokens) +
                               ") exceeds max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")");
        const std::span<const std::int64_t> id_span{ids.data<std::int64_t>(), static_cast<std::size_t>(n)};
        for (const std::int64_t id : id_span)
            if (id < 0 || id >= c.vocab_size) throw shape_error("serving: token id " + std::to_string(id) + " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
        tensor image_embeds;
        if (r.pixel_values.defined()) {
            if (!vision_) throw config_error("serving: this checkpoint has no vision tower");
            image_embeds = vision_forward(*vision_, r.pixel_values, r.grids, *exec_).image_embeds;
        }
        auto s = std::unique_ptr<sequence>(new sequence{next_serial_++, {id_span.begin(), id_span.end()}, n,
                                                        static_cast<std::int64_t>(std::count(id_span.begin(), id_span.end(), w_->config.image_token_id)),
                                                        get_rope_index(id_span, r.grids, {}, w_->config), embed_prompt(*w_, ids, image_embeds, *exec_),
                                                        model_cache::empty(c, *exec_), 0, sampler(r.sampling),
                                                        text::bpe_tokenizer::stream_decoder(tok_->bpe, /*skip_special=*/true), r.max_new_tokens, 0});
        s->cache.reserve = n + r.max_new_tokens;  // the keys and values never move while it decodes
        return s;
    }

    // The next ≤ `chunk` prompt positions; after the last, the first generated token.
    std::optional<serve::step_result> prefill(sequence& s, index_t chunk) {
        const index_t n = s.embeds.extent(0), m = std::min(chunk, n - s.prefilled);
        const tensor positions = s.rope.position_ids.slice(1, s.prefilled, s.prefilled + m).contiguous();
        const language_output out = language_forward(*w_, s.embeds.slice(0, s.prefilled, s.prefilled + m), positions, s.cache, *exec_);
        s.prefilled += m;
        if (s.prefilled < n) return std::nullopt;
        s.embeds = tensor{};
        return emit(s, exec_->to_host(out.logits).to(dtype::f32).contiguous(), 0);
    }

    // One token of each sequence, in one step.
    std::vector<serve::step_result> decode(std::span<sequence* const> batch) {
        std::vector<std::uint64_t> serials;
        std::vector<model_cache*> caches;
        std::vector<std::int64_t> ids;
        const auto b = static_cast<index_t>(batch.size());
        tensor positions = tensor::empty({3, b}, dtype::i64);
        for (index_t i = 0; i < b; ++i) {
            sequence& s = *batch[static_cast<std::size_t>(i)];
            serials.push_back(s.serial);
            caches.push_back(&s.cache);
            ids.push_back(s.context.back());
            for (index_t axis = 0; axis < 3; ++axis) positions.data<std::int64_t>()[axis * b + i] = s.cache.length + s.rope.rope_delta;
        }
        if (!step_ || serials != step_serials_) {  // the batch changed: record its step
            step_.reset();
            step_.emplace(*w_, caches, *exec_);
            step_serials_ = serials;
        }
        const tensor logits = exec_->to_host(step_->run_ids(ids, positions)).to(dtype::f32).contiguous();
        std::vector<serve::step_result> out;
        for (index_t i = 0; i < b; ++i) out.push_back(emit(*batch[static_cast<std::size_t>(i)], logits, i));
        return out;
    }

    serve::usage usage_of(const sequence& s) const { return {s.prompt_tokens, s.generated, 0}; }

private:
    // Samples row `row` of host logits [rows, V] for s.
    serve::step_result emit(sequence& s, const tensor& logits, index_t row) {
        const std::span<const float> v{logits.data<float>() + row * logits.extent(1), static_cast<std::size_t>(logits.extent(1))};
        const std::int32_t id = s.pick.next(v, s.context);
        s.context.push_back(id);
        ++s.generated;
        serve::step_result r{id, s.text.push(id), std::nullopt};
        if (std::find(eos_.begin(), eos_.end(), std::int64_t{id}) != eos_.end()) r.finish = serve::finish_reason::stop;
        else if (s.generated >= s.max_new_tokens) r.finish = serve::finish_reason::length;
        if (r.finish) r.text += s.text.finish();
        return r;
    }

    const language_weights* w_;
    const vision_weights* vision_;
    const tokenizer* tok_;
    std::vector<std::int64_t> eos_;
    Executor* exec_;
    std::uint64_t next_serial_ = 0;
    std::optional<language_program<Executor>> step_;
    std::vector<std::uint64_t> step_serials_;
};

// The scheduler over a serving_model, behind one interface whatever the executor (what `vlgraph serve`
// holds): it owns the weights it was given, the executor, the model side and the scheduler.
class serving_engine {
public:
    virtual ~serving_engine() = default;
    // Throws serve::queue_full or serve::not_accepting.
    virtual std::shared_ptr<serve::token_stream> submit(serving_request r) = 0;
    virtual void stop(std::chrono::milliseconds grace) = 0;
    virtual serve::scheduler_stats stats() const = 0;
};

template <class Executor>
class serving_engine_on final : public serving_engine {
public:
    // vision: nullopt without a vision tower. The weights are in the executor's memory (or host tensors it
    // reads); the executor is made here from executor_args (it is neither copied nor moved).
    template <class... ExecutorArgs>
    serving_engine_on(language_weights w, std::optional<vision_weights> vision, const tokenizer& tok, std::vector<std::int64_t> eos_token_ids,
                      serve::scheduler_options options, ExecutorArgs&&... executor_args)
        : w_(std::move(w)), vision_(std::move(vision)), exec_(std::forward<ExecutorArgs>(executor_args)...), model_(w_, vision_ ? &*vision_ : nullptr, tok, std::move(eos_token_ids), exec_),
          scheduler_(model_, options) {}
    std::shared_ptr<serve::token_stream> submit(serving_request r) override { return scheduler_.submit(std::move(r)); }
    void stop(std::chrono::milliseconds grace) override { scheduler_.stop(grace); }
    serve::scheduler_stats stats() const override { return scheduler_.stats(); }

private:
    language_weights w_;
    std::optional<vision_weights> vision_;
    Executor exec_;
    serving_model<Executor> model_;
    serve::scheduler<serving_model<Executor>> scheduler_;
};

}  // namespace vl::qwen36
