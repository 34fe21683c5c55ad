// vlgraph/models/qwen36/language.hpp — the Qwen3.5/3.6 language model (HF Qwen3_5TextModel + lm_head),
// spec §5, §6, §7.
//
//     auto w = vl::qwen36::language_weights::load(model_dir, vl::dtype::f32);
//     vl::cpu::executor cpu{8};
//     auto r = vl::qwen36::get_rope_index(ids, image_grids, {}, w.config);            // rope_index.hpp
//     auto embeds = vl::qwen36::embed_prompt(w, input_ids, image_embeds, cpu);        // [L, D]
//     auto cache = vl::qwen36::model_cache::empty(w.config.text, cpu);
//     auto out = vl::qwen36::language_forward(w, embeds, r.position_ids, cache, cpu);  // out.logits: [1, V]
//
// Notation: D = hidden_size, V = vocab_size, I = intermediate_size; full attention: H query heads, Hkv
// key/value heads, hd = head_dim, rd = rotary_dim; Gated DeltaNet: Hk q/k heads of Dk, Hv v-heads of Dv,
// C = conv_dim = 2·Hk·Dk + Hv·Dv, K = conv_kernel_size.
//
//   h = embed_tokens[ids], image rows replaced by the vision tower's output           §5.1
//   for each layer:                                                                   §5.3
//       h = h + mixer(RMSNorm₁₊w(h))      mixer = Gated DeltaNet (§5.5) or gated attention (§5.4)
//       h = h + down(silu(gate(n)) ⊙ up(n)),  n = RMSNorm₁₊w(h)
//   logits = lm_head(RMSNorm₁₊w(h))
//
// language_forward runs the L new positions that follow the cache.length positions already in `cache`
// (a whole prompt, or one piece of it: a prompt split into several calls gives the same result as one
// call, to rounding), and leaves the cache holding every position so far: the GDN layers' conv window
// and recurrent state, the attention layers' keys and values. It is language_step evaluated eagerly; the
// same step recorded once and replayed is language_program (decode, prefill chunks: vlgraph/program.hpp),
// which is how generate and prompt_logits run. Each layer is a few vl::evals (the residual stream is
// materialised after every layer); the cache updates are nodes of the step — the conv window written in
// place, the delta-rule state updated in place, keys and values written at the cache length read when the
// step runs (write_rows) —, so a recorded step changes nothing on the host. Every intermediate is named as
// the HF module whose output it is (`layers.3.self_attn.q_norm.out`, ...) so that a trace compares node by
// node with HF forward-hook dumps.
#pragma once

#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/language_weights.hpp>
#include <vlgraph/models/qwen36/rope_index.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/vlgraph.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vl::qwen36 {

// ---------------------------------------------------------------------------------------------------
// Caches (spec §7)
// ---------------------------------------------------------------------------------------------------

// The state one decoder layer keeps between calls. A GDN layer uses conv_state and recurrent_state, an
// attention layer keys and values.
struct layer_cache {
    tensor conv_state;       // [K−1, C]: the last K−1 inputs of the causal conv (zeros before the first token)
    tensor recurrent_state;  // f32 [Hv, Dk, Dv]: the delta-rule state S (zeros before the first token); updated in place
    tensor keys, values;     // [T, Hkv, hd]: post-norm, post-RoPE keys and the values of the T positions so far (undefined while T = 0)
    // The buffers keys and values are the first T rows of ([capacity, Hkv, hd]): a step writes its positions
    // after them (write_rows), and a full buffer is replaced by one 1.5× larger before a step that needs
    // more room, so decoding does not copy the cache per step.
    tensor key_store, value_store;
};

struct model_cache {
    std::vector<layer_cache> layers;
    index_t length = 0;  // positions processed so far
    index_t reserve = 0;  // positions to make room for when the keys are first stored (e.g. prompt + max_new_tokens)

    // Room for `need` positions in every attention layer's key/value buffers (a full buffer is replaced by
    // one max(need, reserve, 1.5 × capacity) long, the cached rows copied over); a no-op when there is room.
    template <class Executor>
    void make_room(index_t need, const text_config& c, Executor& exec) {
        for (layer_cache& l : layers) {
            if (l.conv_state.defined()) continue;  // a GDN layer
            const index_t capacity = l.key_store.defined() ? l.key_store.extent(0) : 0;
            if (capacity >= need) continue;
            const dims shape{std::max({need, reserve, capacity + capacity / 2}), c.num_key_value_heads, c.head_dim};
            for (auto [store, used] : {std::pair{&l.key_store, &l.keys}, std::pair{&l.value_store, &l.values}}) {
                tensor grown = exec.make_tensor(shape, dtype_of_v<typename Executor::compute_type>);
                if (length > 0) vl::eval_into(vl::input<3>(*used), exec, grown.slice(0, 0, length));
                *store = std::move(grown);
                *used = length > 0 ? store->slice(0, 0, length) : tensor{};
            }
        }
    }
    // The positions a step has written are now part of the cache.
    void advance(index_t n) {
        length += n;
        for (layer_cache& l : layers)
            if (l.key_store.defined()) {
                l.keys = l.key_store.slice(0, 0, length);
                l.values = l.value_store.slice(0, 0, length);
            }
    }
    index_t capacity() const {
        for (const layer_cache& l : layers)
            if (!l.conv_state.defined()) return l.key_store.defined() ? l.key_store.extent(0) : 0;
        return std::numeric_limits<index_t>::max();  // no attention layer: nothing to hold
    }

    // The state of a new sequence: zero conv windows and recurrent states, no keys. Host tensors in f32 (the
    // recurrent state always f32, spec §10.11).
    static model_cache empty(const text_config& c) {
        model_cache cache;
        for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
            layer_cache l;
            if (!c.is_full_attention(i)) {
                l.conv_state = tensor::empty({conv_kernel_size - 1, c.linear_conv_dim()}, dtype::f32);
                l.recurrent_state = tensor::empty({c.linear_num_value_heads, c.linear_key_head_dim, c.linear_value_head_dim}, dtype::f32);
            }
            cache.layers.push_back(std::move(l));
        }
        return cache;
    }

    // The same in the executor's memory: the conv windows in its compute type (what the layer's projection
    // yields, as HF keeps them in the model dtype), the recurrent states in f32 whatever the executor.
    template <class Executor>
    static model_cache empty(const text_config& c, Executor& exec) {
        model_cache cache = empty(c);
        if constexpr (Executor::space != memory_space::host) {
            for (layer_cache& l : cache.layers) {
                if (!l.conv_state.defined()) continue;
                l.conv_state = exec.make_tensor(l.conv_state.shape(), dtype_of_v<typename Executor::compute_type>);
                l.recurrent_state = exec.make_tensor(l.recurrent_state.shape(), dtype::f32);
                exec.fill_zeros(l.conv_state);  // queued: no upload, no wait
                exec.fill_zeros(l.recurrent_state);
            }
        }
        return cache;
    }
};

// ---------------------------------------------------------------------------------------------------
// Host helpers
// ---------------------------------------------------------------------------------------------------

// MRoPE tables (spec §6.1), f32 [L, rd] each, from position_ids [3, L] (rows T, H, W). With rd/2
// frequencies inv_freq[j] = θ^(−2j/rd), frequency j takes its position from axis
//     H  if j % 3 == 1 and j < 3·mrope_section[1],   W  if j % 3 == 2 and j < 3·mrope_section[2],   T otherwise
// (interleaved, not contiguous sections), and cos = [cos φ, cos φ], sin = [sin φ, sin φ] with φ[j] =
// position · inv_freq[j] — rotate_half pairs dims (j, j + rd/2). f32 throughout, as HF computes them (HF
// then casts to the model dtype: f32 here).
// (text_rotary_into writes them into given host tensors of n·rd floats each: a recorded step's inputs.)
inline void text_rotary_into(const tensor& position_ids, const text_config& c, const tensor& cos, const tensor& sin) {
    if (position_ids.rank() != 2 || position_ids.extent(0) != 3)
        throw shape_error("text_rotary: position_ids must be [3, L] (T, H, W rows), got " + to_string(position_ids.shape()));
    const index_t n = position_ids.extent(1), rd = c.rotary_dim(), half = rd / 2;
    if (cos.numel() != n * rd || sin.numel() != n * rd || cos.type() != dtype::f32 || sin.type() != dtype::f32 || !cos.is_contiguous() || !sin.is_contiguous())
        throw shape_error("text_rotary: the tables must be contiguous f32 of " + std::to_string(n) + " × " + std::to_string(rd) + " values");
    const tensor pos = position_ids.to(dtype::i64);
    const std::int64_t* p = pos.data<std::int64_t>();
    float *cp = cos.data<float>(), *sp = sin.data<float>();
    for (index_t j = 0; j < half; ++j) {
        // HF: 1 / base ** (arange(0, rd, 2, f32) / rd), in f32
        const float inv_freq = 1.0f / std::pow(static_cast<float>(c.rope.theta), static_cast<float>(2 * j) / static_cast<float>(rd));
        const bool h = j % 3 == 1 && j < 3 * c.rope.mrope_section[1], w = j % 3 == 2 && j < 3 * c.rope.mrope_section[2];
        const index_t axis = h ? 1 : w ? 2 : 0;
        for (index_t t = 0; t < n; ++t) {
            const float angle = static_cast<float>(p[axis * n + t]) * inv_freq;
            for (const index_t at : {t * rd + j, t * rd + j + half}) {
                cp[at] = std::cos(angle);
                sp[at] = std::sin(angle);
            }
        }
    }
}
inline rotary_tables text_rotary(const tensor& position_ids, const text_config& c) {
    if (position_ids.rank() != 2 || position_ids.extent(0) != 3)
        throw shape_error("text_rotary: position_ids must be [3, L] (T, H, W rows), got " + to_string(position_ids.shape()));
    const index_t n = position_ids.extent(1), rd = c.rotary_dim();
    rotary_tables r{tensor::empty({n, rd}, dtype::f32), tensor::empty({n, rd}, dtype::f32)};
    text_rotary_into(position_ids, c, r.cos, r.sin);
    return r;
}

// The runs [begin, end) of image tokens in a prompt, in order; the i-th image token takes the i-th row
// of the image embeddings (HF masked_scatter). Throws unless there are exactly `image_rows` of them.
struct token_run {
    index_t begin, end;
};
inline std::vector<token_run> image_token_runs(std::span<const std::int64_t> input_ids, std::int64_t image_token_id, index_t image_rows) {
    std::vector<token_run> runs;
    index_t tokens = 0;
    for (index_t i = 0; i < static_cast<index_t>(input_ids.size()); ++i) {
        if (input_ids[static_cast<std::size_t>(i)] != image_token_id) continue;
        if (!runs.empty() && runs.back().end == i) ++runs.back().end;
        else runs.push_back({i, i + 1});
        ++tokens;
    }
    if (tokens != image_rows)
        throw shape_error("embed_prompt: the prompt has " + std::to_string(tokens) + " image tokens (id " + std::to_string(image_token_id) +
                          ") but the image embeddings have " + std::to_string(image_rows) + " rows");
    return runs;
}

// ---------------------------------------------------------------------------------------------------
// Graph pieces
// ---------------------------------------------------------------------------------------------------

// Partial rotary (spec §5.4.3): the first rd dims of each head rotate, the rest pass through.
//     x: [L, heads, hd],  cos, sin: [L, 1, rd]
template <floating_expression X, floating_expression C>
auto partial_rotary(X x_, C cos, C sin) {
    const index_t rd = cos.shape()[2], hd = x_.shape()[2];
    auto x = vl::share(std::move(x_));                                                              // [L, heads, hd]
    return vl::concat(-1, rotary_2d(vl::slice(x, -1, 0, rd), cos, sin), vl::slice(x, -1, rd, hd));  // [L, heads, hd]
}

// Causal depthwise conv (spec §5.5.2) of the L new inputs, given xpad = [K−1 earlier inputs ‖ L new inputs]:
//     c_t = Σ_j w[j] ⊙ xpad[t + j]      (tap K−1 on the current token; no bias)
// K shifted views times the tap rows, summed in one fused kernel.   xpad: [K−1+L, C], w: [K, C]
template <floating_expression X, floating_expression W>
auto causal_conv(const X& xpad, const W& w, index_t n) {
    const auto tap = [&](index_t j) { return vl::slice(xpad, 0, j, j + n) * vl::slice(w, 0, j, j + 1); };  // [L, C]
    return [&]<std::size_t... J>(std::index_sequence<J...>) {
        return (... + tap(static_cast<index_t>(J)));  // [L, C]
    }(std::make_index_sequence<conv_kernel_size>{});
}

// x + MLP(RMSNorm_post(x)), the second half of every decoder layer (spec §5.3). x: [L, D]
// tp: the tensor-parallel group the weights are a shard of (null: unsharded); down_proj is row-parallel.
template <floating_expression X>
auto mlp_residual(const decoder_layer_weights& w, const text_config& c, X x_, const std::string& prefix, communicator* tp) {
    auto x = vl::share(std::move(x_));                                                              // [L, D]
    auto n = vl::share(vl::name(prefix + "post_attention_layernorm.out",
                                vl::rms_norm(x, vl::input<1>(w.post_attention_layernorm), static_cast<float>(c.rms_norm_eps), rms_weight::one_plus)));  // [L, D]
    auto act = vl::silu(vl::linear(n, vl::input<2>(w.gate_proj))) * vl::linear(n, vl::input<2>(w.up_proj));  // [L, I]
    return x + vl::name(prefix + "mlp.out", vl::all_reduce_sum(vl::linear(act, vl::input<2>(w.down_proj)), tp));  // [L, D]
}

template <class Executor>
tensor input_norm(const decoder_layer_weights& w, const text_config& c, const tensor& hidden, const std::string& prefix, Executor& exec) {
    return vl::eval(vl::name(prefix + "input_layernorm.out",
                             vl::rms_norm(vl::input<2>(hidden), vl::input<1>(w.input_layernorm), static_cast<float>(c.rms_norm_eps), rms_weight::one_plus)),
                    exec);  // [L, D]
}

// The sequences one step runs: S sequences of n new positions each. The step's tensors hold their rows one
// sequence after another ([S·n, ...]: rows s·n .. s·n + n − 1 are sequence s's); sequence s has its own
// caches and its own cache length (pasts[s], i64 [1] read when the step runs).
// A prompt or a prefill chunk is one sequence of n positions; a decode step of a batch is S sequences of one.
// The projections and the MLP see all S·n rows at once (a decode batch's weights stream once); the causal
// conv, the delta rule and attention run per sequence, on its own state.
namespace detail {
// Sequence s's rows of a step tensor [S·n, ...].
inline tensor rows_of(const tensor& t, index_t s, index_t n) { return t.slice(0, s * n, s * n + n); }

// Evaluates sequence s's part of a per-sequence node into its rows of `out` ([S·n, ...], made by the caller);
// with one sequence, `out` is the node's own value (no copy).
template <class E, class Executor>
void eval_sequence_rows(const E& e, tensor& out, index_t s, index_t n, index_t sequences, Executor& exec) {
    if (sequences == 1) out = vl::eval(e, exec);
    else vl::eval_into(e, exec, rows_of(out, s, n));
}
}  // namespace detail

// A Gated DeltaNet layer (spec §5.5) on hidden [S·n, D]; advances each sequence's conv window and recurrent state.
template <class Executor>
tensor delta_net_layer(const decoder_layer_weights& lw, const delta_net_weights& w, const text_config& c, const tensor& hidden,
                       std::span<layer_cache* const> caches, index_t n, const std::string& prefix, communicator* tp, Executor& exec) {
    const index_t rows = hidden.extent(0), sequences = static_cast<index_t>(caches.size()), hk = c.linear_num_key_heads, dk = c.linear_key_head_dim,
                  hv = c.linear_num_value_heads, dv = c.linear_value_head_dim;
    const float eps = static_cast<float>(c.rms_norm_eps);
    const std::string p = prefix + "linear_attn.";
    const delta_rule_form form = n == 1 ? delta_rule_form::recurrent : delta_rule_form::chunked;   // HF: recurrent for one token
    const std::string rule = p + (form == delta_rule_form::chunked ? "chunk_rule." : "recurrent_rule.");
    const tensor normed = input_norm(lw, c, hidden, prefix, exec);                                 // [S·n, D]
    auto x = vl::input<2>(normed);                                                                  // [S·n, D]
    const tensor qkv = vl::eval(vl::name(p + "in_proj_qkv.out", vl::linear(x, vl::input<2>(w.in_proj_qkv))), exec);  // [S·n, C]
    const tensor b = vl::eval(vl::name(p + "in_proj_b.out", vl::linear(x, vl::input<2>(w.in_proj_b))), exec);       // [S·n, Hv]
    const tensor a = vl::eval(vl::name(p + "in_proj_a.out", vl::linear(x, vl::input<2>(w.in_proj_a))), exec);       // [S·n, Hv]

    tensor o = sequences == 1 ? tensor{} : exec.make_tensor(dims{rows, hv, dv}, dtype_of_v<typename Executor::compute_type>);  // [S·n, Hv, Dv]
    for (index_t s = 0; s < sequences; ++s) {
        layer_cache& cache = *caches[static_cast<std::size_t>(s)];
        // The conv window: the cached K−1 inputs, then the new ones; its last K−1 rows are the next window,
        // written over the cached one (in place: a recorded step updates the same buffer at every run).
        const tensor xpad = vl::eval(vl::concat(0, vl::input<2>(cache.conv_state), vl::input<2>(detail::rows_of(qkv, s, n))), exec);  // [K−1+n, C]
        vl::eval_into(vl::slice(vl::input<2>(xpad), 0, n, n + conv_kernel_size - 1), exec, cache.conv_state);  // [K−1, C]

        auto mixed = vl::share(vl::name(p + "conv.out", vl::silu(causal_conv(vl::input<2>(xpad), vl::input<2>(w.conv_weight), n))));  // [n, C]
        auto [q, k, v] = vl::split(mixed, -1, std::array<index_t, 3>{hk * dk, hk * dk, hv * dv});  // [n, Hk·Dk] ×2, [n, Hv·Dv]  views
        auto query = vl::name(rule + "query", vl::reshape(q, vl::shape_t<3>{n, hk, dk}));          // [n, Hk, Dk]
        auto key = vl::name(rule + "key", vl::reshape(k, vl::shape_t<3>{n, hk, dk}));              // [n, Hk, Dk]
        auto value = vl::name(rule + "value", vl::reshape(v, vl::shape_t<3>{n, hv, dv}));          // [n, Hv, Dv]
        auto beta = vl::name(rule + "beta", vl::sigmoid(vl::input<2>(detail::rows_of(b, s, n))));  // [n, Hv]
        // log decay g = −exp(A_log)·softplus(a + dt_bias) <= 0 (f32, softplus threshold 20)
        auto g = vl::name(rule + "g", -vl::exp(vl::input<1>(w.A_log)) * vl::softplus(vl::input<2>(detail::rows_of(a, s, n)) + vl::input<1>(w.dt_bias)));  // [n, Hv]
        detail::eval_sequence_rows(vl::name(rule + "out", vl::gated_delta_rule(query, key, value, g, beta, cache.recurrent_state, form)), o, s, n,
                                   sequences, exec);                                                // [n, Hv, Dv]
    }
    // Gated RMSNorm, norm before gate: RMSNorm_w(o) ⊙ silu(z), per v-head (plain weight, spec §10.1)
    auto z = vl::reshape(vl::name(p + "in_proj_z.out", vl::linear(x, vl::input<2>(w.in_proj_z))), vl::shape_t<3>{rows, hv, dv});  // [S·n, Hv, Dv]
    auto gated = vl::name(p + "norm.out", vl::rms_norm(vl::input<3>(o), vl::input<1>(w.norm), eps, rms_weight::plain) * vl::silu(z));  // [S·n, Hv, Dv]
    auto out = vl::name(p + "out_proj.out",
                        vl::all_reduce_sum(vl::linear(vl::reshape(gated, vl::shape_t<2>{rows, hv * dv}), vl::input<2>(w.out_proj)), tp));  // [S·n, D]
    return vl::eval(vl::name(prefix + "out", mlp_residual(lw, c, vl::input<2>(hidden) + out, prefix, tp)), exec);  // [S·n, D]
}

// A gated full-attention layer (spec §5.4) on hidden [S·n, D]: writes each sequence's keys and values into
// its cache's buffers at positions past .. past + n − 1 (its `past`: i64 [1] in the executor's memory, read
// when the step runs) and attends over them.
//     cos, sin: [S·n, 1, rd]
template <class Executor>
tensor attention_layer(const decoder_layer_weights& lw, const attention_weights& w, const text_config& c, const tensor& hidden, const tensor& cos_t,
                       const tensor& sin_t, std::span<const tensor> pasts, std::span<layer_cache* const> caches, index_t n, const std::string& prefix,
                       communicator* tp, Executor& exec) {
    const index_t rows = hidden.extent(0), sequences = static_cast<index_t>(caches.size()), heads = c.num_attention_heads,
                  kv_heads = c.num_key_value_heads, hd = c.head_dim;
    const float eps = static_cast<float>(c.rms_norm_eps);
    const std::string p = prefix + "self_attn.";
    const tensor normed = input_norm(lw, c, hidden, prefix, exec);                                 // [S·n, D]
    auto x = vl::input<2>(normed);                                                                  // [S·n, D]
    // q_proj rows are per head [query (hd) | gate (hd)] (spec §10.2)
    const tensor qg = vl::eval(vl::name(p + "q_proj.out", vl::linear(x, vl::input<2>(w.q_proj))), exec);  // [S·n, H·2hd]
    const tensor kp = vl::eval(vl::name(p + "k_proj.out", vl::linear(x, vl::input<2>(w.k_proj))), exec);  // [S·n, Hkv·hd]
    const tensor vp = vl::eval(vl::name(p + "v_proj.out", vl::linear(x, vl::input<2>(w.v_proj))), exec);  // [S·n, Hkv·hd]

    tensor attn = sequences == 1 ? tensor{} : exec.make_tensor(dims{rows, heads, hd}, dtype_of_v<typename Executor::compute_type>);  // [S·n, H, hd]
    for (index_t s = 0; s < sequences; ++s) {
        layer_cache& cache = *caches[static_cast<std::size_t>(s)];
        const tensor& past = pasts[static_cast<std::size_t>(s)];
        auto cos = vl::share(vl::input<3>(detail::rows_of(cos_t, s, n))), sin = vl::share(vl::input<3>(detail::rows_of(sin_t, s, n)));  // [n, 1, rd]  read once for q and k
        auto k = vl::name(p + "k_norm.out", vl::rms_norm(vl::reshape(vl::input<2>(detail::rows_of(kp, s, n)), vl::shape_t<3>{n, kv_heads, hd}),
                                                         vl::input<1>(w.k_norm), eps, rms_weight::one_plus));  // [n, Hkv, hd]
        auto v = vl::reshape(vl::input<2>(detail::rows_of(vp, s, n)), vl::shape_t<3>{n, kv_heads, hd});        // [n, Hkv, hd]
        auto keys = vl::write_rows(cache.key_store, past, partial_rotary(k, cos, sin));            // [capacity, Hkv, hd]  rows past.. written
        auto values = vl::write_rows(cache.value_store, past, v);                                   // [capacity, Hkv, hd]
        auto qs = vl::reshape(vl::input<2>(detail::rows_of(qg, s, n)), vl::shape_t<3>{n, heads, 2 * hd});  // [n, H, 2hd]
        auto q = vl::name(p + "q_norm.out", vl::rms_norm(vl::slice(qs, -1, 0, hd), vl::input<1>(w.q_norm), eps, rms_weight::one_plus));  // [n, H, hd]
        detail::eval_sequence_rows(vl::attention(partial_rotary(q, cos, sin), keys, values, 1.0f / std::sqrt(static_cast<float>(hd)),
                                                 vl::attention_mask::causal(past)),
                                   attn, s, n, sequences, exec);                                    // [n, H, hd]  GQA h -> h / (H / Hkv); keys <= past + i
    }
    auto gate = vl::reshape(vl::slice(vl::reshape(vl::input<2>(qg), vl::shape_t<3>{rows, heads, 2 * hd}), -1, hd, 2 * hd), vl::shape_t<2>{rows, heads * hd});  // [S·n, H·hd]
    auto o = vl::name(p + "o_proj.in0", vl::reshape(vl::input<3>(attn), vl::shape_t<2>{rows, heads * hd}) * vl::sigmoid(gate));  // [S·n, H·hd]
    auto out = vl::name(p + "o_proj.out", vl::all_reduce_sum(vl::linear(o, vl::input<2>(w.o_proj)), tp));  // [S·n, D]
    return vl::eval(vl::name(prefix + "out", mlp_residual(lw, c, vl::input<2>(hidden) + out, prefix, tp)), exec);  // [S·n, D]
}

// ---------------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------------

// The input embeddings of a prompt (spec §5.1): embed_tokens rows, and where input_ids holds the image
// token, the rows of image_embeds [N, D] in order (the vision tower's output for the prompt's images;
// undefined for a text-only prompt). input_ids: integer [L] on the host.
template <class Executor>
void embed_prompt_into(const language_weights& w, const tensor& input_ids, const tensor& image_embeds, const tensor& embeds, Executor& exec) {
    if (input_ids.rank() != 1) throw shape_error("embed_prompt: input_ids must be [L], got " + to_string(input_ids.shape()));
    vl::eval_into(vl::gather(vl::input<2>(w.embed_tokens), vl::indices<1>(input_ids)), exec, embeds);  // [L, D]
    const tensor ids = input_ids.to(dtype::i64);
    const index_t rows = image_embeds.defined() ? image_embeds.extent(0) : 0;
    if (image_embeds.defined() && (image_embeds.rank() != 2 || image_embeds.extent(1) != embeds.extent(1)))
        throw shape_error("embed_prompt: image_embeds must be [N, " + std::to_string(embeds.extent(1)) + "], got " + to_string(image_embeds.shape()));
    index_t row = 0;
    for (const token_run& r : image_token_runs({ids.data<std::int64_t>(), static_cast<std::size_t>(ids.numel())}, w.config.image_token_id, rows)) {
        vl::eval_into(vl::input<2>(image_embeds.slice(0, row, row + r.end - r.begin)), exec, embeds.slice(0, r.begin, r.end));
        row += r.end - r.begin;
    }
}
// The same into a new tensor [L, D] in the executor's memory.
template <class Executor>
tensor embed_prompt(const language_weights& w, const tensor& input_ids, const tensor& image_embeds, Executor& exec) {
    if (input_ids.rank() != 1) throw shape_error("embed_prompt: input_ids must be [L], got " + to_string(input_ids.shape()));
    tensor embeds = exec.make_tensor(dims{input_ids.extent(0), w.config.text.hidden_size}, dtype_of_v<typename Executor::compute_type>);
    embed_prompt_into(w, input_ids, image_embeds, embeds, exec);
    return embeds;
}

struct forward_options {
    index_t logits_positions = 1;     // logits for this many last positions (the next-token distribution needs 1)
    bool keep_hidden_states = false;  // keep the input and every layer's output
};

struct language_output {
    tensor logits;                      // [logits_positions, V]
    tensor last_hidden_state;           // [L, D]: after the final norm
    std::vector<tensor> hidden_states;  // when asked for: [0] = the input embeddings, [i + 1] = the output of layer i
};

// What a step reads that changes from one step to the next, in the executor's memory, for S sequences of n
// positions each (their rows one after another). A recorded step (language_program) reads them where they
// lie at every run.
struct step_inputs {
    tensor ids;                 // integer [S·n]: token ids, embedded by the step (decode); or undefined, then
    tensor embeds;              // [S·n, D]: the input embeddings (a prompt, image rows spliced in)
    tensor cos, sin;            // [S·n, 1, rd]: the MRoPE tables of the positions (computed in f32; any floating dtype)
    std::vector<tensor> pasts;  // i64 [1] per sequence: the positions already in its cache
};

// One step of the model for S sequences (caches[s] is sequence s's): the n positions after the `pasts[s]`
// ones in each cache. Reads the caches and writes the new positions' state into them (conv windows,
// recurrent states, keys and values at rows past ..), but changes nothing on the host: the caller advances
// each cache's length (model_cache::advance). The key/value buffers must have room for past + n positions
// (model_cache::make_room). Several sequences take one position each (a decode batch); their logits are
// one row each, and a row's value does not depend on the other sequences of the batch.
template <class Executor>
language_output language_step(const language_weights& w, const step_inputs& in, std::span<model_cache* const> caches, Executor& exec,
                              const forward_options& options = {}) {
    const text_config& c = w.config.text;
    language_output out;
    tensor hidden = in.ids.defined() ? vl::eval(vl::gather(vl::input<2>(w.embed_tokens), vl::indices<1>(in.ids)), exec)  // [S·n, D]
                                     : in.embeds;                                                                         // [S·n, D]
    const auto sequences = static_cast<index_t>(caches.size());
    const index_t rows = hidden.extent(0), n = sequences > 0 ? rows / sequences : 0;
    if (sequences < 1 || n * sequences != rows || in.pasts.size() != caches.size())
        throw shape_error("language_step: " + std::to_string(rows) + " rows for " + std::to_string(sequences) + " sequences and " + std::to_string(in.pasts.size()) +
                          " cache lengths");
    if (sequences > 1 && (n != 1 || options.logits_positions != 1 || options.keep_hidden_states))
        throw shape_error("language_step: a step of several sequences takes one position of each and gives each one row of logits");
    if (options.keep_hidden_states) out.hidden_states.push_back(hidden);
    std::vector<layer_cache*> layer_caches(caches.size());
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
        const decoder_layer_weights& lw = w.layers[i];
        const std::string prefix = "layers." + std::to_string(i) + ".";
        for (std::size_t s = 0; s < caches.size(); ++s) layer_caches[s] = &caches[s]->layers[i];
        if (const auto* gdn = std::get_if<delta_net_weights>(&lw.mixer))
            hidden = delta_net_layer(lw, *gdn, c, hidden, layer_caches, n, prefix, w.tp, exec);                          // [S·n, D]
        else
            hidden = attention_layer(lw, std::get<attention_weights>(lw.mixer), c, hidden, in.cos, in.sin, in.pasts, layer_caches, n, prefix, w.tp, exec);  // [S·n, D]
        if (options.keep_hidden_states) out.hidden_states.push_back(hidden);
    }
    out.last_hidden_state = vl::eval(
        vl::name("norm.out", vl::rms_norm(vl::input<2>(hidden), vl::input<1>(w.norm), static_cast<float>(c.rms_norm_eps), rms_weight::one_plus)), exec);  // [S·n, D]
    const index_t logits_rows = sequences > 1 ? rows : options.logits_positions;  // several sequences: each one's position
    auto last = vl::slice(vl::input<2>(out.last_hidden_state), 0, rows - logits_rows, rows);                   // [n_logits, D]
    out.logits = vl::eval(vl::name("logits", vl::all_gather_columns(vl::linear(last, vl::input<2>(w.lm_head)), w.tp)), exec);  // [n_logits, V]  (a shard: its V/n rows, gathered)
    return out;
}

namespace detail {
inline void check_step(const language_weights& w, const model_cache& cache, index_t n, const tensor* position_ids, index_t logits_positions) {
    const text_config& c = w.config.text;
    if (position_ids && (position_ids->rank() != 2 || position_ids->extent(0) != 3 || position_ids->extent(1) != n))
        throw shape_error("language_forward: position_ids must be [3, " + std::to_string(n) + "], got " + to_string(position_ids->shape()));
    if (cache.layers.size() != w.layers.size())
        throw shape_error("language_forward: the cache has " + std::to_string(cache.layers.size()) + " layers, the model " + std::to_string(w.layers.size()));
    if (cache.length + n > c.max_position_embeddings)
        throw config_error("language_forward: " + std::to_string(cache.length) + " cached + " + std::to_string(n) + " new positions exceed the context (max_position_embeddings " +
                           std::to_string(c.max_position_embeddings) + ")");
    if (logits_positions < 0 || logits_positions > n)
        throw shape_error("language_forward: logits for " + std::to_string(logits_positions) + " positions of " + std::to_string(n));
}
}  // namespace detail

// The L positions after the cache's (embeds [L, D], position_ids integer [3, L]), evaluated eagerly;
// updates the cache.
template <class Executor>
language_output language_forward(const language_weights& w, const tensor& embeds, const tensor& position_ids, model_cache& cache, Executor& exec,
                                 const forward_options& options = {}) {
    const text_config& c = w.config.text;
    const index_t n = embeds.extent(0);
    if (embeds.rank() != 2 || embeds.extent(1) != c.hidden_size)
        throw shape_error("language_forward: embeds must be [L, " + std::to_string(c.hidden_size) + "], got " + to_string(embeds.shape()));
    detail::check_step(w, cache, n, &position_ids, options.logits_positions);

    step_inputs in;
    in.embeds = embeds;
    const rotary_tables rope = text_rotary(position_ids, c);
    in.cos = rope.cos.reshape({n, 1, c.rotary_dim()});
    in.sin = rope.sin.reshape({n, 1, c.rotary_dim()});
    in.pasts = {tensor::from(std::vector<std::int64_t>{cache.length}, {1})};
    if constexpr (Executor::space != memory_space::host) {
        in.cos = exec.to_device(in.cos);
        in.sin = exec.to_device(in.sin);
        in.pasts[0] = exec.to_device(in.pasts[0]);
    }
    cache.make_room(cache.length + n, c, exec);
    model_cache* const caches[] = {&cache};
    language_output out = language_step(w, in, caches, exec, options);
    cache.advance(n);
    return out;
}

// A step recorded once as a program (vlgraph/program.hpp) and run at every cache length: decode (one
// position from token ids: the embedding is part of the step), a prefill chunk of L positions (from
// embeddings), or a decode batch (one position of each of S sequences, from token ids). It is bound to its
// caches, whose key/value buffers hold `capacity` positions (made room for when it is recorded); the
// positions, cache lengths and ids or embeddings are read from its inputs at every run.
//
//     qwen36::language_program<vl::cuda::executor<vl::bf16>> decode(w, cache, 1, /*from_ids=*/true, 1, gpu);
//     for (...) { const vl::tensor& logits = decode.run_ids(token, text_position_ids(pos, 1)); ... }
//
//     model_cache* batch[] = {&a, &b, &c};                                    // three sequences, one step
//     qwen36::language_program<vl::cpu::executor> step(w, batch, cpu);         // logits [3, V]
//     step.run_ids(next_ids, positions);                                       // ids [3], position_ids [3, 3]
//
// run_*() write the inputs (host side: pinned staging on CUDA, copied up by the program itself), replay the
// program (one CUDA graph launch on CUDA; nothing waits) and advance the caches; the logits (in the
// executor's memory) are rewritten by the next run.
template <class Executor>
class language_program {
public:
    // One sequence: `positions` positions from ids or embeddings, logits of the last `logits_positions`.
    language_program(const language_weights& w, model_cache& cache, index_t positions, bool from_ids, index_t logits_positions, Executor& exec,
                     index_t capacity = 0)
        : language_program(w, std::array<model_cache*, 1>{&cache}, positions, from_ids, logits_positions, exec, capacity) {}
    // A decode batch: one position of each of caches.size() sequences, from ids; logits [S, V].
    language_program(const language_weights& w, std::span<model_cache* const> caches, Executor& exec)
        : language_program(w, caches, 1, /*from_ids=*/true, 1, exec, 0) {}

    // The next positions from token ids (checked against the vocabulary here: the device does not report them).
    const tensor& run_ids(std::span<const std::int64_t> ids, const tensor& position_ids) {
        if (!host_.ids.defined()) throw error("language_program::run_ids: this step was recorded from embeddings");
        if (static_cast<index_t>(ids.size()) != rows()) throw shape_error("language_program: " + std::to_string(ids.size()) + " ids for a step of " + std::to_string(rows()));
        for (const std::int64_t id : ids)
            if (id < 0 || id >= w_->config.text.vocab_size)
                throw shape_error("language_program: token id " + std::to_string(id) + " outside the vocabulary [0, " + std::to_string(w_->config.text.vocab_size) + ")");
        std::copy(ids.begin(), ids.end(), host_.ids.template data<std::int64_t>());
        return run(position_ids);
    }
    // The next positions from embeddings [L, D] (copied into the step's input first).
    const tensor& run_embeds(const tensor& embeds, const tensor& position_ids) {
        if (!in_.embeds.defined()) throw error("language_program::run_embeds: this step was recorded from token ids");
        if (embeds.shape() != in_.embeds.shape())
            throw shape_error("language_program: embeds " + to_string(embeds.shape()) + " for a step of " + to_string(in_.embeds.shape()));
        if (embeds.raw_data() != in_.embeds.raw_data()) vl::eval_into(vl::input<2>(embeds), *exec_, in_.embeds);
        return run(position_ids);
    }
    // The step's embeddings input, to be written in place before run_embeds(embeds_input(), ...).
    const tensor& embeds_input() const { return in_.embeds; }

private:
    language_program(const language_weights& w, std::span<model_cache* const> caches, index_t positions, bool from_ids, index_t logits_positions,
                     Executor& exec, index_t capacity)
        : w_(&w), caches_(caches.begin(), caches.end()), exec_(&exec), n_(positions) {
        const text_config& c = w.config.text;
        if (positions < 1) throw shape_error("language_program: a step has at least one position, got " + std::to_string(positions));
        if (caches_.empty()) throw shape_error("language_program: a step runs at least one sequence");
        const auto sequences = static_cast<index_t>(caches_.size());
        for (model_cache* cache : caches_) {
            detail::check_step(w, *cache, positions, nullptr, logits_positions);
            cache->make_room(std::max(capacity, cache->length + positions), c, exec);
            for (const layer_cache& l : cache->layers) stores_.push_back(l.key_store.defined() ? l.key_store.raw_data() : nullptr);
        }

        // Host side of the inputs (pinned on CUDA) and, on a device, their copies that the step reads.
        const dims rot{rows(), 1, c.rotary_dim()};
        host_.cos = exec.make_staging(rot, dtype::f32);
        host_.sin = exec.make_staging(rot, dtype::f32);
        host_past_ = exec.make_staging(dims{sequences}, dtype::i64);
        if (from_ids) host_.ids = exec.make_staging(dims{rows()}, dtype::i64);
        tensor past = host_past_;
        if constexpr (Executor::space == memory_space::host) {
            in_ = host_;
        } else {
            // In the compute dtype, converted once per run (HF casts the tables to the model dtype too).
            in_.cos = exec.make_tensor(rot, dtype_of_v<typename Executor::compute_type>);
            in_.sin = exec.make_tensor(rot, dtype_of_v<typename Executor::compute_type>);
            past = exec.make_tensor(dims{sequences}, dtype::i64);
            if (from_ids) in_.ids = exec.make_tensor(dims{rows()}, dtype::i64);
        }
        for (index_t s = 0; s < sequences; ++s) in_.pasts.push_back(past.slice(0, s, s + 1));
        if (!from_ids) in_.embeds = exec.make_tensor(dims{rows(), c.hidden_size}, dtype_of_v<typename Executor::compute_type>);

        program_ = vl::program<Executor>::record(exec, [&](Executor& e) {
            if constexpr (Executor::space != memory_space::host) {  // the inputs' upload is the program's first work
                vl::eval_into(vl::input<3>(host_.cos), e, in_.cos);
                vl::eval_into(vl::input<3>(host_.sin), e, in_.sin);
                vl::eval_into(vl::indices<1>(host_past_), e, past);
                if (from_ids) vl::eval_into(vl::indices<1>(host_.ids), e, in_.ids);
            }
            logits_ = language_step(*w_, in_, caches_, e, {logits_positions, false}).logits;
        });
    }

    index_t rows() const { return n_ * static_cast<index_t>(caches_.size()); }

    const tensor& run(const tensor& position_ids) {
        std::size_t layer = 0;
        for (std::size_t s = 0; s < caches_.size(); ++s) {
            const model_cache& cache = *caches_[s];
            detail::check_step(*w_, cache, n_, nullptr, 0);
            if (cache.length + n_ > cache.capacity())
                throw shape_error("language_program: " + std::to_string(cache.length) + " cached + " + std::to_string(n_) + " new positions exceed the " +
                                  std::to_string(cache.capacity()) + " positions it was recorded for");
            for (const layer_cache& l : cache.layers)
                if ((l.key_store.defined() ? l.key_store.raw_data() : nullptr) != stores_[layer++])
                    throw error("language_program: the cache's key/value buffers were replaced since the step was recorded: record it again");
            host_past_.template data<std::int64_t>()[s] = cache.length;
        }
        if (position_ids.rank() != 2 || position_ids.extent(0) != 3 || position_ids.extent(1) != rows())
            throw shape_error("language_program: position_ids must be [3, " + std::to_string(rows()) + "], got " + to_string(position_ids.shape()));
        text_rotary_into(position_ids, w_->config.text, host_.cos, host_.sin);
        program_.run();
        for (model_cache* cache : caches_) cache->advance(n_);
        return logits_;
    }

    const language_weights* w_;
    std::vector<model_cache*> caches_;
    Executor* exec_;
    index_t n_;
    std::vector<const void*> stores_;  // every cache's key buffers, layer by layer, as recorded
    step_inputs host_, in_;
    tensor host_past_;  // i64 [S]: the cache lengths, written at every run
    tensor logits_;
    vl::program<Executor> program_;
};

// The logits of every position of a prompt, from a fresh cache (HF: model(input_ids, pixel_values, ...).logits):
// [L, V] in the executor's memory, by one recorded prefill step (eagerly on a traced executor). input_ids: integer [L] on the host;
// image_embeds and position_ids as for embed_prompt and language_forward.
template <class Executor>
tensor prompt_logits(const language_weights& w, const tensor& input_ids, const tensor& image_embeds, const tensor& position_ids, Executor& exec) {
    model_cache cache = model_cache::empty(w.config.text, exec);
    const index_t n = input_ids.extent(0);
    if (exec.trace)  // a traced executor evaluates eagerly: every named node is read as it is computed
        return language_forward(w, embed_prompt(w, input_ids, image_embeds, exec), position_ids, cache, exec, {n, false}).logits;
    language_program<Executor> prefill(w, cache, n, /*from_ids=*/false, n, exec);
    embed_prompt_into(w, input_ids, image_embeds, prefill.embeds_input(), exec);
    return prefill.run_embeds(prefill.embeds_input(), position_ids);
}

}  // namespace vl::qwen36
