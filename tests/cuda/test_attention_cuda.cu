// tests/cuda/test_attention_cuda.cu — vl::attention on executor<float> and
// executor<bf16> (backends/cuda/attention.cuh) against the CPU backend, the cases
// of tests/test_attention_cpu.cpp plus the head dimensions the models use
// (vision 72 and 16, language model 256 and 64, and 128) at sizes that cross the
// 64-query and 64-key tiles: block-diagonal masks with zero-length segments, tiles
// straddling segments and many short segments in one tile, causal masks with
// KV-cache offsets (prefill, chunked prefill, decode), GQA and multi-query,
// D != Dv on both accumulator sizes, no queries, D = 0, large scores, and strided
// and fused inputs. Every case runs with host inputs and with device inputs.
//
// Tolerances (docs/numerics.md, "CUDA backend", attention row): an element passes
// when |gpu - cpu| <= atol + rtol |cpu|. Outputs are convex combinations of values
// in [-1, 1]; the GPU's f32 online softmax and the CPU's f64-summed softmax differ
// by f32 rounding of the scores, exponentials and sums: rtol 2e-5, atol 5e-6. The
// bf16 executor gets inputs already rounded to bf16, so the CPU sees exactly what
// the GPU computes from, and its tolerance adds one bf16 rounding of the output
// (u = 2^-8 bounds it with a factor 2 to spare).
//
// Exits with 77 (CTest: skipped) when no CUDA device is present.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace vl::test {
// tests/cuda/test_attention_cuda_ref.cpp: the CPU backend's result for host tensors.
tensor attention_cpu(const tensor& q, const tensor& k, const tensor& v, float scale, const attention_mask& mask);
}  // namespace vl::test

namespace {

using namespace vl;
using m = attention_mask;
using vl::test::check_close;

using vl::test::tolerance;
constexpr double u = 1.0 / 256;
constexpr tolerance f32_tolerance{2e-5, 5e-6};
constexpr tolerance bf16_tolerance{u + 2e-5, 5e-6};
// Scores up to ~±2000 (scale 30, |q·k| <= 72): each backend's f32 score is off by up to ~scale · 8 f32 roundings of
// the dot product plus ulp(2000) / 2 (~1e-4 typically, ~1e-3 at worst), which moves the weights by that relative
// amount; the two backends' errors are independent.
constexpr tolerance f32_large_scores{1e-3, 5e-4};
constexpr tolerance bf16_large_scores{u + 1e-3, 5e-4};

struct problem {
    std::string what;
    index_t n, m, hq, hkv, d, dv;
    float scale;
    attention_mask mask;
    double amplitude = 1;  // q and k in [-amplitude, amplitude]; v in [-1, 1]
};

float inv_sqrt(index_t d) { return 1.0f / std::sqrt(static_cast<float>(d)); }

// Segments of lengths 0, 1, 2, ..., last - 1 (n = last·(last - 1)/2): many short segments per query tile.
attention_mask growing_segments(index_t last) {
    std::vector<index_t> cu{0};
    for (index_t len = 0; len < last; ++len) cu.push_back(cu.back() + len);
    return m::segments(cu);
}

const std::vector<problem>& problems() {
    static const std::vector<problem> all = {
        // Block-diagonal (tests/test_attention_cpu.cpp, then tile-specific cases).
        {"the header's diagram: {0, 3, 3, 5}, D != Dv", 5, 5, 2, 2, 7, 5, inv_sqrt(7), m::segments({0, 3, 3, 5})},
        {"one query", 1, 1, 1, 1, 4, 4, inv_sqrt(4), m::segments({0, 1})},
        {"zero-length segments first, between and last; segments longer than a tile; GQA 4:2", 133, 133, 4, 2, 16, 16, inv_sqrt(16),
         m::segments({0, 0, 70, 70, 133, 133})},
        {"segments on tile boundaries, one of length 1", 200, 200, 3, 3, 9, 13, 0.3f, m::segments({0, 64, 128, 129, 200})},
        {"one segment = full attention; multi-query 6:1", 150, 150, 6, 1, 5, 3, inv_sqrt(5), m::segments({0, 150})},
        {"a tile straddling two segments: rows whose first key tile is entirely masked", 200, 200, 2, 2, 16, 16, inv_sqrt(16), m::segments({0, 70, 200})},
        {"segments of lengths 0, 1, ..., 22: many per tile", 231, 231, 2, 1, 16, 16, inv_sqrt(16), growing_segments(23)},
        {"vision shape: head dim 72, three images", 600, 600, 4, 4, 72, 72, inv_sqrt(72), m::segments({0, 320, 576, 600})},
        {"vision head dim 16 (tiny checkpoint)", 200, 200, 4, 4, 16, 16, inv_sqrt(16), m::segments({0, 128, 200})},
        {"head dim 64, two segments", 260, 260, 4, 4, 64, 64, inv_sqrt(64), m::segments({0, 100, 260})},
        {"D = 0: uniform weights over the segment", 9, 9, 2, 2, 0, 3, 1.0f, m::segments({0, 4, 9})},
        {"no queries", 0, 0, 2, 2, 4, 4, 0.5f, m::segments({0})},
        {"no queries, empty segments", 0, 0, 2, 2, 4, 4, 0.5f, m::segments({0, 0, 0})},
        // Causal.
        {"prefill, offset 0", 5, 5, 2, 2, 8, 8, inv_sqrt(8), m::causal()},
        {"the header's diagram: 3 queries after 2 cached keys", 3, 5, 2, 2, 6, 4, inv_sqrt(6), m::causal(2)},
        {"decode: one query sees all 10 keys", 1, 10, 4, 2, 8, 8, inv_sqrt(8), m::causal(9)},
        {"offset past the last key: the last queries see all keys", 4, 5, 2, 1, 3, 7, inv_sqrt(3), m::causal(3)},
        {"several query tiles, GQA 6:2", 130, 130, 6, 2, 9, 11, inv_sqrt(9), m::causal()},
        {"chunked prefill with a cache, across a tile boundary", 70, 100, 6, 3, 4, 5, inv_sqrt(4), m::causal(30)},
        {"no queries, causal", 0, 3, 2, 2, 4, 4, 0.5f, m::causal(3)},
        {"language model: D = Dv = 256, GQA 6:1, prefill over three tiles", 150, 150, 6, 1, 256, 256, inv_sqrt(256), m::causal()},
        {"language model decode: D = 256, one query after 300 cached keys", 1, 301, 6, 1, 256, 256, inv_sqrt(256), m::causal(300)},
        {"chunked prefill, D = Dv = 128", 100, 300, 4, 2, 128, 128, inv_sqrt(128), m::causal(200)},
        // D != Dv on both accumulator sizes (Dv <= 128, Dv <= 256).
        {"D = 256, Dv = 64", 90, 90, 2, 2, 256, 64, inv_sqrt(256), m::segments({0, 20, 90})},
        {"D = 64, Dv = 256", 90, 90, 2, 1, 64, 256, inv_sqrt(64), m::causal()},
        {"Dv = 129: the larger accumulator, partly used", 70, 70, 2, 2, 32, 129, inv_sqrt(32), m::segments({0, 70})},
        {"Dv = 200, D = 72", 80, 120, 3, 1, 72, 200, inv_sqrt(72), m::causal(40)},
    };
    return all;
}

// Uniform values in [-a, a), seeded by the case and the tensor; rounded to bf16 values when asked.
tensor uniform(dims shape, const std::string& seed, double a, bool bf16_values) {
    std::mt19937_64 rng(std::hash<std::string>{}(seed));
    std::uniform_real_distribution<float> dist(static_cast<float>(-a), static_cast<float>(a));
    std::vector<float> v(static_cast<std::size_t>(checked_numel(shape)));
    for (float& x : v) x = dist(rng);
    const tensor t = tensor::from(v, std::move(shape));
    return bf16_values ? t.to(dtype::bf16).to(dtype::f32) : t;
}


template <class T>
tensor run_cuda(vl::cuda::executor<T>& ex, const tensor& q, const tensor& k, const tensor& v, float scale, const attention_mask& mask) {
    return vl::cuda::to_host(eval(attention(input<3>(q), input<3>(k), input<3>(v), scale, mask), ex), ex.stream);
}

template <class T>
void check_problem(const problem& p) {
    constexpr bool bf16_values = std::is_same_v<T, bf16>;
    const tensor q = uniform({p.n, p.hq, p.d}, p.what + "/q", p.amplitude, bf16_values);
    const tensor k = uniform({p.m, p.hkv, p.d}, p.what + "/k", p.amplitude, bf16_values);
    const tensor v = uniform({p.m, p.hkv, p.dv}, p.what + "/v", 1.0, bf16_values);
    const tensor want = test::attention_cpu(q, k, v, p.scale, p.mask);
    const tolerance t = p.amplitude > 1 ? (bf16_values ? bf16_large_scores : f32_large_scores) : (bf16_values ? bf16_tolerance : f32_tolerance);

    vl::cuda::executor<T> ex;  // shared by both runs: the arena is reused
    check_close("host inputs", run_cuda(ex, q, k, v, p.scale, p.mask), want, t);
    // Device inputs already in T are used in place.
    const dtype stored = dtype_of_v<T>;
    check_close("device inputs", run_cuda(ex, vl::cuda::to_device(q, stored), vl::cuda::to_device(k, stored), vl::cuda::to_device(v, stored), p.scale, p.mask), want, t);
}

// Scores up to ~±2000: exp would overflow without the running max.
template <class T>
void check_large_scores() {
    check_problem<T>({"large scores", 140, 140, 2, 2, 8, 8, 30.0f, m::segments({0, 17, 140}), 3.0});  // a NaN or inf fails the comparison
}

// q and k as views of one packed [N, 3, H, D] tensor (as a fused QKV projection gives them), q through a
// fused chain, v a permuted view of a head-major [H, N, Dv] tensor: the lowering packs them itself.
template <class T>
void check_strided_and_fused_inputs() {
    constexpr bool bf16_values = std::is_same_v<T, bf16>;
    const index_t n = 97, h = 3, d = 8;
    const tensor qkv = uniform({n, 3, h, d}, "strided/qkv", 1.0, bf16_values);
    const tensor v_heads = uniform({h, n, d}, "strided/v", 1.0, bf16_values);
    const auto mask = m::segments({0, 20, 97});

    vl::cuda::executor<T> ex;
    auto packed = input<4>(qkv);
    auto part = [&](index_t which) { return reshape(slice(packed, 1, which, which + 1), shape_t<3>{n, h, d}); };
    const tensor got = vl::cuda::to_host(eval(attention(part(0) * 2.0f, part(1), permute(input<3>(v_heads), {1, 0, 2}), 0.25f, mask), ex), ex.stream);

    tensor q = qkv.slice(1, 0, 1).contiguous().reshape({n, h, d});
    for (index_t i = 0; i < q.numel(); ++i) q.data<float>()[i] *= 2.0f;  // exact
    const tensor want = test::attention_cpu(q, qkv.slice(1, 1, 2).contiguous().reshape({n, h, d}), v_heads.permute({1, 0, 2}).contiguous(), 0.25f, mask);
    check_close("views of a packed QKV, permuted v", got, want, bf16_values ? bf16_tolerance : f32_tolerance);
}

// Head dimensions above 256 are refused plainly (the kernel's shared memory and accumulator limit).
template <class T>
void check_head_dim_limit() {
    vl::cuda::executor<T> ex;
    const tensor x = tensor::from(std::vector<float>(2 * 257, 0.5f), {2, 1, 257});
    BOOST_CHECK_EXCEPTION(eval(attention(input<3>(x), input<3>(x), input<3>(x), 1.0f, m::causal()), ex), backend_error, [](const backend_error& e) {
        return std::string(e.what()).find("head dimensions up to 256") != std::string::npos;
    });
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
    s->add(utf::make_test_case(&check_large_scores<T>, "large_scores", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_strided_and_fused_inputs<T>, "strided_and_fused_inputs", __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_head_dim_limit<T>, "head_dim_limit", __FILE__, __LINE__));
    return s;
}

}  // namespace

int main(int argc, char** argv) { return vl::test::run_cuda_tests(argc, argv, "cuda_attention", &suite<float>, &suite<vl::bf16>); }
