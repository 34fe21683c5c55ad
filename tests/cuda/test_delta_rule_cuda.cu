// tests/cuda/test_delta_rule_cuda.cu — vl::gated_delta_rule on executor<float> and executor<bf16>
// (backends/cuda/gated_delta_rule.cuh) against the CPU backend, both forms, from a nonzero initial state:
//
//   * L ∈ {1, 5, 64, 130, 200} with GQA (Hv 4 over Hk 2), Dk 16, Dv 24; Hv == Hk with Dv 72 (three column
//     tiles, the last partly used); the model's head size Dk = Dv = 128 (the largest register column); Dk 200
//     and 256 (the shared-memory columns); decays that underflow exp and decays near 0 (the longest memory);
//     each with host inputs and with device inputs in T;
//   * the two forms are one kernel on the GPU: bit-identical outputs and states;
//   * a prompt split into calls (two chunked calls, then one-token steps) continues from the state: bit-identical
//     to one call, and within tolerance of the CPU's one call;
//   * non-contiguous and fused inputs; g taken in f32 on executor<bf16> too; the state in bf16 and as a strided view inside a bigger cache tensor;
//     no tokens (the state untouched); a host state and Dk > 256 refused with a vl::backend_error.
//
// Tolerances: an element passes when |gpu - cpu| <= atol + rtol |cpu|. The GPU runs the token recurrence in
// f32 (FMA dot products, expf); the CPU runs the same recurrence with Eigen's operation order, or the chunked
// form (another order again). A host emulation of the kernel's arithmetic (glibc's expf for CUDA's) against the
// CPU backend on these cases used at most 0.4 of (1e-5, 1e-6) (the worst: the state after 200 tokens with
// decays near 0, chunked); f32_tolerance is twice that. The bf16 executor gets inputs already rounded to bf16, so the CPU sees exactly what the GPU
// computes from, and the state stays f32: its outputs add one bf16 rounding (relative u = 2^-8 at most),
// its final state keeps f32_tolerance.
//
// Exits with 77 (CTest: skipped) when no CUDA device is present.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace vl::test {
// tests/cuda/test_delta_rule_cuda_ref.cpp: the CPU backend's output; `state` (a host tensor) is overwritten
// with the final state.
tensor gated_delta_rule_cpu(const tensor& q, const tensor& k, const tensor& v, const tensor& g, const tensor& beta, const tensor& state,
                            delta_rule_form form);
}  // namespace vl::test

namespace {

using namespace vl;
using vl::test::check_close;
using vl::test::tolerance;

constexpr double u = 1.0 / 256;
constexpr tolerance f32_tolerance{2e-5, 2e-6};
constexpr tolerance bf16_tolerance{u + 2e-5, 2e-6};
constexpr tolerance exact{0, 0};

constexpr delta_rule_form forms[] = {delta_rule_form::chunked, delta_rule_form::recurrent};
std::string name_of(delta_rule_form f) { return f == delta_rule_form::chunked ? "chunked" : "recurrent"; }

struct problem {
    std::string what;
    index_t len, hk, hv, dk, dv;
    std::vector<float> rates = {0.02f, 0.1f, 0.5f, 1.5f, 0.05f, 3.0f};  // per v-head decay rates (cycled): g = −rate · U(0.1, 1)
};

const std::vector<problem>& problems() {
    static const std::vector<problem> all = {
        {"decode: L = 1, GQA Hv 4 over Hk 2, Dk 16, Dv 24", 1, 2, 4, 16, 24},
        {"L = 5", 5, 2, 4, 16, 24},
        {"L = 64: one whole chunk of the CPU's chunked form", 64, 2, 4, 16, 24},
        {"L = 130: chunks of 64, 64 and 2 on the CPU", 130, 2, 4, 16, 24},
        {"Hv == Hk, Dk 40, Dv 72: three column tiles, the last partly used", 33, 3, 3, 40, 72},
        {"the model's head size Dk = Dv = 128 (the largest register column), Hv 2 over Hk 1", 70, 1, 2, 128, 128},
        {"Dk 200: the state columns in shared memory", 66, 1, 2, 200, 48},
        {"Dk 256: the largest supported", 20, 1, 1, 256, 32},
        {"decays that underflow exp: the state forgets everything at each step", 70, 2, 4, 16, 24, {50, 100, 1000, 1e30f}},
        {"decays near 0 over 200 tokens: the longest memory", 200, 2, 4, 16, 24, {0.0f, 0.001f}},
    };
    return all;
}

// Uniform values in [lo, hi), seeded by the case and the tensor; rounded to bf16 values when asked.
tensor uniform(dims shape, const std::string& seed, float lo, float hi, bool bf16_values) {
    std::mt19937_64 rng(std::hash<std::string>{}(seed));
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<std::size_t>(checked_numel(shape)));
    for (float& x : v) x = dist(rng);
    const tensor t = tensor::from(v, std::move(shape));
    return bf16_values ? t.to(dtype::bf16).to(dtype::f32) : t;
}

// The op's inputs as host f32 tensors; `state` is S_0 (every run works on a copy).
struct inputs {
    tensor q, k, v, g, beta, state;
};

// Like the model's: q, k, v in [-1, 1] (before the op's normalisation), g = −rate · U(0.1, 1) per v-head, beta
// in [0, 1], S_0 in [-0.5, 0.5]. With bf16_values every input but the (f32) state holds bf16 values.
inputs random_inputs(const problem& p, bool bf16_values) {
    tensor g = uniform({p.len, p.hv}, p.what + "/g", 0.1f, 1.0f, false);
    float* gp = g.data<float>();
    for (index_t i = 0; i < g.numel(); ++i) gp[i] *= -p.rates[static_cast<std::size_t>(i % p.hv) % p.rates.size()];
    return {uniform({p.len, p.hk, p.dk}, p.what + "/q", -1, 1, bf16_values),
            uniform({p.len, p.hk, p.dk}, p.what + "/k", -1, 1, bf16_values),
            uniform({p.len, p.hv, p.dv}, p.what + "/v", -1, 1, bf16_values),
            bf16_values ? g.to(dtype::bf16).to(dtype::f32) : g,
            uniform({p.len, p.hv}, p.what + "/beta", 0, 1, bf16_values),
            uniform({p.hv, p.dk, p.dv}, p.what + "/state", -0.5f, 0.5f, false)};
}

tensor copy_of(const tensor& t) { return t.to(t.type()); }

// Output and final state, as host tensors.
struct result {
    tensor out, state;
};

result run_cpu(const inputs& in, delta_rule_form form) {
    const tensor state = copy_of(in.state);
    tensor out = test::gated_delta_rule_cpu(in.q, in.k, in.v, in.g, in.beta, state, form);
    return {out, state};
}

// The GPU from a device copy of S_0; q, k, v, g, beta as given (host or device tensors).
template <class T>
result run_gpu(vl::cuda::executor<T>& ex, const tensor& q, const tensor& k, const tensor& v, const tensor& g, const tensor& beta, const tensor& state0,
               delta_rule_form form) {
    const tensor state = vl::cuda::to_device(state0);
    const tensor out = eval(gated_delta_rule(input<3>(q), input<3>(k), input<3>(v), input<2>(g), input<2>(beta), state, form), ex);
    return {vl::cuda::to_host(out, ex.stream), vl::cuda::to_host(state, ex.stream)};
}

template <class T>
constexpr bool bf16_values = std::is_same_v<T, bf16>;
template <class T>
constexpr tolerance out_tolerance = bf16_values<T> ? bf16_tolerance : f32_tolerance;

template <class T>
void check_problem(const problem& p) {
    const inputs in = random_inputs(p, bf16_values<T>);
    auto on_device = [](const tensor& t) { return vl::cuda::to_device(t, dtype_of_v<T>); };
    vl::cuda::executor<T> ex;  // shared by every run: the arena is reused
    result gpu[2];
    for (int f = 0; f < 2; ++f) {
        const std::string form = name_of(forms[f]) + ", ";
        const result want = run_cpu(in, forms[f]);
        gpu[f] = run_gpu(ex, in.q, in.k, in.v, in.g, in.beta, in.state, forms[f]);
        check_close(form + "host inputs: output", gpu[f].out, want.out, out_tolerance<T>);
        check_close(form + "host inputs: final state", gpu[f].state, want.state, f32_tolerance);
        // Device inputs already in T are used in place (g is copied into the f32 operand the lowering asks for).
        const result d = run_gpu(ex, on_device(in.q), on_device(in.k), on_device(in.v), on_device(in.g), on_device(in.beta), in.state, forms[f]);
        check_close(form + "device inputs: output", d.out, want.out, out_tolerance<T>);
        check_close(form + "device inputs: final state", d.state, want.state, f32_tolerance);
    }
    check_close("one kernel for both forms: output", gpu[0].out, gpu[1].out, exact);
    check_close("one kernel for both forms: final state", gpu[0].state, gpu[1].state, exact);
}

// Rows [b, e) of a [L, ...] host tensor.
tensor rows(const tensor& t, index_t b, index_t e) { return t.slice(0, b, e).contiguous(); }

// A 200-token prompt cut anywhere into two chunked calls up to token 150, then 50 one-token (decode) steps, each
// call continuing from the state the previous one left: the same kernel on the same f32 state values, so
// bit-identical to one call.
template <class T>
void check_split_prompt() {
    const problem p{"split prompt", 200, 2, 4, 16, 24};
    const inputs in = random_inputs(p, bf16_values<T>);
    vl::cuda::executor<T> ex;
    const result whole = run_gpu(ex, in.q, in.k, in.v, in.g, in.beta, in.state, delta_rule_form::chunked);
    const result cpu = run_cpu(in, delta_rule_form::chunked);
    for (index_t cut : {1, 64, 100}) {
        const std::string what = "split at " + std::to_string(cut) + ", 150, then 1-token steps";
        const tensor state = vl::cuda::to_device(in.state);
        tensor joined = tensor::empty(whole.out.shape(), dtype_of_v<T>);
        auto call = [&](index_t b, index_t e, delta_rule_form form) {
            const tensor o = vl::cuda::to_host(eval(gated_delta_rule(input<3>(rows(in.q, b, e)), input<3>(rows(in.k, b, e)), input<3>(rows(in.v, b, e)),
                                                                 input<2>(rows(in.g, b, e)), input<2>(rows(in.beta, b, e)), state, form),
                                                ex),
                                           ex.stream);
            std::memcpy(static_cast<char*>(joined.raw_data()) + b * p.hv * p.dv * sizeof(T), o.raw_data(), o.nbytes());
        };
        call(0, cut, delta_rule_form::chunked);
        call(cut, 150, delta_rule_form::chunked);
        for (index_t t = 150; t < p.len; ++t) call(t, t + 1, delta_rule_form::recurrent);
        check_close(what + ": outputs vs one call", joined, whole.out, exact);
        check_close(what + ": final state vs one call", vl::cuda::to_host(state, ex.stream), whole.state, exact);
        check_close(what + ": outputs vs the CPU's one call", joined, cpu.out, out_tolerance<T>);
        check_close(what + ": final state vs the CPU's one call", vl::cuda::to_host(state, ex.stream), cpu.state, f32_tolerance);
    }
}

// q a permuted device view (stored head-major [Hk, L, Dk]), g given as −(−g) (a fused chain): the lowering
// packs them itself.
template <class T>
void check_strided_and_fused_inputs() {
    const problem p{"strided and fused inputs", 40, 2, 4, 16, 24};
    const inputs in = random_inputs(p, bf16_values<T>);
    const tensor q_heads = vl::cuda::to_device(in.q.permute({1, 0, 2}).contiguous(), dtype_of_v<T>).permute({1, 0, 2});
    tensor neg_g = copy_of(in.g);
    for (index_t i = 0; i < neg_g.numel(); ++i) neg_g.data<float>()[i] = -neg_g.data<float>()[i];  // exact
    vl::cuda::executor<T> ex;
    const tensor state = vl::cuda::to_device(in.state);
    const tensor out = eval(gated_delta_rule(input<3>(q_heads), input<3>(in.k), input<3>(in.v), -input<2>(neg_g), input<2>(in.beta), state), ex);
    const result want = run_cpu(in, delta_rule_form::chunked);
    check_close("output", vl::cuda::to_host(out, ex.stream), want.out, out_tolerance<T>);
    check_close("final state", vl::cuda::to_host(state, ex.stream), want.state, f32_tolerance);
}

// g reaches the kernel in f32 even on executor<bf16>: the lowering asks for it in f32 and an elementwise chain is
// stored there unrounded (elementwise.cuh). g = a · c of two bf16-valued inputs is exact in f32 but not in bf16;
// rounded to bf16 (2^-9 relative), each decay would be off by ~|g| 2^-9 and the final state far outside
// f32_tolerance.
template <class T>
void check_log_decay_in_f32() {
    const problem p{"log decay in f32", 100, 2, 4, 16, 24};
    inputs in = random_inputs(p, true);
    const tensor c = uniform({p.len, p.hv}, p.what + "/c", 0.5f, 1.5f, true);
    const tensor a = in.g;
    in.g = copy_of(a);
    for (index_t i = 0; i < a.numel(); ++i) in.g.data<float>()[i] = a.data<float>()[i] * c.data<float>()[i];  // exact: 8 + 8 significant bits
    vl::cuda::executor<T> ex;
    const tensor state = vl::cuda::to_device(in.state);
    const tensor out = eval(gated_delta_rule(input<3>(in.q), input<3>(in.k), input<3>(in.v), input<2>(a) * input<2>(c), input<2>(in.beta), state), ex);
    const result want = run_cpu(in, delta_rule_form::chunked);
    check_close("output", vl::cuda::to_host(out, ex.stream), want.out, out_tolerance<T>);
    check_close("final state", vl::cuda::to_host(state, ex.stream), want.state, f32_tolerance);
}

// The state in bf16 (read exactly, updated in f32, rounded once when stored), and an f32 state stored
// [Hv, Dv, Dk] in slot 1 of a [2, Hv, Dv, Dk] cache, seen through a permute (no unit stride).
template <class T>
void check_state_dtype_and_layout() {
    const problem p{"state dtype and layout", 100, 2, 4, 16, 24};
    inputs in = random_inputs(p, bf16_values<T>);
    in.state = in.state.to(dtype::bf16).to(dtype::f32);  // values a bf16 state holds exactly
    vl::cuda::executor<T> ex;
    for (delta_rule_form form : forms) {
        const result want = run_cpu(in, form);
        auto run = [&](const tensor& state) {
            return vl::cuda::to_host(eval(gated_delta_rule(input<3>(in.q), input<3>(in.k), input<3>(in.v), input<2>(in.g), input<2>(in.beta), state, form), ex),
                                 ex.stream);
        };
        const tensor bf16_state = vl::cuda::to_device(in.state, dtype::bf16);
        check_close(name_of(form) + ", bf16 state: output", run(bf16_state), want.out, out_tolerance<T>);
        check_close(name_of(form) + ", bf16 state: final state", vl::cuda::to_host(bf16_state, ex.stream), want.state, bf16_tolerance);

        tensor cache_host = tensor::empty({2, p.hv, p.dv, p.dk}, dtype::f32);
        for (index_t h = 0; h < p.hv; ++h)
            for (index_t i = 0; i < p.dk; ++i)
                for (index_t j = 0; j < p.dv; ++j)
                    cache_host.data<float>()[((p.hv + h) * p.dv + j) * p.dk + i] = in.state.data<float>()[(h * p.dk + i) * p.dv + j];
        const tensor cache = vl::cuda::to_device(cache_host);
        const tensor view = cache.slice(0, 1, 2).reshape({p.hv, p.dv, p.dk}).permute({0, 2, 1});
        check_close(name_of(form) + ", strided state: output", run(view), want.out, out_tolerance<T>);
        check_close(name_of(form) + ", strided state: final state", vl::cuda::to_host(view, ex.stream), want.state, f32_tolerance);
        check_close(name_of(form) + ", strided state: the other cache slot", vl::cuda::to_host(cache.slice(0, 0, 1), ex.stream), cache_host.slice(0, 0, 1), exact);
    }
}

// No tokens: an empty output, the state as it was.
template <class T>
void check_no_tokens() {
    const inputs in = random_inputs({"no tokens", 0, 2, 4, 16, 24}, bf16_values<T>);
    vl::cuda::executor<T> ex;
    for (delta_rule_form form : forms) {
        const result r = run_gpu(ex, in.q, in.k, in.v, in.g, in.beta, in.state, form);
        BOOST_TEST(r.out.numel() == 0);
        check_close(name_of(form) + ": state", r.state, in.state, exact);
    }
}

// The CUDA lowering updates the state on the device only: a host state is refused before anything runs.
template <class T>
void check_host_state_is_refused() {
    const inputs in = random_inputs({"host state", 3, 2, 4, 16, 24}, bf16_values<T>);
    const tensor state = copy_of(in.state);
    vl::cuda::executor<T> ex;
    BOOST_CHECK_EXCEPTION(eval(gated_delta_rule(input<3>(in.q), input<3>(in.k), input<3>(in.v), input<2>(in.g), input<2>(in.beta), state), ex), backend_error,
                          [](const backend_error& e) {
                              const std::string m = e.what();
                              return m.find("gated_delta_rule") != std::string::npos && m.find("host tensor") != std::string::npos &&
                                     m.find("to_device") != std::string::npos;
                          });
    check_close("the host state is untouched", state, in.state, exact);
}

// Dk above 256 is refused plainly (the kernel keeps a state column of at most 256 floats per thread).
template <class T>
void check_head_dim_limit() {
    const tensor x = tensor::from(std::vector<float>(257, 0.5f), {1, 1, 257});
    const tensor v = tensor::from(std::vector<float>{0.5f}, {1, 1, 1}), gate = tensor::from(std::vector<float>{0.5f}, {1, 1});
    const tensor state = vl::cuda::to_device(tensor::empty({1, 257, 1}, dtype::f32));
    vl::cuda::executor<T> ex;
    BOOST_CHECK_EXCEPTION(eval(gated_delta_rule(input<3>(x), input<3>(x), input<3>(v), input<2>(gate), input<2>(gate), state), ex), backend_error,
                          [](const backend_error& e) { return std::string(e.what()).find("Dk up to 256") != std::string::npos; });
}

template <class T>
boost::unit_test::test_suite* suite(const char* name) {
    namespace utf = boost::unit_test;
    utf::test_suite* s = BOOST_TEST_SUITE(name);
    int i = 0;
    for (const problem& p : problems()) {
        // Boost test names may not contain most punctuation: number the cases, the description goes into the log.
        s->add(utf::make_test_case([&p] { BOOST_TEST_MESSAGE(p.what); check_problem<T>(p); }, "case_" + std::to_string(i++), __FILE__, __LINE__));
    }
    s->add(utf::make_test_case(&check_split_prompt<T>, "split_prompt", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_strided_and_fused_inputs<T>, "strided_and_fused_inputs", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_log_decay_in_f32<T>, "log_decay_in_f32", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_state_dtype_and_layout<T>, "state_dtype_and_layout", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_no_tokens<T>, "no_tokens", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_host_state_is_refused<T>, "host_state_is_refused", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_head_dim_limit<T>, "head_dim_limit", __FILE__, __LINE__));
    return s;
}

}  // namespace

int main(int argc, char** argv) { return vl::test::run_cuda_tests(argc, argv, "cuda_delta_rule", &suite<float>, &suite<vl::bf16>); }
