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
//
// Prefix cache (serving_options::prefix_cache_bytes > 0): after prefill calls that end on a multiple of the
// prefill chunk B — the last such position before a prompt's end, its end when that is one, the last one
// before each of the request's snapshot_after positions (where the next turn's prompt will differ), and
// every snapshot_every positions of a long prompt — the sequence's state is stored (cache_snapshot: GDN conv windows and recurrent states, the
// attention rows in blocks of B shared between a conversation's entries). A request whose prompt begins
// with a stored prefix starts from the longest one (leaving at least its last position to compute), runs
// the vision tower only for images that reach past it, and prefills the rest. Why only multiples of B: the
// prefill calls of a prompt are then [kB, (k+1)B) whether it resumed or not, so every position goes through
// exactly the computation it would go through without the cache — the same bits, not merely the same
// math (a snapshot at an arbitrary boundary, or one taken after decode steps, would follow other calls:
// the delta rule's chunks and the GEMM's row paths differ in their last bits). A completion's positions
// therefore come from the next turn's prefill, from the last block boundary of its prompt on.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/lockstep.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>
#include <vlgraph/serve/prefix_cache.hpp>
#include <vlgraph/serve/scheduler.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
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
    // Prompt positions after which the state is worth keeping (with a prefix cache): where a later request's
    // prompt is expected to stop sharing this one (prepared_prompt::stable_prefix). A snapshot is taken at
    // the last block boundary at or before each.
    std::vector<index_t> snapshot_after = {};
};

struct serving_options {
    std::size_t prefix_cache_bytes = 0;  // 0: no prefix cache
    index_t prefill_chunk = 256;         // the prefill calls' length B (the scheduler's prefill_chunk)
    index_t snapshot_every = 4096;       // within a long prompt, a snapshot every this many positions (rounded down to B)
};

// A sequence's state after a prefix of its positions (the payload of serve::prefix_cache).
struct cache_snapshot {
    struct kv_block {                      // positions [bB, (b+1)B) of every attention layer
        std::vector<tensor> keys, values;  // per attention layer, [B, Hkv, hd] in the executor's memory
        serve::byte_ledger::ticket charge;
    };
    std::vector<tensor> conv, recurrent;  // per GDN layer, in layer order
    std::vector<std::shared_ptr<const kv_block>> blocks;
};

// The content of a prompt's positions (prefix_cache keys): the token id, or for an image's positions a hash
// of its patches and grid (the same pad tokens stand for every image). Image patches: pixel_values' rows,
// t·h·w per image in order.
inline std::vector<std::uint64_t> prompt_content(std::span<const std::int64_t> ids, const tensor& pixel_values, std::span<const grid_thw> grids,
                                                 const model_config& config) {
    std::vector<std::uint64_t> content(ids.begin(), ids.end());
    if (grids.empty()) return content;
    const tensor pixels = pixel_values.to(dtype::f32).contiguous();
    const index_t row = pixels.extent(1);
    index_t patch = 0;
    std::size_t at = 0;  // next position to look at for an image token
    for (const grid_thw& g : grids) {
        const index_t patches = g.t * g.h * g.w;
        std::uint64_t h = 0x6A09E667F3BCC908ull ^ static_cast<std::uint64_t>(g.t * 1000003 + g.h * 1009 + g.w);
        const float* p = pixels.data<float>() + patch * row;
        for (index_t i = 0; i < patches * row; ++i) {
            std::uint32_t bits;
            std::memcpy(&bits, p + i, sizeof bits);
            h = (h ^ bits) * 0x100000001B3ull;  // FNV-1a over 32-bit words
        }
        h |= std::uint64_t{1} << 63;  // never a token id
        for (index_t t = 0; t < patches / config.vision.merge_unit(); ++t) {
            while (at < content.size() && ids[at] != config.image_token_id) ++at;
            if (at == content.size()) throw shape_error("prompt_content: fewer image tokens than the images' grids make");
            content[at++] = h;
        }
        patch += patches;
    }
    return content;
}

template <class Executor>
class serving_model {
public:
    using request = serving_request;
    using prefix_store = serve::prefix_cache<cache_snapshot>;

    struct sequence {
        std::uint64_t serial;                 // tells sequences apart (a new one may reuse a freed one's address)
        std::vector<std::int64_t> context;    // prompt and generated ids (the repetition penalty reads them)
        std::vector<std::uint64_t> content;   // the prompt's positions as prefix-cache keys (with a prefix cache)
        std::vector<index_t> snapshot_after;  // the request's
        std::int64_t prompt_tokens, image_tokens;
        rope_index rope;
        tensor embeds;                        // [L - cached, D] the input embeddings of the positions to prefill, until done
        model_cache cache;
        index_t cached = 0;                   // prompt positions restored from the prefix cache
        index_t prefilled = 0;
        sampler pick;
        text::bpe_tokenizer::stream_decoder text;
        std::int64_t max_new_tokens, generated = 0;
        tensor logits;                        // host f32 [1, V]: the distribution the last token was sampled from
    };

    // vision: null for a checkpoint without a vision tower (requests with images are then refused).
    serving_model(const language_weights& w, const vision_weights* vision, const tokenizer& tok, std::vector<std::int64_t> eos_token_ids, Executor& exec,
                  serving_options options = {})
        : w_(&w), vision_(vision), tok_(&tok), eos_(std::move(eos_token_ids)), exec_(&exec), options_(options) {
        if (options_.prefill_chunk < 1) throw config_error("serving: prefill_chunk must be >= 1, got " + std::to_string(options_.prefill_chunk));
        if (options_.prefix_cache_bytes > 0) prefix_.emplace(serve::prefix_cache_options{options_.prefix_cache_bytes, options_.prefill_chunk});
    }

    // Checks the request, resumes from the longest cached prefix of its prompt, runs the vision tower (for
    // the images past that prefix) and embeds the positions to prefill.
    std::unique_ptr<sequence> start(request&& r) {
        check(r);
        std::unique_ptr<sequence> s = new_sequence(r);
        if (prefix_) {
            s->content = prompt_content(s->context, r.pixel_values, r.grids, w_->config);
            if (const typename prefix_store::handle hit = prefix_->find(s->content, s->prompt_tokens - 1)) restore(*s, hit->snapshot, hit->length());
        }
        s->embeds = embed_from(r, s->cached);
        return s;
    }
    // Throws unless the request fits the model: ids in the vocabulary, prompt + max_new_tokens in the context.
    void check(const request& r) const {
        const text_config& c = w_->config.text;
        if (r.input_ids.rank() != 1 || r.input_ids.extent(0) < 1) throw shape_error("serving: input_ids must be [L] with L >= 1");
        if (r.max_new_tokens < 1) throw config_error("serving: max_new_tokens must be >= 1, got " + std::to_string(r.max_new_tokens));
        const index_t n = r.input_ids.extent(0);
        if (n + r.max_new_tokens > c.max_position_embeddings)
            throw config_error("serving: prompt (" + std::to_string(n) + " tokens) + max_new_tokens (" + std::to_string(r.max_new_tokens) +
                               ") exceeds max_position_embeddings (" + std::to_string(c.max_position_embeddings) + ")");
        const tensor ids = r.input_ids.to(dtype::i64).contiguous();
        for (index_t i = 0; i < n; ++i)
            if (const std::int64_t id = ids.data<std::int64_t>()[i]; id < 0 || id >= c.vocab_size)
                throw shape_error("serving: token id " + std::to_string(id) + " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    }
    // The vision tower's rows for the request's images from the first-th on (undefined if none), each image
    // encoded alone: an image's rows are then the same bits whichever images come with it (the GEMM's path
    // depends on its row count), so a request that resumes after its first images encodes only the others.
    tensor encode_images(const request& r, std::size_t first = 0) {
        if (!r.pixel_values.defined() || first >= r.grids.size()) return {};
        if (!vision_) throw config_error("serving: this checkpoint has no vision tower");
        index_t patch = 0, rows = 0;
        for (std::size_t k = 0; k < r.grids.size(); ++k) {
            const index_t patches = r.grids[k].t * r.grids[k].h * r.grids[k].w;
            if (k < first) patch += patches;
            else rows += patches / w_->config.vision.merge_unit();
        }
        tensor out;
        for (std::size_t k = first, row = 0; k < r.grids.size(); ++k) {
            const index_t patches = r.grids[k].t * r.grids[k].h * r.grids[k].w;
            const tensor one = vision_forward(*vision_, r.pixel_values.slice(0, patch, patch + patches).contiguous(), std::span(&r.grids[k], 1), *exec_).image_embeds;
            if (first + 1 == r.grids.size()) return one;
            if (!out.defined()) out = exec_->make_tensor(dims{rows, one.extent(1)}, one.type());
            vl::eval_into(vl::input<2>(one), *exec_, out.slice(0, static_cast<index_t>(row), static_cast<index_t>(row) + one.extent(0)));
            patch += patches, row += static_cast<std::size_t>(one.extent(0));
        }
        return out;
    }
    // start() with the image rows already made (by this or another rank: tensor_parallel_serving_model; no
    // prefix cache).
    std::unique_ptr<sequence> start(request&& r, const tensor& image_embeds) {
        check(r);  // (cheap; start(r) also checks before the vision tower)
        std::unique_ptr<sequence> s = new_sequence(r);
        s->embeds = embed_prompt(*w_, r.input_ids.to(dtype::i64).contiguous(), image_embeds, *exec_);
        return s;
    }

    // The next ≤ `chunk` prompt positions; after the last, the first generated token.
    std::optional<serve::step_result> prefill(sequence& s, index_t chunk) {
        if (prefix_ && chunk != options_.prefill_chunk)
            throw config_error("serving: prefill chunks of " + std::to_string(chunk) + " positions, but the prefix cache was made for " +
                               std::to_string(options_.prefill_chunk));
        const index_t n = s.prompt_tokens, m = std::min(chunk, n - s.prefilled), row = s.prefilled - s.cached;
        const tensor positions = s.rope.position_ids.slice(1, s.prefilled, s.prefilled + m).contiguous();
        const language_output out = language_forward(*w_, s.embeds.slice(0, row, row + m), positions, s.cache, *exec_);
        s.prefilled += m;
        const index_t every = std::max(options_.snapshot_every / options_.prefill_chunk, index_t{1}) * options_.prefill_chunk;
        // The last block boundary before the prompt's end (a request with the same prompt resumes there), the end
        // itself when it is one (a longer prompt resumes there), every `every` positions of a long prompt.
        const auto hinted = [&] {
            return std::any_of(s.snapshot_after.begin(), s.snapshot_after.end(), [&](index_t h) { return h / options_.prefill_chunk * options_.prefill_chunk == s.prefilled; });
        };
        if (prefix_ && s.prefilled % options_.prefill_chunk == 0 && (s.prefilled + options_.prefill_chunk >= n || s.prefilled % every == 0 || hinted()))
            store_snapshot(s);
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

    serve::usage usage_of(const sequence& s) const { return {s.prompt_tokens, s.generated, s.cached}; }
    // The prefix cache's counts (all zero without one).
    serve::prefix_cache_stats prefix_stats() const { return prefix_ ? prefix_->stats() : serve::prefix_cache_stats{}; }

private:
    std::unique_ptr<sequence> new_sequence(const request& r) {
        const tensor ids = r.input_ids.to(dtype::i64).contiguous();
        const index_t n = ids.numel();
        const std::span<const std::int64_t> id_span{ids.data<std::int64_t>(), static_cast<std::size_t>(n)};
        auto s = std::unique_ptr<sequence>(new sequence{next_serial_++, {id_span.begin(), id_span.end()}, {}, r.snapshot_after, n,
                                                        static_cast<std::int64_t>(std::count(id_span.begin(), id_span.end(), w_->config.image_token_id)),
                                                        get_rope_index(id_span, r.grids, {}, w_->config), {}, model_cache::empty(w_->config.text, *exec_), 0, 0,
                                                        sampler(r.sampling), text::bpe_tokenizer::stream_decoder(tok_->bpe, /*skip_special=*/true),
                                                        r.max_new_tokens, 0, {}});
        s->cache.reserve = n + r.max_new_tokens;  // the keys and values never move while it decodes
        return s;
    }

    // The input embeddings of prompt positions [from, L): the vision tower runs for the images that have a
    // position there (a suffix of the images; rows of the first one before `from` are dropped).
    tensor embed_from(const request& r, index_t from) {
        const tensor ids = r.input_ids.to(dtype::i64).contiguous();
        const index_t n = ids.numel();
        if (from == 0) return embed_prompt(*w_, ids, encode_images(r), *exec_);
        const std::int64_t* id = ids.data<std::int64_t>();
        const auto before_from = static_cast<index_t>(std::count(id, id + from, w_->config.image_token_id));  // image positions restored
        index_t token = 0;  // image tokens before the first image needed: images are in order, image k's are
        std::size_t first = 0;  // tokens [token, token + its count) of the image positions
        for (; first < r.grids.size(); ++first) {
            const grid_thw& g = r.grids[first];
            const index_t tokens = g.t * g.h * g.w / w_->config.vision.merge_unit();
            if (token + tokens > before_from) break;  // it has a position at or after `from`
            token += tokens;
        }
        const tensor suffix = ids.slice(0, from, n).contiguous();
        if (first == r.grids.size()) return embed_prompt(*w_, suffix, tensor{}, *exec_);
        const tensor rows = encode_images(r, first);
        return embed_prompt(*w_, suffix, rows.slice(0, before_from - token, rows.extent(0)), *exec_);  // less its rows before `from`
    }

    // Stores s's state after its first s.prefilled positions (a multiple of B), sharing the attention rows
    // of blocks an entry already holds.
    void store_snapshot(sequence& s) {
        const index_t p = s.prefilled, b = options_.prefill_chunk;
        const std::span<const std::uint64_t> content{s.content.data(), static_cast<std::size_t>(p)};
        cache_snapshot snap;
        if (const typename prefix_store::handle shared = prefix_->peek(content, p)) {
            if (shared->length() == p) return;  // already stored
            snap.blocks = shared->snapshot.blocks;
        }
        const auto copy = [&](const tensor& from) {
            tensor to = exec_->make_tensor(from.shape(), from.type());
            if (from.rank() == 2) vl::eval_into(vl::input<2>(from), *exec_, to);
            else vl::eval_into(vl::input<3>(from), *exec_, to);
            return to;
        };
        for (index_t k = static_cast<index_t>(snap.blocks.size()); k < p / b; ++k) {
            auto block = std::make_shared<cache_snapshot::kv_block>();
            std::size_t bytes = 0;
            for (const layer_cache& l : s.cache.layers)
                if (!l.conv_state.defined()) {
                    block->keys.push_back(copy(l.keys.slice(0, k * b, (k + 1) * b)));
                    block->values.push_back(copy(l.values.slice(0, k * b, (k + 1) * b)));
                    bytes += 2 * block->keys.back().nbytes();
                }
            block->charge = prefix_->ledger().charge(bytes);
            snap.blocks.push_back(std::move(block));
        }
        std::size_t own = 0;
        for (const layer_cache& l : s.cache.layers)
            if (l.conv_state.defined()) {
                snap.conv.push_back(copy(l.conv_state));
                snap.recurrent.push_back(copy(l.recurrent_state));
                own += snap.conv.back().nbytes() + snap.recurrent.back().nbytes();
            }
        prefix_->insert(std::vector<std::uint64_t>(content.begin(), content.end()), std::move(snap), own);
    }

    // s's cache as it was after the first `length` positions of the snapshot's prompt.
    void restore(sequence& s, const cache_snapshot& snap, index_t length) {
        const index_t b = options_.prefill_chunk;
        s.cache.make_room(length, w_->config.text, *exec_);
        std::size_t gdn = 0, attention = 0;
        for (layer_cache& l : s.cache.layers) {
            if (l.conv_state.defined()) {
                vl::eval_into(vl::input<2>(snap.conv[gdn]), *exec_, l.conv_state);
                vl::eval_into(vl::input<3>(snap.recurrent[gdn]), *exec_, l.recurrent_state);
                ++gdn;
                continue;
            }
            for (index_t k = 0; k < length / b; ++k) {
                const cache_snapshot::kv_block& block = *snap.blocks[static_cast<std::size_t>(k)];
                vl::eval_into(vl::input<3>(block.keys[attention]), *exec_, l.key_store.slice(0, k * b, (k + 1) * b));
                vl::eval_into(vl::input<3>(block.values[attention]), *exec_, l.value_store.slice(0, k * b, (k + 1) * b));
            }
            ++attention;
        }
        s.cache.advance(length);
        s.cached = s.prefilled = length;
    }

    // Samples row `row` of host logits [rows, V] for s.
    serve::step_result emit(sequence& s, const tensor& logits, index_t row) {
        const std::span<const float> v{logits.data<float>() + row * logits.extent(1), static_cast<std::size_t>(logits.extent(1))};
        s.logits = logits.slice(0, row, row + 1);
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
    serving_options options_;
    std::optional<prefix_store> prefix_;
    std::uint64_t next_serial_ = 0;
    std::optional<language_program<Executor>> step_;
    std::vector<std::uint64_t> step_serials_;
};

// Tensor parallelism (sharding.hpp): one serving_model per rank, each with its shard and executor, run in
// lockstep so that their collectives meet; rank 0 runs the vision tower (the only rank holding it) and every
// rank embeds the same rows. Each rank samples the same token from the same gathered logits (the same
// sampler, seeded alike): rank 0's result is reported.
template <class Executor>
class tensor_parallel_serving_model {
public:
    using request = serving_request;
    using rank_model = serving_model<Executor>;
    struct sequence {
        std::vector<std::unique_ptr<typename rank_model::sequence>> ranks;
    };

    // ranks[r]: rank r's model; the lockstep has one thread per rank.
    tensor_parallel_serving_model(std::vector<rank_model*> ranks, vl::lockstep& threads) : ranks_(std::move(ranks)), threads_(&threads) {
        if (static_cast<int>(ranks_.size()) != threads.size())
            throw config_error("tensor_parallel_serving_model: " + std::to_string(ranks_.size()) + " ranks for " + std::to_string(threads.size()) + " threads");
    }

    std::unique_ptr<sequence> start(request&& r) {
        ranks_[0]->check(r);  // every rank's check is the same: it fails here, before any rank starts
        const tensor image_embeds = ranks_[0]->encode_images(r);
        auto s = std::make_unique<sequence>();
        s->ranks.resize(ranks_.size());
        threads_->run([&](int k) { s->ranks[static_cast<std::size_t>(k)] = ranks_[static_cast<std::size_t>(k)]->start(request(r), image_embeds); });
        return s;
    }
    std::optional<serve::step_result> prefill(sequence& s, index_t chunk) {
        std::vector<std::optional<serve::step_result>> out(ranks_.size());
        threads_->run([&](int k) { out[static_cast<std::size_t>(k)] = ranks_[static_cast<std::size_t>(k)]->prefill(*s.ranks[static_cast<std::size_t>(k)], chunk); });
        return out[0];
    }
    std::vector<serve::step_result> decode(std::span<sequence* const> batch) {
        std::vector<std::vector<serve::step_result>> out(ranks_.size());
        threads_->run([&](int k) {
            std::vector<typename rank_model::sequence*> mine;
            for (sequence* s : batch) mine.push_back(s->ranks[static_cast<std::size_t>(k)].get());
            out[static_cast<std::size_t>(k)] = ranks_[static_cast<std::size_t>(k)]->decode(mine);
        });
        return out[0];
    }
    serve::usage usage_of(const sequence& s) const { return ranks_[0]->usage_of(*s.ranks[0]); }

private:
    std::vector<rank_model*> ranks_;
    vl::lockstep* threads_;
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
    // A prefix cache of prefix_cache_bytes (0: none), its blocks the scheduler's prefill chunk.
    template <class... ExecutorArgs>
    serving_engine_on(language_weights w, std::optional<vision_weights> vision, const tokenizer& tok, std::vector<std::int64_t> eos_token_ids,
                      serve::scheduler_options options, std::size_t prefix_cache_bytes, ExecutorArgs&&... executor_args)
        : w_(std::move(w)), vision_(std::move(vision)), exec_(std::forward<ExecutorArgs>(executor_args)...),
          model_(w_, vision_ ? &*vision_ : nullptr, tok, std::move(eos_token_ids), exec_, {prefix_cache_bytes, options.prefill_chunk}),
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

// The same over tensor-parallel ranks: shards[r] is rank r's shard (language_weights::load_shard with a
// communicator of one group, which must outlive the engine), executors[r] its executor, threads one thread
// per rank; the vision tower is rank 0's.
template <class Executor>
class tensor_parallel_serving_engine final : public serving_engine {
public:
    tensor_parallel_serving_engine(std::vector<language_weights> shards, std::optional<vision_weights> vision, const tokenizer& tok,
                                   const std::vector<std::int64_t>& eos_token_ids, serve::scheduler_options options,
                                   std::vector<std::unique_ptr<Executor>> executors, std::unique_ptr<vl::lockstep> threads)
        : shards_(std::move(shards)), vision_(std::move(vision)), executors_(std::move(executors)), threads_(std::move(threads)) {
        std::vector<serving_model<Executor>*> ranks;
        for (std::size_t r = 0; r < shards_.size(); ++r) {
            models_.push_back(std::make_unique<serving_model<Executor>>(shards_[r], r == 0 && vision_ ? &*vision_ : nullptr, tok, eos_token_ids, *executors_[r]));
            ranks.push_back(models_.back().get());
        }
        model_.emplace(std::move(ranks), *threads_);
        scheduler_.emplace(*model_, options);
    }
    ~tensor_parallel_serving_engine() override { scheduler_.reset(); }  // the loop ends before the models go
    std::shared_ptr<serve::token_stream> submit(serving_request r) override { return scheduler_->submit(std::move(r)); }
    void stop(std::chrono::milliseconds grace) override { scheduler_->stop(grace); }
    serve::scheduler_stats stats() const override { return scheduler_->stats(); }

private:
    std::vector<language_weights> shards_;
    std::optional<vision_weights> vision_;
    std::vector<std::unique_ptr<Executor>> executors_;
    std::unique_ptr<vl::lockstep> threads_;
    std::vector<std::unique_ptr<serving_model<Executor>>> models_;
    std::optional<tensor_parallel_serving_model<Executor>> model_;
    std::optional<serve::scheduler<tensor_parallel_serving_model<Executor>>> scheduler_;
};

}  // namespace vl::qwen36
