// The expression DSL: construction-time shape/dtype errors that name the op,
// compile-time extents and their propagation, the arena (reuse across evals,
// memory reuse within one plan, arena_plan itself) and eval_into.
#define BOOST_TEST_MODULE dsl
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

#include <vector>

namespace {
using vl::dims;
using vl::index_t;

vl::tensor f32(dims shape) {
    return vt::make(std::move(shape), [](index_t i) { return vt::small_int(i, 1); });
}
}  // namespace

// ---------------------------------------------------------------------------
// Construction-time errors
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(construction_errors)

BOOST_AUTO_TEST_CASE(elementwise_broadcast) {
    const auto a = vl::input<2>(f32({2, 3}));
    const auto b = vl::input<1>(f32({4}));
    vt::check_throws<vl::shape_error>([&] { (void)(a + b); }, {"add", "[2, 3]", "[4]"}, "add");
    vt::check_throws<vl::shape_error>([&] { (void)(b - a); }, {"sub", "[4]", "[2, 3]"}, "sub");
    vt::check_throws<vl::shape_error>([&] { (void)vl::mul(a, vl::input<2>(f32({3, 3}))); }, {"mul", "[2, 3]", "[3, 3]"}, "mul");
    vt::check_throws<vl::shape_error>([&] { (void)(a / vl::input<3>(f32({2, 4, 1}))); }, {"div", "[2, 3]", "[2, 4, 1]"}, "div");
    BOOST_CHECK_NO_THROW((void)(a + vl::input<3>(f32({5, 1, 3}))));  // [2, 3] with [5, 1, 3] -> [5, 2, 3]
    BOOST_TEST((a + vl::input<3>(f32({5, 1, 3}))).shape() == (vl::shape_t<3>{5, 2, 3}));
}

BOOST_AUTO_TEST_CASE(linear_and_matmul) {
    const auto x = vl::input<2>(f32({3, 5}));
    vt::check_throws<vl::shape_error>([&] { (void)vl::linear(x, vl::input<2>(f32({6, 4}))); }, {"linear", "[3, 5]", "[6, 4]"}, "linear K mismatch");
    vt::check_throws<vl::shape_error>([&] { (void)vl::linear(x, vl::input<2>(f32({6, 5})), vl::input<1>(f32({5}))); }, {"linear", "bias", "[5]", "6"},
                                      "linear bias mismatch");
    vt::check_throws<vl::shape_error>([&] { (void)vl::matmul(x, vl::input<2>(f32({4, 2}))); }, {"matmul", "inner", "[3, 5]", "[4, 2]"},
                                      "matmul inner mismatch");
    vt::check_throws<vl::shape_error>([&] { (void)vl::matmul(vl::input<3>(f32({2, 3, 5})), vl::input<3>(f32({3, 5, 2}))); }, {"matmul", "batch"},
                                      "matmul batch mismatch");
    BOOST_TEST(vl::linear(x, vl::input<2>(f32({6, 5}))).shape() == (vl::shape_t<2>{3, 6}));
    BOOST_TEST(vl::matmul(vl::input<3>(f32({2, 3, 5})), vl::input<2>(f32({5, 7}))).shape() == (vl::shape_t<3>{2, 3, 7}));
}

BOOST_AUTO_TEST_CASE(norms) {
    const auto x = vl::input<2>(f32({3, 5}));
    vt::check_throws<vl::shape_error>([&] { (void)vl::rms_norm(x, vl::input<1>(f32({4})), 1e-6f); }, {"rms_norm", "weight", "[4]", "[3, 5]"}, "rms_norm");
    vt::check_throws<vl::shape_error>([&] { (void)vl::layer_norm(x, vl::input<1>(f32({5})), vl::input<1>(f32({6})), 1e-6f); },
                                      {"layer_norm", "bias", "[6]", "[3, 5]"}, "layer_norm bias");
}

BOOST_AUTO_TEST_CASE(views_and_concat) {
    const auto x = vl::input<3>(f32({2, 3, 4}));
    vt::check_throws<vl::shape_error>([&] { (void)vl::concat(0, x, vl::input<3>(f32({2, 4, 4}))); }, {"concat", "[2, 4, 4]", "[2, 3, 4]", "axis 0"},
                                      "concat mismatch");
    vt::check_throws<vl::shape_error>([&] { (void)vl::concat(3, x, x); }, {"concat", "axis 3"}, "concat axis");
    BOOST_TEST(vl::concat(1, x, vl::input<3>(f32({2, 5, 4}))).shape() == (vl::shape_t<3>{2, 8, 4}));
    vt::check_throws<vl::shape_error>([&] { (void)vl::reshape(x, vl::shape_t<2>{5, 5}); }, {"reshape", "[2, 3, 4]", "[5, 5]"}, "reshape count");
    vt::check_throws<vl::shape_error>([&] { (void)vl::reshape(x, vl::shape_t<2>{-1, -1}); }, {"reshape", "more than one -1"}, "reshape two -1");
    vt::check_throws<vl::shape_error>([&] { (void)vl::reshape(x, vl::shape_t<2>{5, -1}); }, {"reshape", "cannot infer"}, "reshape infer");
    vt::check_throws<vl::shape_error>([&] { (void)vl::reshape(x, vl::shape_t<2>{-2, -12}); }, {"reshape", "negative"}, "reshape negative");
    BOOST_TEST(vl::reshape(x, vl::shape_t<2>{-1, 8}).shape() == (vl::shape_t<2>{3, 8}));
    vt::check_throws<vl::shape_error>([&] { (void)vl::slice(x, 1, 2, 4); }, {"slice", "[2, 4)", "[2, 3, 4]"}, "slice end");
    vt::check_throws<vl::shape_error>([&] { (void)vl::slice(x, -1, 3, 2); }, {"slice", "[3, 2)"}, "slice reversed");
    vt::check_throws<vl::shape_error>([&] { (void)vl::slice(x, -4, 0, 1); }, {"slice", "axis -4"}, "slice axis");
    vt::check_throws<vl::shape_error>([&] { (void)vl::split(x, -1, std::array<index_t, 2>{1, 2}); }, {"split", "3", "[2, 3, 4]", "has 4"}, "split sizes");
    vt::check_throws<vl::shape_error>([&] { (void)vl::permute(x, {0, 0, 2}); }, {"permute", "not a permutation"}, "permute repeated");
    vt::check_throws<vl::shape_error>([&] { (void)vl::permute(x, {0, 1, 3}); }, {"permute", "not a permutation"}, "permute out of range");
    vt::check_throws<vl::shape_error>([&] { (void)vl::sum(x, 3); }, {"reduce", "axis 3"}, "reduce axis");
}

BOOST_AUTO_TEST_CASE(inputs) {
    vt::check_throws<vl::shape_error>([] { (void)vl::input<3>(f32({2, 3})); }, {"input", "rank 3", "[2, 3]"}, "rank mismatch");
    vt::check_throws<vl::dtype_error>([] { (void)vl::input<1>(vl::tensor::empty({4}, vl::dtype::i32)); }, {"floating", "I32"}, "float input, i32 tensor");
    vt::check_throws<vl::dtype_error>([] { (void)vl::indices<1>(vl::tensor::empty({4}, vl::dtype::bf16)); }, {"integer", "BF16"}, "indices, bf16 tensor");
    vt::check_throws<vl::shape_error>([] { (void)vl::input(f32({5, 32}), vl::extents<vl::dyn, 64>{}); }, {"input", "axis 1", "fixed to 64", "got 32"},
                                      "static extent mismatch");
    vt::check_throws<vl::shape_error>([] { (void)vl::input<1>(vl::tensor()); }, {"input", "empty"}, "undefined tensor");
    BOOST_CHECK_NO_THROW((void)vl::input(f32({5, 64}), vl::extents<vl::dyn, 64>{}));
    BOOST_CHECK_NO_THROW((void)vl::input<1>(vl::tensor::empty({4}, vl::dtype::f16)));
    BOOST_CHECK_NO_THROW((void)vl::indices<1>(vl::tensor::empty({4}, vl::dtype::u8)));
}

BOOST_AUTO_TEST_CASE(eval_into_checks_the_output) {
    vl::cpu::executor cpu{1};
    const auto x = vl::input<2>(f32({3, 5}));
    vt::check_throws<vl::shape_error>([&] { vl::eval_into(x * 2, cpu, vl::tensor::empty({3, 4}, vl::dtype::f32)); }, {"eval_into", "[3, 4]", "[3, 5]"},
                                      "wrong shape");
    vt::check_throws<vl::shape_error>([&] { vl::eval_into(x * 2, cpu, vl::tensor::empty({15}, vl::dtype::f32)); }, {"eval_into", "rank 1", "rank 2"},
                                      "wrong rank");
    vt::check_throws<vl::dtype_error>([&] { vl::eval_into(x * 2, cpu, vl::tensor::empty({3, 5}, vl::dtype::i32)); }, {"I32"}, "integer output");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Compile-time extents (checked with static_assert: this file does not compile if they are wrong)
// ---------------------------------------------------------------------------
namespace static_shapes {
using vl::dyn;
template <class E>
using expr_t = std::remove_cvref_t<E>;
using X = decltype(vl::input(std::declval<vl::tensor>(), vl::extents<dyn, 64>{}));       // [L, 64]
using V = decltype(vl::input(std::declval<vl::tensor>(), vl::extents<64>{}));            // [64]
using W = decltype(vl::input(std::declval<vl::tensor>(), vl::extents<128, 64>{}));       // [128, 64]
using D2 = decltype(vl::input<2>(std::declval<vl::tensor>()));                            // [?, ?]
using D1 = decltype(vl::input<1>(std::declval<vl::tensor>()));                            // [?]
using B3 = decltype(vl::input(std::declval<vl::tensor>(), vl::extents<4, 1, dyn>{}));    // [4, 1, ?]

static_assert(X::rank == 2 && X::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(D2::static_shape == vl::shape_t<2>{dyn, dyn});
// elementwise: unary keeps, binary broadcasts (fixed wins over dyn and over 1)
static_assert(decltype(vl::silu(std::declval<X>()))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(-std::declval<X>())::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(std::declval<X>() * 2.0f)::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(std::declval<X>() + std::declval<V>())::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(std::declval<D1>() + std::declval<X>())::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(std::declval<B3>() * std::declval<X>())::static_shape == vl::shape_t<3>{4, dyn, 64});
static_assert(decltype(std::declval<D2>() - std::declval<D1>())::static_shape == vl::shape_t<2>{dyn, dyn});
// heavy ops: linear fixes the output features from W; norms and softmax keep x's extents
static_assert(decltype(vl::linear(std::declval<X>(), std::declval<W>()))::static_shape == vl::shape_t<2>{dyn, 128});
static_assert(decltype(vl::linear(std::declval<X>(), std::declval<D2>()))::static_shape == vl::shape_t<2>{dyn, dyn});
static_assert(decltype(vl::rms_norm(std::declval<X>(), std::declval<V>(), 1e-6f))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(vl::layer_norm(std::declval<X>(), std::declval<V>(), std::declval<V>(), 1e-6f))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(vl::softmax(vl::silu(std::declval<X>())))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(vl::softmax(vl::linear(std::declval<X>(), std::declval<W>())))::static_shape == vl::shape_t<2>{dyn, 128});
// names and shares keep them; views forget them
static_assert(decltype(vl::name("n", std::declval<X>()))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(vl::share(std::declval<X>()))::static_shape == vl::shape_t<2>{dyn, 64});
static_assert(decltype(vl::permute(std::declval<X>(), {1, 0}))::static_shape == vl::shape_t<2>{dyn, dyn});
// value kinds and ranks
static_assert(decltype(vl::indices<2>(std::declval<vl::tensor>()))::value_kind == vl::kind::integer);
static_assert(decltype(vl::gather(std::declval<D2>(), vl::indices<2>(std::declval<vl::tensor>())))::rank == 3);
static_assert(decltype(vl::gather(std::declval<D2>(), vl::indices<2>(std::declval<vl::tensor>())))::value_kind == vl::kind::floating);
}  // namespace static_shapes

BOOST_AUTO_TEST_CASE(static_extents_at_run_time) {
    // The run-time shape follows the bound tensor; the fixed extent is only checked.
    const auto x = vl::input(f32({7, 64}), vl::extents<vl::dyn, 64>{});
    const auto y = vl::linear(x, vl::input(f32({128, 64}), vl::extents<128, 64>{}));
    BOOST_TEST(y.shape() == (vl::shape_t<2>{7, 128}));
    vl::cpu::executor cpu{1};
    BOOST_TEST(vl::eval(y, cpu).shape() == vl::dims({7, 128}), boost::test_tools::per_element());
}

// ---------------------------------------------------------------------------
// Arena
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(arena)

BOOST_AUTO_TEST_CASE(plan_shares_memory_between_disjoint_lifetimes) {
    constexpr std::size_t a = vl::arena_plan::alignment;
    vl::arena_plan p;
    const int x = p.record_alloc(500);  // [0, 1], rounded up to 2 * alignment
    p.record_release(x);
    const int y = p.record_alloc(3 * a);  // [2, 3]
    p.record_release(y);
    const int z = p.record_alloc(a);  // [4, 5]
    p.record_release(z);
    const std::size_t total = p.plan();
    BOOST_TEST(total == 3 * a);  // the largest alone
    BOOST_TEST(p.offset(x, 500) == 0u);
    BOOST_TEST(p.offset(y, 3 * a) == 0u);
    BOOST_TEST(p.offset(z, a) == 0u);
    BOOST_TEST(p.buffer_count() == 3u);
    BOOST_TEST(p.size() == total);
    vt::check_throws<vl::error>([&] { (void)p.offset(y, a); }, {"allocated differently", "buffer 1"}, "replay with another size");
}

BOOST_AUTO_TEST_CASE(plan_separates_overlapping_lifetimes) {
    constexpr std::size_t a = vl::arena_plan::alignment;
    // Lifetimes (creation ... release):  u [0..4]  v [1..3]  w [2..6]  s [5..7]  t (never released)
    vl::arena_plan p;
    struct buf {
        int id;
        std::size_t bytes;
        int first, last;
    };
    std::vector<buf> bufs;
    auto alloc = [&](std::size_t bytes, int step) {
        bufs.push_back({p.record_alloc(bytes), bytes, step, 1 << 30});
        return static_cast<int>(bufs.size()) - 1;
    };
    auto release = [&](int i, int step) {
        p.record_release(bufs[static_cast<std::size_t>(i)].id);
        bufs[static_cast<std::size_t>(i)].last = step;
    };
    const int u = alloc(2 * a, 0), v = alloc(a + 1, 1), w = alloc(5 * a, 2);
    release(v, 3);
    release(u, 4);
    const int s = alloc(a, 5);
    release(w, 6);
    release(s, 7);
    (void)alloc(3, 8);
    const std::size_t total = p.plan();
    std::size_t peak_live = 0;
    for (const buf& b : bufs) {
        std::size_t live = 0;
        for (const buf& o : bufs)
            if (o.first <= b.first && b.first <= o.last) live += (o.bytes + a - 1) / a * a;
        peak_live = std::max(peak_live, live);
    }
    for (std::size_t i = 0; i < bufs.size(); ++i) {
        const std::size_t oi = p.offset(bufs[i].id, bufs[i].bytes), ei = oi + bufs[i].bytes;
        BOOST_TEST(oi % a == 0u);
        BOOST_TEST(ei <= total);
        for (std::size_t j = 0; j < i; ++j) {
            const std::size_t oj = p.offset(bufs[j].id, bufs[j].bytes), ej = oj + bufs[j].bytes;
            const bool alive_together = bufs[i].first <= bufs[j].last && bufs[j].first <= bufs[i].last;
            if (alive_together) BOOST_TEST((ei <= oj || ej <= oi), "buffers " << j << " and " << i << " overlap in the arena");
        }
    }
    BOOST_TEST(total >= peak_live);
    BOOST_TEST(total < 2 * a + (a + a) + 5 * a + a + a);  // less than the sum of all buffers: something was reused
}

BOOST_AUTO_TEST_CASE(same_expression_twice_reuses_the_arena) {
    vl::cpu::executor cpu{2};
    BOOST_TEST(cpu.arena_bytes() == 0u);
    const auto x = vl::input<2>(f32({64, 48}));
    const auto w = vl::input<2>(f32({32, 48}));
    const auto e = vl::softmax(vl::linear(x, w) * 0.125f) + vl::sum(vl::linear(x, w), -1);
    const vl::tensor first = vl::eval(e, cpu);
    const std::size_t bytes = cpu.arena_bytes();
    BOOST_TEST(bytes > 0u);
    const vl::tensor second = vl::eval(e, cpu);
    BOOST_TEST(cpu.arena_bytes() == bytes);
    BOOST_TEST(vt::bit_identical(first, second));
    BOOST_TEST(first.raw_data() != second.raw_data());  // results are fresh tensors, not arena memory
    // a smaller graph afterwards fits the same arena (it only grows)
    (void)vl::eval(vl::softmax(x), cpu);
    BOOST_TEST(cpu.arena_bytes() == bytes);
}

BOOST_AUTO_TEST_CASE(long_chain_needs_far_less_than_its_intermediates) {
    // 8 heavy ops on [256, 256] f32: each intermediate is 256 KiB, 2 MiB in all; at most two are alive at once.
    const vl::tensor t = vt::make({256, 256}, [](index_t i) { return vt::uniform(i, 5); });
    const vl::tensor tw = vt::make({256}, [](index_t i) { return vt::uniform(i, 6, 0.5, 1.5); });
    const auto x = vl::input<2>(t);
    const auto w = vl::input<1>(tw);
    const auto e = vl::softmax(vl::rms_norm(vl::softmax(vl::rms_norm(vl::softmax(vl::rms_norm(vl::softmax(vl::rms_norm(x, w, 1e-6f)), w, 1e-6f)), w, 1e-6f)), w, 1e-6f));
    vl::cpu::executor cpu{1};
    const vl::tensor y = vl::eval(e, cpu);
    const std::size_t one = 256 * 256 * sizeof(float);
    BOOST_TEST(cpu.arena_bytes() >= 2 * one);  // an op's input and output coexist
    BOOST_TEST(cpu.arena_bytes() <= 2 * one, "arena " << cpu.arena_bytes() << " bytes for 8 intermediates of " << one);
    // and the values are still right where buffers were reused: rows of a softmax sum to 1
    const std::vector<double> v = vt::values(y);
    double worst = 0;
    for (index_t r = 0; r < 256; ++r) {
        double s = 0;
        for (index_t c = 0; c < 256; ++c) s += v[static_cast<std::size_t>(r * 256 + c)];
        worst = std::max(worst, std::fabs(s - 1));
    }
    BOOST_TEST(worst < 1e-5);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// eval_into
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(eval_into_bf16_and_f16_outputs) {
    vl::cpu::executor cpu{2};
    const vl::tensor tx = vt::make({5, 37}, [](index_t i) { return vt::uniform(i, 9, -3, 3); });
    const auto x = vl::input<2>(tx);
    const auto fused = vl::silu(x) * 1.7f + 0.3f;  // written by the fused kernel, straight to the output dtype
    const auto heavy = vl::softmax(x);            // computed in f32, then converted by the copy
    const vl::tensor ref_fused = vl::eval(fused, cpu), ref_heavy = vl::eval(heavy, cpu);
    for (vl::dtype t : {vl::dtype::bf16, vl::dtype::f16, vl::dtype::f64}) {
        const std::string ctx(vl::name_of(t));
        const vl::tensor a = vl::tensor::empty({5, 37}, t), b = vl::tensor::empty({5, 37}, t);
        vl::eval_into(fused, cpu, a);
        vl::eval_into(heavy, cpu, b);
        // bit-identical to rounding the f32 result once (round to nearest even)
        BOOST_TEST(vt::bit_identical(a, ref_fused.to(t)), ctx << " fused");
        BOOST_TEST(vt::bit_identical(b, ref_heavy.to(t)), ctx << " heavy");
    }
    // A strided output (a column slice of a larger tensor): only the slice is written.
    const vl::tensor big = vl::tensor::empty({5, 40}, vl::dtype::bf16);
    vl::eval_into(fused, cpu, big.slice(1, 2, 39));
    const std::vector<double> got = vt::values(big), want = vt::values(ref_fused.to(vl::dtype::bf16));
    bool inside = true, outside = true;
    for (index_t r = 0; r < 5; ++r)
        for (index_t c = 0; c < 40; ++c) {
            const double g = got[static_cast<std::size_t>(r * 40 + c)];
            if (c >= 2 && c < 39) inside = inside && g == want[static_cast<std::size_t>(r * 37 + c - 2)];
            else outside = outside && g == 0.0;
        }
    BOOST_TEST(inside);
    BOOST_TEST(outside);
}
