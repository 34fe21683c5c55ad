// vl::attention on the CPU backend against a naive double-precision loop:
// block-diagonal masks (including zero-length segments and segments longer than
// one query block), causal masks with KV-cache offsets, grouped-query heads,
// D != Dv, odd and empty extents, strided inputs, large scores; bit-identity
// across thread counts; and the shape errors of bad masks and shapes.
//
// Tolerance: |got - ref| <= 2e-6 + 1e-5 |ref| (f32 GEMMs and exponentials, f64
// softmax sum; inputs in [-1, 1], so outputs are convex combinations of |v| <= 1).
#define BOOST_TEST_MODULE attention_cpu
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace {

using vl::dims;
using vl::index_t;

constexpr vt::tol attention_tol{1e-5, 2e-6};

struct problem {
    index_t n, m, hq, hkv, d, dv;
    float scale;
    vl::attention_mask mask;
    double amplitude = 1;  // inputs in [-amplitude, amplitude]
};

struct inputs {
    vl::tensor q, k, v;
};

inputs make_inputs(const problem& p, int salt) {
    const double a = p.amplitude;
    return {vt::make({p.n, p.hq, p.d}, [&](index_t i) { return vt::uniform(i, salt, -a, a); }),
            vt::make({p.m, p.hkv, p.d}, [&](index_t i) { return vt::uniform(i, salt + 1, -a, a); }),
            vt::make({p.m, p.hkv, p.dv}, [&](index_t i) { return vt::uniform(i, salt + 2); })};
}

// May query i see key j?
bool visible(const vl::attention_mask& mask, index_t i, index_t j) {
    if (mask.type() == vl::attention_mask::kind::causal) return j <= i + mask.offset();
    const auto& cu = mask.cu_seqlens();
    for (std::size_t s = 0; s + 1 < cu.size(); ++s)
        if (cu[s] <= i && i < cu[s + 1]) return cu[s] <= j && j < cu[s + 1];
    return false;
}

std::vector<double> naive(const problem& p, const inputs& in) {
    const std::vector<double> q = vt::values(in.q), k = vt::values(in.k), v = vt::values(in.v);
    std::vector<double> out(static_cast<std::size_t>(p.n * p.hq * p.dv), 0.0);
    const index_t group = p.hq / p.hkv;
    for (index_t i = 0; i < p.n; ++i)
        for (index_t h = 0; h < p.hq; ++h) {
            const index_t g = h / group;
            std::vector<double> s(static_cast<std::size_t>(p.m), 0.0);
            double mx = -INFINITY;
            for (index_t j = 0; j < p.m; ++j) {
                if (!visible(p.mask, i, j)) continue;
                double dot = 0;
                for (index_t c = 0; c < p.d; ++c) dot += q[static_cast<std::size_t>((i * p.hq + h) * p.d + c)] * k[static_cast<std::size_t>((j * p.hkv + g) * p.d + c)];
                s[static_cast<std::size_t>(j)] = dot * static_cast<double>(p.scale);
                mx = std::max(mx, s[static_cast<std::size_t>(j)]);
            }
            double sum = 0;
            for (index_t j = 0; j < p.m; ++j)
                if (visible(p.mask, i, j)) sum += (s[static_cast<std::size_t>(j)] = std::exp(s[static_cast<std::size_t>(j)] - mx));
            for (index_t j = 0; j < p.m; ++j) {
                if (!visible(p.mask, i, j)) continue;
                for (index_t c = 0; c < p.dv; ++c)
                    out[static_cast<std::size_t>((i * p.hq + h) * p.dv + c)] += s[static_cast<std::size_t>(j)] / sum * v[static_cast<std::size_t>((j * p.hkv + g) * p.dv + c)];
            }
        }
    return out;
}

vl::tensor run(const problem& p, const inputs& in, int threads) {
    vl::cpu::executor cpu{threads};
    return vl::eval(vl::attention(vl::input<3>(in.q), vl::input<3>(in.k), vl::input<3>(in.v), p.scale, p.mask), cpu);
}

void check(const problem& p, const std::string& what, int salt = 1) {
    const inputs in = make_inputs(p, salt);
    vt::check_close(run(p, in, 2), naive(p, in), {p.n, p.hq, p.dv}, attention_tol, what);
}

float inv_sqrt(index_t d) { return 1.0f / std::sqrt(static_cast<float>(d)); }

}  // namespace

BOOST_AUTO_TEST_CASE(segments_match_naive_loop) {
    using m = vl::attention_mask;
    check({5, 5, 2, 2, 7, 5, inv_sqrt(7), m::segments({0, 3, 3, 5})}, "the header's diagram: {0, 3, 3, 5}, D != Dv");
    check({1, 1, 1, 1, 4, 4, inv_sqrt(4), m::segments({0, 1})}, "one query");
    check({133, 133, 4, 2, 16, 16, inv_sqrt(16), m::segments({0, 0, 70, 70, 133, 133})},
          "zero-length segments first, between and last; segments longer than a query block; GQA 4:2");
    check({200, 200, 3, 3, 9, 13, 0.3f, m::segments({0, 64, 128, 129, 200})}, "segments on block boundaries, one of length 1");
    check({150, 150, 6, 1, 5, 3, inv_sqrt(5), m::segments({0, 150})}, "one segment = full attention; multi-query 6:1");
    check({0, 0, 2, 2, 4, 4, 0.5f, m::segments({0})}, "no queries");
    check({0, 0, 2, 2, 4, 4, 0.5f, m::segments({0, 0, 0})}, "no queries, empty segments");
}

BOOST_AUTO_TEST_CASE(causal_matches_naive_loop) {
    using m = vl::attention_mask;
    check({5, 5, 2, 2, 8, 8, inv_sqrt(8), m::causal()}, "prefill, offset 0");
    check({3, 5, 2, 2, 6, 4, inv_sqrt(6), m::causal(2)}, "the header's diagram: 3 queries after 2 cached keys");
    check({1, 10, 4, 2, 8, 8, inv_sqrt(8), m::causal(9)}, "decode: one query sees all 10 keys");
    check({4, 5, 2, 1, 3, 7, inv_sqrt(3), m::causal(3)}, "offset past the last key: the last queries see all keys");
    check({130, 130, 6, 2, 9, 11, inv_sqrt(9), m::causal()}, "several query blocks, GQA 6:2 (query head h uses kv head h / 3)");
    check({70, 100, 6, 3, 4, 5, inv_sqrt(4), m::causal(30)}, "chunked prefill with a cache, across a block boundary");
    check({0, 3, 2, 2, 4, 4, 0.5f, m::causal(3)}, "no queries");
}

BOOST_AUTO_TEST_CASE(large_scores_do_not_overflow) {
    // Scores up to ~±2000: exp would overflow without the max subtraction.
    problem p{40, 40, 2, 2, 8, 8, 30.0f, vl::attention_mask::segments({0, 17, 40}), 3.0};
    const inputs in = make_inputs(p, 9);
    const vl::tensor out = run(p, in, 2);
    for (double x : vt::values(out)) BOOST_TEST_REQUIRE(std::isfinite(x));
    // An f32 score of magnitude 2000 is off by up to ~1e-4 (its ulp), which moves the weights by that relative amount.
    vt::check_close(out, naive(p, in), {p.n, p.hq, p.dv}, {1e-3, 1e-4}, "scale 30");
}

BOOST_AUTO_TEST_CASE(strided_and_fused_inputs) {
    // q and k as views of one packed [N, 3, H, D] tensor (as a fused QKV projection gives them), q through a
    // fused chain, v a permuted view of a head-major [H, N, D] tensor.
    const index_t n = 37, h = 3, d = 8;
    const vl::tensor qkv = vt::make({n, 3, h, d}, [](index_t i) { return vt::uniform(i, 4); });
    const vl::tensor v_heads = vt::make({h, n, d}, [](index_t i) { return vt::uniform(i, 6); });
    auto packed = vl::input<4>(qkv);
    auto part = [&](index_t which) { return vl::reshape(vl::slice(packed, 1, which, which + 1), vl::shape_t<3>{n, h, d}); };
    const auto mask = vl::attention_mask::segments({0, 20, 37});
    vl::cpu::executor cpu{2};
    const vl::tensor got = vl::eval(vl::attention(part(0) * 2.0f, part(1), vl::permute(vl::input<3>(v_heads), {1, 0, 2}), 0.25f, mask), cpu);

    const std::vector<double> q = vt::values(qkv.slice(1, 0, 1));
    const inputs in{vt::make({n, h, d}, [&](index_t i) { return 2 * q[static_cast<std::size_t>(i)]; }), qkv.slice(1, 1, 2).contiguous().reshape({n, h, d}),
                    v_heads.permute({1, 0, 2}).contiguous()};
    vt::check_close(got, naive({n, n, h, h, d, d, 0.25f, mask}, in), {n, h, d}, attention_tol, "views of a packed QKV, permuted v");
}

BOOST_AUTO_TEST_CASE(bit_identical_for_any_thread_count) {
    using m = vl::attention_mask;
    for (const problem& p : {problem{229, 229, 4, 2, 32, 24, inv_sqrt(32), m::segments({0, 100, 100, 229})},
                             problem{150, 180, 4, 4, 16, 16, inv_sqrt(16), m::causal(30)}}) {
        const inputs in = make_inputs(p, 5);
        const vl::tensor one = run(p, in, 1);
        BOOST_TEST(vt::bit_identical(one, run(p, in, 2)));
        BOOST_TEST(vt::bit_identical(one, run(p, in, 3)));
    }
}

BOOST_AUTO_TEST_CASE(bad_masks_and_shapes_are_shape_errors) {
    using m = vl::attention_mask;
    vt::check_throws<vl::shape_error>([] { m::segments({}); }, {"cu_seqlens is empty"}, "empty cu_seqlens");
    vt::check_throws<vl::shape_error>([] { m::segments({1, 4}); }, {"start at 0", "1"}, "first value not 0");
    vt::check_throws<vl::shape_error>([] { m::segments({0, 4, 3, 6}); }, {"non-decreasing", "cu_seqlens[2] = 3"}, "decreasing");
    vt::check_throws<vl::shape_error>([] { m::causal(-1); }, {"offset must be >= 0"}, "negative offset");

    const auto t = [](index_t n, index_t h, index_t d) { return vl::input<3>(vl::tensor::empty({n, h, d}, vl::dtype::f32)); };
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 2, 4), t(6, 2, 4), t(6, 2, 4), 1.0f, m::segments({0, 3, 5})); },
                                      {"cu_seqlens must end at the 6 queries", "got 5"}, "cu_seqlens not ending at N");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 2, 4), t(6, 2, 4), t(6, 2, 4), 1.0f, m::segments({0, 3, 7})); },
                                      {"end at the 6 queries", "got 7"}, "cu_seqlens past N");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 2, 4), t(7, 2, 4), t(7, 2, 4), 1.0f, m::segments({0, 6})); },
                                      {"as many keys as queries", "k [7, 2, 4]"}, "segments with N != M");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 3, 4), t(6, 2, 4), t(6, 2, 4), 1.0f, m::causal()); },
                                      {"multiple of the key/value heads", "q [6, 3, 4]"}, "Hq % Hkv != 0");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 2, 5), t(6, 2, 4), t(6, 2, 4), 1.0f, m::causal()); },
                                      {"same head dimension"}, "D of q and k differ");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(6, 2, 4), t(6, 2, 4), t(5, 2, 4), 1.0f, m::causal()); },
                                      {"k and v must have the same keys and heads"}, "k and v differ");
    vt::check_throws<vl::shape_error>([&] { vl::attention(t(2, 2, 4), t(0, 2, 4), t(0, 2, 4), 1.0f, m::causal()); },
                                      {"at least one key"}, "causal without keys");
}
