// vlgraph/models/qwen36/generate.hpp — autoregressive generation with the Qwen3.5/3.6 language model
// (HF GenerationMixin.generate for one prompt: greedy search or multinomial sampling).
//
//     auto w = vl::qwen36::language_weights::load(model_dir, vl::dtype::f32);
//     vl::qwen36::generate_options opt;
//     opt.max_new_tokens = 64;
//     opt.eos_token_ids = gen_cfg.eos_token_ids;                       // config.hpp: load_generation_config
//     opt.sampling = vl::qwen36::sampling_options::from(gen_cfg);      // or {.greedy = true}
//     opt.tokenizer = &tok.bpe;                                        // text pieces for the callback
//     auto r = vl::qwen36::generate(w, input_ids, image_embeds, image_grids, opt, cpu,
//                                   [](const vl::qwen36::token_event& e) { std::fputs(e.piece.c_str(), stdout); });
//
// Prefill: one recorded step over the whole prompt (image rows of image_embeds spliced at the image
// tokens, MRoPE positions from get_rope_index). Decode: a one-token step recorded once (language_program)
// and replayed per token — on CUDA one graph launch and one wait, for the logits the sampler reads; the
// token at sequence index p has position p + rope_delta on all three axes. Stops after an eos id (which is
// returned, as HF does) or max_new_tokens.
//
// Sampling (HF's logits processors, in HF's order): the repetition penalty (for every distinct id of the
// prompt and the tokens generated so far, a logit s becomes s / penalty if s > 0, s · penalty otherwise; in
// f32, also before greedy), temperature (logits / T), top-k (keep logits ≥ the
// k-th largest; ties kept), top-p (sort ascending, drop tokens whose ascending cumulative probability is
// ≤ 1 − top_p; the most likely token is always kept), softmax, one draw from a std::mt19937_64 seeded with
// `seed` (u = the top 53 bits / 2^53; the first token whose cumulative probability exceeds u·Σ). All in
// double on the host. temperature 0 means greedy. Greedy = argmax (the first index among equal maxima,
// like torch.argmax).
//
// Non-finite logits: NaN or +Inf anywhere is an error (vl::error naming the token id and decode step);
// −Inf is a masked token (never chosen); all −Inf is an error.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/text/bpe_tokenizer.hpp>
#include <vlgraph/vlgraph.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace vl::qwen36 {

// ---------------------------------------------------------------------------------------------------
// Sampling
// ---------------------------------------------------------------------------------------------------

struct sampling_options {
    double temperature = 1.0;  // > 0 (0 = greedy); NaN, ±Inf and negative values are errors
    std::int64_t top_k = 0;    // 0 disables; negative is an error; larger than the vocabulary = all
    double top_p = 1.0;        // in (0, 1]; 1 disables
    std::uint64_t seed = 0;
    bool greedy = true;  // argmax after the repetition penalty; temperature, top-k and top-p are then only validated
    double repetition_penalty = 1.0;  // > 0; 1 disables

    // Throws vl::config_error naming the bad field.
    void validate() const {
        if (std::isnan(temperature) || std::isinf(temperature) || temperature < 0)
            throw config_error("sampling: temperature must be a finite number >= 0, got " + std::to_string(temperature));
        if (top_k < 0) throw config_error("sampling: top_k must be >= 0 (0 disables it), got " + std::to_string(top_k));
        if (!(top_p > 0 && top_p <= 1)) throw config_error("sampling: top_p must be in (0, 1], got " + std::to_string(top_p));
        if (!(repetition_penalty > 0) || std::isinf(repetition_penalty))
            throw config_error("sampling: repetition_penalty must be a finite number > 0 (1 disables it), got " + std::to_string(repetition_penalty));
    }

    // generation_config.json's defaults (do_sample false → greedy).
    static sampling_options from(const generation_config& g, std::uint64_t seed = 0) {
        sampling_options s;
        s.temperature = g.temperature;
        s.top_k = g.top_k;
        s.top_p = g.top_p;
        s.repetition_penalty = g.repetition_penalty;
        s.seed = seed;
        s.greedy = !g.do_sample;
        return s;
    }
};

class sampler {
public:
    explicit sampler(const sampling_options& o) : options_(o), rng_(o.seed) { options_.validate(); }

    // The next token from one row of logits; `context` holds the ids so far (prompt and generated tokens),
    // which the repetition penalty acts on.
    std::int32_t next(std::span<const float> logits, std::span<const std::int64_t> context = {}) {
        if (logits.empty()) throw shape_error("sampler: empty logits");
        check_finite(logits);
        std::vector<float> penalised;
        if (options_.repetition_penalty != 1 && !context.empty()) {
            penalised = penalise(logits, context, static_cast<float>(options_.repetition_penalty));
            logits = penalised;
        }
        if (options_.greedy || options_.temperature == 0) return argmax(logits);
        return draw(logits);
    }

    static std::int32_t argmax(std::span<const float> logits) {
        if (logits.empty()) throw shape_error("sampler: empty logits");
        check_finite(logits);
        return static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }

    const sampling_options& options() const { return options_; }

private:
    static void check_finite(std::span<const float> logits) {
        bool any_finite = false;
        for (std::size_t i = 0; i < logits.size(); ++i) {
            const float v = logits[i];
            if (std::isnan(v) || v == std::numeric_limits<float>::infinity())
                throw error("sampler: logit of token " + std::to_string(i) + " is " + (std::isnan(v) ? "NaN" : "+Inf") +
                            " (the model produced non-finite values)");
            if (v != -std::numeric_limits<float>::infinity()) any_finite = true;
        }
        if (!any_finite) throw error("sampler: every logit is -Inf (no token can be chosen)");
    }

    // HF's RepetitionPenaltyLogitsProcessor: gather, where(s < 0, s · p, s / p), scatter — once per distinct id
    // (ids outside the vocabulary have no logit to penalise: ignored).
    static std::vector<float> penalise(std::span<const float> logits, std::span<const std::int64_t> context, float penalty) {
        std::vector<float> out(logits.begin(), logits.end());
        std::vector<bool> seen(out.size(), false);
        for (const std::int64_t id : context) {
            if (id < 0 || static_cast<std::size_t>(id) >= out.size() || seen[static_cast<std::size_t>(id)]) continue;
            seen[static_cast<std::size_t>(id)] = true;
            float& v = out[static_cast<std::size_t>(id)];
            v = v < 0 ? v * penalty : v / penalty;
        }
        return out;
    }

    std::int32_t draw(std::span<const float> logits) {
        const std::size_t n = logits.size();
        std::vector<double> x(n);
        for (std::size_t i = 0; i < n; ++i) x[i] = static_cast<double>(logits[i]) / options_.temperature;  // temperature
        const double ninf = -std::numeric_limits<double>::infinity();
        if (options_.top_k > 0 && static_cast<std::size_t>(options_.top_k) < n) {  // top-k: keep values >= the k-th largest
            std::vector<double> sorted = x;
            std::nth_element(sorted.begin(), sorted.begin() + (options_.top_k - 1), sorted.end(), std::greater<>());
            const double kth = sorted[static_cast<std::size_t>(options_.top_k - 1)];
            for (double& v : x)
                if (v < kth) v = ninf;
        }
        const double mx = *std::max_element(x.begin(), x.end());
        std::vector<double> p(n);
        double sum = 0;
        for (std::size_t i = 0; i < n; ++i) sum += p[i] = x[i] == ninf ? 0.0 : std::exp(x[i] - mx);
        for (double& v : p) v /= sum;
        if (options_.top_p < 1) {  // top-p, as HF: ascending order, drop cumulative <= 1 - top_p, keep the last
            std::vector<std::size_t> order(n);
            std::iota(order.begin(), order.end(), std::size_t{0});
            std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] < p[b]; });
            double cum = 0;
            for (std::size_t r = 0; r + 1 < n; ++r) {
                cum += p[order[r]];
                if (cum <= 1 - options_.top_p) p[order[r]] = 0;
            }
            sum = 0;
            for (const double v : p) sum += v;
            for (double& v : p) v /= sum;  // softmax of the kept logits
        }
        const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
        double cum = 0;
        std::int32_t last = -1;
        for (std::size_t i = 0; i < n; ++i) {
            if (p[i] <= 0) continue;
            last = static_cast<std::int32_t>(i);
            cum += p[i];
            if (u < cum) return last;
        }
        return last;  // rounding: u at the very top
    }

    sampling_options options_;
    std::mt19937_64 rng_;
};

// ---------------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------------

struct token_event {
    std::int32_t id;
    std::string piece;  // the text this token completes (streaming decoder; empty without a tokenizer)
    index_t step;       // 0-based index among the generated tokens
};

struct generate_options {
    std::int64_t max_new_tokens = 256;
    sampling_options sampling;
    std::vector<std::int64_t> eos_token_ids;  // empty: never stop early
    const text::bpe_tokenizer* tokenizer = nullptr;
    bool skip_special_in_pieces = true;  // pieces omit special tokens (<|im_end|> ...)
    bool keep_step_logits = false;       // keep every step's logits row (f32 [V]) in the result
};

struct generation_stats {
    index_t prompt_tokens = 0;  // incl. image tokens
    index_t image_tokens = 0;
    index_t generated_tokens = 0;
    double prefill_s = 0;  // embedding + prefill forward + the first token's sampling
    double decode_s = 0;   // the remaining steps
};

struct generation_result {
    std::vector<std::int32_t> tokens;     // generated ids (the eos, when one stopped generation, included)
    std::vector<std::vector<float>> step_logits;  // when asked for: [generated_tokens][V]
    bool stopped_at_eos = false;
    std::string text_tail;  // with a tokenizer: text the streaming decoder still held at the end (print after the pieces)
    generation_stats stats;
};

using token_callback = std::function<void(const token_event&)>;

// input_ids: integer [L] (image tokens already expanded); image_embeds: [N, D] rows for the image tokens in
// order (undefined for a text prompt); image_grids: their grids (get_rope_index).
template <class Executor>
generation_result generate(const language_weights& w, const tensor& input_ids, const tensor& image_embeds, std::span<const grid_thw> image_grids,
                           const generate_options& options, Executor& exec, const token_callback& on_token = {}) {
    using clock = std::chrono::steady_clock;
    const text_config& c = w.config.text;
    if (input_ids.rank() != 1 || input_ids.extent(0) < 1) throw shape_error("generate: input_ids must be [L] with L >= 1, got " + to_string(input_ids.shape()));
    if (options.max_new_tokens < 0) throw config_error("generate: max_new_tokens must be >= 0, got " + std::to_string(options.max_new_tokens));
    sampler pick(options.sampling);
    const tensor ids_t = input_ids.to(dtype::i64).contiguous();
    const std::span<const std::int64_t> ids{ids_t.data<std::int64_t>(), static_cast<std::size_t>(ids_t.numel())};
    const index_t n = ids_t.numel();
    if (n + options.max_new_tokens > c.max_position_embeddings)
        throw config_error("generate: prompt (" + std::to_string(n) + " tokens) + max_new_tokens (" + std::to_string(options.max_new_tokens) +
                           ") exceeds max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")");
    for (const std::int64_t id : ids)
        if (id < 0 || id >= c.vocab_size) throw shape_error("generate: token id " + std::to_string(id) + " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");

    generation_result res;
    res.stats.prompt_tokens = n;
    res.stats.image_tokens = static_cast<index_t>(std::count(ids.begin(), ids.end(), w.config.image_token_id));
    if (options.max_new_tokens == 0) return res;

    std::optional<text::bpe_tokenizer::stream_decoder> text_out;
    if (options.tokenizer) text_out.emplace(*options.tokenizer, options.skip_special_in_pieces);

    auto t0 = clock::now();
    const rope_index rope = get_rope_index(ids, image_grids, {}, w.config);
    model_cache cache = model_cache::empty(c, exec);
    const index_t capacity = n + options.max_new_tokens;  // the keys and values never move while generating
    tensor logits;
    {
        language_program<Executor> prefill(w, cache, n, /*from_ids=*/false, 1, exec, capacity);
        embed_prompt_into(w, ids_t, image_embeds, prefill.embeds_input(), exec);
        logits = prefill.run_embeds(prefill.embeds_input(), rope.position_ids);
    }

    std::vector<std::int64_t> context(ids.begin(), ids.end());  // prompt + generated, for the repetition penalty
    auto emit = [&](const tensor& logits) -> bool {  // samples, reports; true = stop
        const tensor row = exec.to_host(logits).to(dtype::f32).contiguous();
        const std::span<const float> v{row.data<float>(), static_cast<std::size_t>(row.numel())};
        const std::int32_t id = pick.next(v, context);
        if (options.keep_step_logits) res.step_logits.emplace_back(v.begin(), v.end());
        res.tokens.push_back(id);
        context.push_back(id);
        if (on_token) on_token({id, text_out ? text_out->push(id) : std::string(), static_cast<index_t>(res.tokens.size() - 1)});
        if (std::find(options.eos_token_ids.begin(), options.eos_token_ids.end(), std::int64_t{id}) != options.eos_token_ids.end()) {
            res.stopped_at_eos = true;
            return true;
        }
        return static_cast<std::int64_t>(res.tokens.size()) >= options.max_new_tokens;
    };
    bool stop = emit(logits);
    logits = tensor{};  // (it holds the prefill step's arena)
    res.stats.prefill_s = std::chrono::duration<double>(clock::now() - t0).count();

    t0 = clock::now();
    if (!stop) {
        language_program<Executor> decode(w, cache, 1, /*from_ids=*/true, 1, exec, capacity);
        while (!stop) {
            const std::int64_t next = res.tokens.back();
            stop = emit(decode.run_ids({&next, 1}, text_position_ids(cache.length + rope.rope_delta, 1)));
        }
    }
    res.stats.decode_s = std::chrono::duration<double>(clock::now() - t0).count();
    res.stats.generated_tokens = static_cast<index_t>(res.tokens.size());
    if (text_out) res.text_tail = text_out->finish();  // an unfinished UTF-8 sequence at the end (U+FFFD), usually empty
    return res;
}

}  // namespace vl::qwen36
