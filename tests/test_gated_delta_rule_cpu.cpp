// vl::gated_delta_rule on the CPU backend:
//   * against HF transformers 5.23 (tests/data/golden, tools/reference/README.md): the chunked and recurrent
//     reference functions on random inputs for L ∈ {1, 63, 64, 65, 130} with an initial state (L65 also from a
//     zero state), and the delta rule inside layer 0 of the tiny model for the 181-token text prompt;
//   * against a naive f64 recurrence, both forms, L ∈ {1, 63, 64, 65, 130, 200}, decays that underflow exp,
//     β ∈ {0, 1}, Hv == Hk and d_k ≠ d_v;
//   * chunked == recurrent, a prompt split into calls == one call (prefill then decode too);
//   * the state as a side output: untouched until the eval, any floating dtype, any strides;
//   * bit-identity across thread counts, and the shape/dtype errors.
//
// Tolerance: max |got − ref| ≤ 1e-5 · max |ref| (vl::compare's max_rel) everywhere. HF's own chunked and
// recurrent functions differ by ~1e-6 on the goldens.
#define BOOST_TEST_MODULE gated_delta_rule_cpu
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>

#include <cmath>
#include <string>
#include <vector>

namespace {

using vl::delta_rule_form;
using vl::dims;
using vl::index_t;

constexpr double max_rel = 1e-5;
const std::string data_dir = VLGRAPH_TEST_DATA;

struct shape {
    index_t len, hk, hv, dk, dv;
};

// The op's inputs, as host f32 tensors (state included: the op overwrites it).
struct inputs {
    vl::tensor q, k, v, g, beta, state;
};

vl::tensor copy_of(const vl::tensor& t) { return t.to(t.type()); }
inputs copy_of(const inputs& in) { return {in.q, in.k, in.v, in.g, in.beta, copy_of(in.state)}; }

struct result {
    vl::tensor out, state;
};

// Runs the op on a copy of the inputs' state; returns the output and the final state.
result run(const inputs& in, delta_rule_form form, int threads = 2) {
    vl::cpu::executor cpu{threads};
    const inputs c = copy_of(in);
    vl::tensor out = vl::eval(vl::gated_delta_rule(vl::input<3>(c.q), vl::input<3>(c.k), vl::input<3>(c.v), vl::input<2>(c.g), vl::input<2>(c.beta), c.state, form), cpu);
    return {out, c.state};
}

// Reports max_rel of `got` against `ref` and requires it within `tol`.
double check_rel(const vl::tensor& got, const vl::tensor& ref, const std::string& what, double tol = max_rel) {
    const vl::error_stats s = vl::compare(got, ref);
    BOOST_TEST_MESSAGE(what << ": max relative error " << s.max_rel << " (max abs " << s.max_abs << ")");
    BOOST_TEST(!s.non_finite, what << " has non-finite values");
    BOOST_TEST(s.max_rel <= tol, what << ": max relative error " << s.max_rel << " > " << tol);
    return s.max_rel;
}

// "L<len>" (appended rather than "L" + std::to_string: GCC 12 warns falsely, -Wrestrict, on that form).
std::string label(index_t len) {
    std::string s = "L";
    s += std::to_string(len);
    return s;
}

const char* name_of(delta_rule_form f) { return f == delta_rule_form::chunked ? "chunked" : "recurrent"; }

// ---------------------------------------------------------------------------
// Naive f64 reference: the recurrence of the op header, token by token.
// ---------------------------------------------------------------------------
result naive(const inputs& in) {
    const index_t L = in.q.extent(0), hk = in.q.extent(1), dk = in.q.extent(2), hv = in.v.extent(1), dv = in.v.extent(2);
    const std::vector<double> q = vt::values(in.q), k = vt::values(in.k), v = vt::values(in.v), g = vt::values(in.g), beta = vt::values(in.beta);
    std::vector<double> S = vt::values(in.state), out(static_cast<std::size_t>(L * hv * dv));
    auto at = [](index_t i) { return static_cast<std::size_t>(i); };
    auto unit = [&](const std::vector<double>& x, index_t t, index_t head, double scale) {
        std::vector<double> r(at(dk));
        double ss = 0;
        for (index_t i = 0; i < dk; ++i) ss += x[at((t * hk + head) * dk + i)] * x[at((t * hk + head) * dk + i)];
        for (index_t i = 0; i < dk; ++i) r[at(i)] = x[at((t * hk + head) * dk + i)] / std::sqrt(ss + 1e-6) * scale;
        return r;
    };
    for (index_t h = 0; h < hv; ++h) {
        double* s = S.data() + h * dk * dv;
        for (index_t t = 0; t < L; ++t) {
            const index_t kh = h / (hv / hk);
            const std::vector<double> qh = unit(q, t, kh, 1 / std::sqrt(static_cast<double>(dk))), kn = unit(k, t, kh, 1);
            const double decay = std::exp(g[at(t * hv + h)]), b = beta[at(t * hv + h)];
            for (index_t i = 0; i < dk * dv; ++i) s[i] *= decay;
            for (index_t j = 0; j < dv; ++j) {
                double u = 0;
                for (index_t i = 0; i < dk; ++i) u += s[i * dv + j] * kn[at(i)];
                const double delta = b * (v[at((t * hv + h) * dv + j)] - u);
                for (index_t i = 0; i < dk; ++i) s[i * dv + j] += kn[at(i)] * delta;
                double o = 0;
                for (index_t i = 0; i < dk; ++i) o += s[i * dv + j] * qh[at(i)];
                out[at((t * hv + h) * dv + j)] = o;
            }
        }
    }
    return {vt::make({L, hv, dv}, [&](index_t i) { return out[at(i)]; }, vl::dtype::f64), vt::make(in.state.shape(), [&](index_t i) { return S[at(i)]; }, vl::dtype::f64)};
}

// Random inputs like the model's: q/k/v in [-1, 1] (pre-norm), g = −rate_h · U(0.1, 1) with per-head rates,
// beta in [0, 1], S_0 in [-0.5, 0.5].
inputs random_inputs(const shape& s, int salt, std::vector<double> rates = {0.02, 0.1, 0.5, 1.5, 0.05, 3.0}) {
    return {vt::make({s.len, s.hk, s.dk}, [&](index_t i) { return vt::uniform(i, salt); }),
            vt::make({s.len, s.hk, s.dk}, [&](index_t i) { return vt::uniform(i, salt + 1); }),
            vt::make({s.len, s.hv, s.dv}, [&](index_t i) { return vt::uniform(i, salt + 2); }),
            vt::make({s.len, s.hv}, [&](index_t i) { return -rates[static_cast<std::size_t>(i % s.hv) % rates.size()] * vt::uniform(i, salt + 3, 0.1, 1); }),
            vt::make({s.len, s.hv}, [&](index_t i) { return vt::uniform(i, salt + 4, 0, 1); }),
            vt::make({s.hv, s.dk, s.dv}, [&](index_t i) { return vt::uniform(i, salt + 5, -0.5, 0.5); })};
}

// Both forms against the naive recurrence.
void check_against_naive(const inputs& in, const std::string& what) {
    const result ref = naive(in);
    for (delta_rule_form f : {delta_rule_form::chunked, delta_rule_form::recurrent}) {
        const result r = run(in, f);
        check_rel(r.out, ref.out, what + " " + name_of(f) + " out");
        check_rel(r.state, ref.state, what + " " + name_of(f) + " state");
    }
}

// Rows [b, e) of a [L, ...] tensor, as a contiguous tensor.
vl::tensor rows(const vl::tensor& t, index_t b, index_t e) { return t.slice(0, b, e).contiguous(); }

// ---------------------------------------------------------------------------
// HF goldens
// ---------------------------------------------------------------------------
const vl::safetensors_file& golden_file(const std::string& file) {
    static const vl::safetensors_file rule = vl::safetensors_file::open(data_dir + "/golden/chunked_delta_rule.safetensors");
    static const vl::safetensors_file lm = vl::safetensors_file::open(data_dir + "/golden/lm.safetensors");
    return file == "rule" ? rule : lm;
}
// A golden tensor as f32, with the leading batch axis of 1 dropped when `drop_batch`.
vl::tensor golden(const std::string& file, const std::string& name, bool drop_batch) {
    vl::tensor t = golden_file(file).load(name, vl::dtype::f32);
    if (!drop_batch) return t;
    BOOST_TEST_REQUIRE(t.extent(0) == 1);
    return t.reshape(dims(t.shape().begin() + 1, t.shape().end()));
}

}  // namespace

BOOST_AUTO_TEST_CASE(matches_hf_reference_functions) {
    // HF's inputs are pre-l2norm and before repeat_interleave (use_qk_l2norm_in_kernel=True, Hk = 2, Hv = 6): the
    // op's own inputs.
    double worst = 0;
    for (index_t L : {1, 63, 64, 65, 130}) {
        const std::string p = label(L);
        auto gold = [&](const std::string& n) { return golden("rule", p + "." + n, true); };
        const inputs in{gold("query"), gold("key"), gold("value"), gold("g"), gold("beta"), gold("initial_state")};
        for (delta_rule_form f : {delta_rule_form::chunked, delta_rule_form::recurrent}) {
            const result r = run(in, f);
            // Each form against both HF functions: they agree with each other to ~1e-6.
            for (const std::string hf : {"chunk", "recurrent"}) {
                const std::string what = p + " " + name_of(f) + " vs HF " + hf;
                worst = std::max(worst, check_rel(r.out, gold(hf + ".out"), what + " out"));
                worst = std::max(worst, check_rel(r.state, gold(hf + ".final_state"), what + " final state"));
            }
            if (L != 65) continue;
            inputs zero = in;
            zero.state = vl::tensor::empty(in.state.shape(), vl::dtype::f32);
            const result z = run(zero, f);
            const std::string hf = f == delta_rule_form::chunked ? "chunk" : "recurrent";
            worst = std::max(worst, check_rel(z.out, gold(hf + ".zero_init.out"), p + " " + name_of(f) + " zero initial state out"));
            worst = std::max(worst, check_rel(z.state, gold(hf + ".zero_init.final_state"), p + " " + name_of(f) + " zero initial state final state"));
        }
    }
    BOOST_TEST_MESSAGE("worst max relative error vs HF goldens: " << worst);
}

BOOST_AUTO_TEST_CASE(matches_hf_layer0_of_the_tiny_model) {
    // The 181-token text prompt (2 full chunks + 53): HF's prefill runs the chunked rule from a zero state.
    auto gold = [](const std::string& n) { return golden("lm", "text.layers.0.linear_attn.chunk_rule." + n, false); };
    inputs in{gold("query"), gold("key"), gold("value"), gold("g"), gold("beta"), {}};
    in.state = vl::tensor::empty({in.v.extent(1), in.q.extent(2), in.v.extent(2)}, vl::dtype::f32);
    for (delta_rule_form f : {delta_rule_form::chunked, delta_rule_form::recurrent}) {
        const result r = run(in, f);
        check_rel(r.out, gold("out"), std::string("layer 0 ") + name_of(f) + " out");
        check_rel(r.state, gold("final_state"), std::string("layer 0 ") + name_of(f) + " final state");
    }
}

BOOST_AUTO_TEST_CASE(both_forms_match_a_naive_f64_recurrence) {
    for (index_t L : {1, 63, 64, 65, 130, 200}) check_against_naive(random_inputs({L, 2, 6, 16, 24}, static_cast<int>(L)), label(L));
    // One v-head per q/k head, d_k > d_v, and the real model's head size.
    check_against_naive(random_inputs({70, 3, 3, 40, 8}, 11), "Hv == Hk, dk 40, dv 8");
    check_against_naive(random_inputs({130, 1, 2, 128, 128}, 12), "dk = dv = 128");
}

BOOST_AUTO_TEST_CASE(extreme_gates) {
    const shape s{130, 2, 6, 16, 24};
    // Decays whose exp underflows (to subnormals and to 0 in f32, within one step and across a chunk): the
    // state forgets everything, no NaN from exp(γ_r − γ_s) of huge γs.
    check_against_naive(random_inputs(s, 21, {50, 100, 200, 1000, 1e4, 1e30}), "g very negative");
    // β = 0: nothing is written, the state only decays; β = 1: each token overwrites its key's slot.
    for (double b : {0.0, 1.0}) {
        inputs in = random_inputs(s, 22);
        in.beta = vt::make({s.len, s.hv}, [&](index_t) { return b; });
        check_against_naive(in, "beta " + std::to_string(b));
    }
    // g = 0 (no decay) with β = 1, the longest memory.
    inputs in = random_inputs(s, 23);
    in.g = vt::make({s.len, s.hv}, [](index_t) { return 0.0; });
    in.beta = vt::make({s.len, s.hv}, [](index_t) { return 1.0; });
    check_against_naive(in, "g 0, beta 1");
}

BOOST_AUTO_TEST_CASE(chunked_equals_recurrent) {
    for (index_t L : {1, 63, 64, 65, 130, 200}) {
        const inputs in = random_inputs({L, 2, 6, 16, 24}, 30 + static_cast<int>(L));
        const result c = run(in, delta_rule_form::chunked), r = run(in, delta_rule_form::recurrent);
        check_rel(c.out, r.out, label(L) + " chunked vs recurrent out");
        check_rel(c.state, r.state, label(L) + " chunked vs recurrent state");
    }
}

BOOST_AUTO_TEST_CASE(split_sequences_continue_from_the_state) {
    const shape s{200, 2, 6, 16, 24};
    const inputs in = random_inputs(s, 40);
    const result whole = run(in, delta_rule_form::chunked);
    // Splits that cut chunks anywhere, then decode steps: prefill 150 (chunked in two calls) + 50 one-token steps.
    for (index_t cut : {1, 64, 100}) {
        vl::cpu::executor cpu{2};
        const vl::tensor state = copy_of(in.state);
        std::vector<vl::tensor> outs;
        auto call = [&](index_t b, index_t e, delta_rule_form f) {
            auto node = vl::gated_delta_rule(vl::input<3>(rows(in.q, b, e)), vl::input<3>(rows(in.k, b, e)), vl::input<3>(rows(in.v, b, e)),
                                             vl::input<2>(rows(in.g, b, e)), vl::input<2>(rows(in.beta, b, e)), state, f);
            outs.push_back(vl::eval(node, cpu));
        };
        call(0, cut, delta_rule_form::chunked);
        call(cut, 150, delta_rule_form::chunked);
        for (index_t t = 150; t < s.len; ++t) call(t, t + 1, delta_rule_form::recurrent);
        const std::string what = "split at " + std::to_string(cut) + ", 150, then 1-token steps";
        check_rel(state, whole.state, what + ": final state");
        std::vector<double> joined;
        for (const vl::tensor& o : outs) {
            const std::vector<double> part = vt::values(o);
            joined.insert(joined.end(), part.begin(), part.end());
        }
        BOOST_TEST_REQUIRE(joined.size() == static_cast<std::size_t>(whole.out.numel()));
        check_rel(vt::make(whole.out.shape(), [&](index_t i) { return joined[static_cast<std::size_t>(i)]; }), whole.out, what + ": outputs");
    }
}

BOOST_AUTO_TEST_CASE(the_state_is_written_by_the_eval_only) {
    const inputs in = random_inputs({65, 2, 6, 16, 24}, 50);
    const vl::tensor state = copy_of(in.state);
    auto node = vl::gated_delta_rule(vl::input<3>(in.q), vl::input<3>(in.k), vl::input<3>(in.v), vl::input<2>(in.g), vl::input<2>(in.beta), state);
    BOOST_TEST(vt::bit_identical(state, in.state), "building the node changed the state");
    vl::cpu::executor cpu{2};
    const vl::tensor out = vl::eval(node, cpu);
    const result ref = run(in, delta_rule_form::chunked);
    BOOST_TEST(vt::bit_identical(state, ref.state));
    BOOST_TEST(vt::bit_identical(out, ref.out));
    // No tokens: an empty output, the state as it was.
    const inputs none = random_inputs({0, 2, 6, 16, 24}, 51);
    const result r = run(none, delta_rule_form::chunked);
    BOOST_TEST(r.out.numel() == 0);
    BOOST_TEST(vt::bit_identical(r.state, none.state));
}

BOOST_AUTO_TEST_CASE(state_in_any_floating_dtype_and_layout) {
    const shape s{100, 2, 6, 16, 24};
    inputs in = random_inputs(s, 60);
    in.state = in.state.to(vl::dtype::bf16).to(vl::dtype::f32);  // values a bf16 state can hold
    for (delta_rule_form f : {delta_rule_form::chunked, delta_rule_form::recurrent}) {
        const result ref = run(in, f);
        // bf16: read exactly, computed in f32, rounded once when stored.
        inputs b = in;
        b.state = in.state.to(vl::dtype::bf16);
        const result rb = run(b, f);
        BOOST_TEST(vt::bit_identical(rb.out, ref.out), name_of(f) << ": bf16 state, output differs");
        BOOST_TEST(vt::bit_identical(rb.state, ref.state.to(vl::dtype::bf16)), name_of(f) << ": bf16 state, final state differs");
        // A strided view: the state stored [Hv, Dv, Dk] and seen through a permute (no unit stride), inside a bigger
        // cache tensor; and non-contiguous inputs (a permuted q).
        vl::tensor cache = vl::tensor::empty({2, s.hv, s.dv, s.dk}, vl::dtype::f32);
        vl::tensor view = cache.slice(0, 1, 2).reshape({s.hv, s.dv, s.dk}).permute({0, 2, 1});
        vl::tensor q_t = in.q.permute({1, 0, 2}).contiguous().permute({1, 0, 2});
        for (index_t i = 0; i < in.state.numel(); ++i) {
            const dims ix = vt::unravel(i, in.state.shape());
            cache.data<float>()[((s.hv + ix[0]) * s.dv + ix[2]) * s.dk + ix[1]] = in.state.data<float>()[i];
        }
        vl::cpu::executor cpu{2};
        const vl::tensor out =
            vl::eval(vl::gated_delta_rule(vl::input<3>(q_t), vl::input<3>(in.k), vl::input<3>(in.v), vl::input<2>(in.g), vl::input<2>(in.beta), view, f), cpu);
        BOOST_TEST(vt::bit_identical(out, ref.out), name_of(f) << ": strided state, output differs");
        BOOST_TEST(vt::bit_identical(view.contiguous(), ref.state), name_of(f) << ": strided state, final state differs");
        BOOST_TEST(vt::values(cache.slice(0, 0, 1)) == std::vector<double>(static_cast<std::size_t>(s.hv * s.dv * s.dk), 0.0), "the other cache slot was written");
    }
}

BOOST_AUTO_TEST_CASE(bit_identical_for_any_thread_count) {
    const inputs in = random_inputs({200, 2, 6, 16, 24}, 70);
    for (delta_rule_form f : {delta_rule_form::chunked, delta_rule_form::recurrent}) {
        const result one = run(in, f, 1), two = run(in, f, 2), three = run(in, f, 3);
        BOOST_TEST(vt::bit_identical(one.out, two.out), name_of(f) << " out, 1 vs 2 threads");
        BOOST_TEST(vt::bit_identical(one.state, two.state), name_of(f) << " state, 1 vs 2 threads");
        BOOST_TEST(vt::bit_identical(one.out, three.out), name_of(f) << " out, 1 vs 3 threads");
        BOOST_TEST(vt::bit_identical(one.state, three.state), name_of(f) << " state, 1 vs 3 threads");
    }
}

BOOST_AUTO_TEST_CASE(bad_shapes_and_states_are_errors) {
    const inputs in = random_inputs({5, 2, 6, 16, 24}, 80);
    auto build = [&](const vl::tensor& q, const vl::tensor& k, const vl::tensor& v, const vl::tensor& g, const vl::tensor& beta, const vl::tensor& state) {
        return [=] { (void)vl::gated_delta_rule(vl::input<3>(q), vl::input<3>(k), vl::input<3>(v), vl::input<2>(g), vl::input<2>(beta), state); };
    };
    auto f32 = [](dims d) { return vl::tensor::empty(std::move(d), vl::dtype::f32); };
    vt::check_throws<vl::shape_error>(build(f32({5, 2, 8}), in.k, in.v, in.g, in.beta, in.state), {"gated_delta_rule", "q and k"}, "q and k differ");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, f32({4, 6, 24}), in.g, in.beta, in.state), {"gated_delta_rule", "tokens"}, "v has fewer tokens");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, f32({5, 5, 24}), f32({5, 5}), f32({5, 5}), f32({5, 16, 24})), {"gated_delta_rule", "multiple"},
                                      "Hv not a multiple of Hk");
    vt::check_throws<vl::shape_error>(build(f32({5, 0, 16}), f32({5, 0, 16}), in.v, in.g, in.beta, in.state), {"gated_delta_rule", "multiple"}, "no q/k heads");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, in.v, f32({5, 3}), in.beta, in.state), {"gated_delta_rule", "g and beta"}, "g has 3 heads");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, in.v, in.g, f32({6, 6}), in.state), {"gated_delta_rule", "g and beta"}, "beta has 6 tokens");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, in.v, in.g, in.beta, f32({6, 24, 16})), {"gated_delta_rule", "[Hv, Dk, Dv]", "state [6, 24, 16]"},
                                      "state transposed");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, in.v, in.g, in.beta, f32({6, 16})), {"gated_delta_rule", "[Hv, Dk, Dv]"}, "state of rank 2");
    vt::check_throws<vl::shape_error>(build(in.q, in.k, in.v, in.g, in.beta, vl::tensor{}), {"gated_delta_rule", "empty"}, "no state");
    vt::check_throws<vl::dtype_error>(build(in.q, in.k, in.v, in.g, in.beta, vl::tensor::empty({6, 16, 24}, vl::dtype::i32)), {"gated_delta_rule", "floating", "I32"},
                                      "integer state");
    // A read-only state (a tensor mapped from a file) cannot take the final state.
    const vl::tensor mapped = golden_file("rule").get("L1.initial_state");
    BOOST_TEST_REQUIRE(mapped.storage_ptr()->read_only());
    vt::check_throws<vl::error>(build(in.q, in.k, in.v, in.g, in.beta, mapped.reshape({6, 16, 24})), {"gated_delta_rule", "read-only"}, "read-only state");
}
