// The CPU backend, op by op, against naive loops written here (double precision),
// on shapes with odd, size-1 and empty extents; then whole graphs for
// bit-identity across thread counts.
//
// Tolerances (|got - ref| <= abs + rel * |ref|), per op:
//
//   op                                   inputs                  rel     abs
//   add sub mul div, neg, scalars        small integers          exact   exact   (div: double rounding is innocuous)
//   integer-valued fused chain           small integers          exact   exact
//   sum mean max                         small integers          exact   exact   (f64 sum; mean = (float)(sum / n))
//   linear, matmul (GEMM)                small integers          exact   exact   (|partial sums| < 2^24)
//   gather, reshape/permute/slice/       any                     exact   exact   (data movement; bf16 -> f32 exact)
//     split/concat
//   exp sigmoid silu softplus            op-aware ranges         1e-6    1e-37   (f32 libm vs double reference)
//   gelu_tanh gelu_erf                   op-aware ranges         1e-6    1e-6    (1 + tanh/erf cancels for x < 0)
//   real-valued fused chain              [-2, 2]                 1e-5    1e-6
//   layer_norm, rms_norm                 [-2, 2]                 2e-6    2e-6    (f64 statistics, f32 scaling)
//   softmax                              [-4, 4], +-1e4, -inf    2e-6    1e-9
#define BOOST_TEST_MODULE ops_cpu
#include <boost/test/unit_test.hpp>

#include <cstring>

#include "test_util.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

using vl::dims;
using vl::index_t;
using vt::tol;

constexpr tol libm_tol{1e-6, 1e-37};
constexpr tol gelu_tol{1e-6, 1e-6};
constexpr tol norm_tol{2e-6, 2e-6};
constexpr tol softmax_tol{2e-6, 1e-9};
constexpr tol chain_tol{1e-5, 1e-6};

const float inf = std::numeric_limits<float>::infinity();

// One executor per test binary: threads=2 exercises the pool (results must not depend on it anyway).
vl::cpu::executor& cpu() {
    static vl::cpu::executor e{2};
    return e;
}

// The reference of an op applied elementwise, rounded to f32 (the result type: exp(89) is inf in f32).
std::vector<double> map(const vl::tensor& x, const std::function<double(double)>& f) {
    std::vector<double> v = vt::values(x);
    for (double& e : v) e = static_cast<float>(f(e));
    return v;
}

// Shapes with odd, size-1 and empty extents, as rank 2 and rank 3.
const std::vector<dims> shapes2 = {{1, 1}, {7, 13}, {4, 1}, {0, 5}};
const std::vector<dims> shapes3 = {{3, 1, 5}, {2, 3, 17}, {1, 1, 1}, {2, 0, 3}};

std::string str(const dims& d) { return vl::to_string(d); }

}  // namespace

// ---------------------------------------------------------------------------
// Elementwise unary
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(unary)

namespace {
// Op-aware inputs: a grid over [lo, hi] plus the op's special points, cycled over the tensor.
std::function<double(index_t)> op_inputs(double lo, double hi, std::vector<double> special) {
    return [=](index_t i) {
        const std::size_t ns = special.size();
        if (static_cast<std::size_t>(i) % 3 == 0 && ns) return special[(static_cast<std::size_t>(i) / 3) % ns];
        return vt::uniform(i, 11, lo, hi);
    };
}

// Rank 2 only (one expression type per op; rank-3 writes are covered by the binary and chain tests).
template <class F>
void check_unary(const std::function<double(double)>& ref, const std::function<double(index_t)>& gen, tol t, const char* name) {
    for (const dims& s : {dims{1, 1}, dims{7, 13}, dims{4, 1}, dims{0, 5}, dims{3, 0}, dims{37, 1031}}) {  // the last: many parallel blocks
        const vl::tensor x = vt::make(s, gen);
        vt::check_close(vl::eval(vl::make_unary<F>(vl::input<2>(x)), cpu()), map(x, ref), s, t, std::string(name) + " " + str(s));
    }
}

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }
}  // namespace

BOOST_AUTO_TEST_CASE(exp) {
    check_unary<vl::fn::exp>([](double x) { return std::exp(x); }, op_inputs(-20, 20, {0.0, -0.0, -87.0, 88.0, 89.0, -104.0, -200.0, -inf, inf, 1e-30}),
                             libm_tol, "exp");
}
BOOST_AUTO_TEST_CASE(neg) {
    check_unary<vl::fn::neg>([](double x) { return -x; }, op_inputs(-5, 5, {0.0, inf, -inf, 3e38}), vt::exact, "neg");
}
BOOST_AUTO_TEST_CASE(sigmoid) {
    check_unary<vl::fn::sigmoid>(sigmoid_ref, op_inputs(-20, 20, {0.0, 30.0, -30.0, 100.0, -100.0, 1e4, -1e4, inf, -inf}), libm_tol, "sigmoid");
}
BOOST_AUTO_TEST_CASE(silu) {
    check_unary<vl::fn::silu>([](double x) { return x * sigmoid_ref(x); }, op_inputs(-20, 20, {0.0, 30.0, -30.0, 100.0, -100.0, 1e4, -1e4}), libm_tol,
                              "silu");
}
BOOST_AUTO_TEST_CASE(gelu_tanh) {
    const double k = std::sqrt(2.0 / M_PI);
    check_unary<vl::fn::gelu_tanh>([k](double x) { return 0.5 * x * (1.0 + std::tanh(k * (x + 0.044715 * x * x * x))); },
                                   op_inputs(-6, 6, {0.0, 10.0, -10.0, 1e4, -1e4, 1e20, -1e20}), gelu_tol, "gelu_tanh");
}
// A function of one contiguous tensor runs as a plain row loop (backends/cpu/elementwise.hpp, one that
// vectorises); a strided input takes the per-element path. Both give the same bits.
BOOST_AUTO_TEST_CASE(contiguous_and_strided_rows_give_the_same_bits) {
    const vl::tensor x = vt::make({37, 1031}, op_inputs(-8, 8, {0.0, 10.0, -10.0, 1e4, -1e4}));
    const vl::tensor fast = vl::eval(vl::gelu_tanh(vl::input<2>(x)), cpu());
    const vl::tensor xt = vl::eval(vl::permute(vl::input<2>(x), {1, 0}) + 0.0f, cpu());                // [1031, 37], contiguous
    const vl::tensor strided = vl::eval(vl::gelu_tanh(vl::permute(vl::input<2>(xt), {1, 0})), cpu());  // reads x with column stride 37
    std::size_t differ = 0;
    for (index_t i = 0; i < 37 * 1031; ++i) differ += std::memcmp(fast.data<float>() + i, strided.data<float>() + i, sizeof(float)) != 0;
    BOOST_TEST(differ == 0u, differ << " of " << 37 * 1031 << " values differ between the contiguous and the strided path");
}

BOOST_AUTO_TEST_CASE(gelu_erf) {
    check_unary<vl::fn::gelu_erf>([](double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); },
                                  op_inputs(-6, 6, {0.0, 10.0, -10.0, 1e4, -1e4, 1e30, -1e30}), gelu_tol, "gelu_erf");
}
BOOST_AUTO_TEST_CASE(softplus) {
    // Reference: the stable form max(x, 0) + log1p(e^-|x|); the kernel's x > 20 branch returns x itself
    // (without it, x >= 89 would give log1pf(inf) = inf).
    check_unary<vl::fn::softplus>([](double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x))); },
                                  op_inputs(-30, 30, {0.0, 19.99, 20.0, 20.01, 25.0, 88.0, 89.0, 100.0, 1e4, 3e38, -50.0, -100.0, -1e4}), libm_tol,
                                  "softplus");
    // and exactly x just above the threshold, not log1p(exp(x))
    const vl::tensor x = vl::tensor::from(std::vector<float>{20.5f, 1000.0f}, {2});
    const vl::tensor y = vl::eval(vl::softplus(vl::input<1>(x)), cpu());
    BOOST_TEST(y.data<float>()[0] == 20.5f);
    BOOST_TEST(y.data<float>()[1] == 1000.0f);
}

BOOST_AUTO_TEST_CASE(bf16_and_f16_inputs_are_converted) {
    // A bf16 / f16 input is read as its exact f32 value.
    const dims s = {3, 5};
    for (vl::dtype t : {vl::dtype::bf16, vl::dtype::f16}) {
        const vl::tensor x = vt::make(s, [](index_t i) { return vt::uniform(i, 3, -4, 4); }, t);
        vt::check_close(vl::eval(-vl::input<2>(x), cpu()), map(x, [](double v) { return -v; }), s, vt::exact, std::string(vl::name_of(t)));
    }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Elementwise binary, broadcasting, scalars, fused chains
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(binary)

namespace {
// ref[i] = f(a[bcast(i)], b[bcast(i)]) over the broadcast shape `out`.
std::vector<double> broadcast_ref(const vl::tensor& a, const vl::tensor& b, const dims& out, const std::function<double(double, double)>& f) {
    const std::vector<double> av = vt::values(a), bv = vt::values(b);
    std::vector<double> r(static_cast<std::size_t>(vl::checked_numel(out)));
    for (index_t i = 0; i < static_cast<index_t>(r.size()); ++i) {
        const dims idx = vt::unravel(i, out);
        r[static_cast<std::size_t>(i)] = f(av[static_cast<std::size_t>(vt::broadcast_index(idx, a.shape()))], bv[static_cast<std::size_t>(vt::broadcast_index(idx, b.shape()))]);
    }
    return r;
}

// Runs all four ops on one pair of shapes (rank <= 3, padded with leading 1s to rank 3: one
// expression type per op); `mixed_rank` also runs add with the operands at their own ranks.
void check_all_ops(dims sa, dims sb, const dims& out_shape) {
    const vl::tensor a = vt::make(sa, [](index_t i) { return vt::small_int(i, 1, -9, 9); });
    // b avoids 0 so that div stays finite (division by zero is tested separately)
    const vl::tensor b = vt::make(sb, [](index_t i) { const double v = vt::small_int(i, 2, -4, 4); return v == 0 ? 5.0 : v; });
    const std::string ctx = str(sa) + " op " + str(sb);
    const auto pad = [](dims d) { d.insert(d.begin(), 3 - d.size(), 1); return d; };
    const auto x = vl::input<3>(a.reshape(pad(sa)));
    const auto y = vl::input<3>(b.reshape(pad(sb)));
    const dims out = pad(out_shape);
    vt::check_close(vl::eval(x + y, cpu()), broadcast_ref(a, b, out_shape, std::plus<>()), out, vt::exact, "add " + ctx);
    vt::check_close(vl::eval(x - y, cpu()), broadcast_ref(a, b, out_shape, std::minus<>()), out, vt::exact, "sub " + ctx);
    vt::check_close(vl::eval(x * y, cpu()), broadcast_ref(a, b, out_shape, std::multiplies<>()), out, vt::exact, "mul " + ctx);
    // float(a / b) == float(double(a) / double(b)) for float a, b (double rounding is innocuous for division)
    vt::check_close(vl::eval(x / y, cpu()), broadcast_ref(a, b, out_shape, [](double p, double q) { return static_cast<double>(static_cast<float>(p / q)); }),
                    out, vt::exact, "div " + ctx);
}
}  // namespace

BOOST_AUTO_TEST_CASE(same_shape) {
    for (const dims& s : shapes2) check_all_ops(s, s, s);
    for (const dims& s : shapes3) check_all_ops(s, s, s);
}

BOOST_AUTO_TEST_CASE(broadcasting_both_directions) {
    check_all_ops({7, 1}, {1, 13}, {7, 13});       // both sides broadcast
    check_all_ops({7, 13}, {7, 1}, {7, 13});       // right side broadcasts
    check_all_ops({1, 13}, {7, 13}, {7, 13});      // left side broadcasts
    check_all_ops({3, 1, 5}, {4, 1}, {3, 4, 5});   // lower-rank right operand, size-1 extents on both
    check_all_ops({4, 5}, {2, 1, 5}, {2, 4, 5});   // lower-rank left operand
    check_all_ops({2, 3, 17}, {1, 17}, {2, 3, 17});
    check_all_ops({2, 0, 3}, {1, 3}, {2, 0, 3});   // empty extent
    check_all_ops({1, 1}, {2, 3, 17}, {2, 3, 17});
}

BOOST_AUTO_TEST_CASE(operands_of_different_ranks) {
    // Right-aligned broadcasting between a rank-3 and a rank-2 operand, both ways round.
    const vl::tensor a = vt::make({3, 1, 5}, [](index_t i) { return vt::small_int(i, 3, -9, 9); });
    const vl::tensor b = vt::make({4, 1}, [](index_t i) { return vt::small_int(i, 4, -9, 9); });
    vt::check_close(vl::eval(vl::input<3>(a) + vl::input<2>(b), cpu()), broadcast_ref(a, b, {3, 4, 5}, std::plus<>()), {3, 4, 5}, vt::exact, "[3,1,5] + [4,1]");
    vt::check_close(vl::eval(vl::input<2>(b) - vl::input<3>(a), cpu()), broadcast_ref(b, a, {3, 4, 5}, std::minus<>()), {3, 4, 5}, vt::exact, "[4,1] - [3,1,5]");
}

BOOST_AUTO_TEST_CASE(scalars_on_both_sides) {
    const dims s = {3, 1, 5};
    const vl::tensor a = vt::make(s, [](index_t i) { return vt::small_int(i, 4, -9, 9); });
    const auto x = vl::input<3>(a);
    // every operator with an int, float or double scalar on the left or the right (exact: quarters of small integers)
    vt::check_close(vl::eval((2.5f - x) * 3.0 + x / 4 - 1 + 2 * x, cpu()), map(a, [](double v) { return (2.5 - v) * 3 + v / 4 - 1 + 2 * v; }), s, vt::exact,
                    "(2.5 - x) * 3 + x / 4 - 1 + 2 * x");
    vt::check_close(vl::eval(8.0f / (x * x + 1), cpu()), map(a, [](double v) { return 8 / (v * v + 1); }), s, vt::exact, "8 / (x^2 + 1)");
}

BOOST_AUTO_TEST_CASE(division_by_zero_gives_ieee_results) {
    const vl::tensor a = vl::tensor::from(std::vector<float>{1, -1, 0}, {3});
    const vl::tensor y = vl::eval(vl::input<1>(a) / 0.0f, cpu());
    vt::check_close(y, {INFINITY, -INFINITY, NAN}, {3}, vt::exact, "x / 0");
}

BOOST_AUTO_TEST_CASE(integer_valued_fused_chain_is_exact) {
    // ((a + b) * c - a) * 2 + 1 - c / 4 with three broadcast shapes; one fused kernel.
    const dims sa = {2, 3, 17}, sb = {3, 1}, sc = {17}, out = {2, 3, 17};
    const vl::tensor a = vt::make(sa, [](index_t i) { return vt::small_int(i, 5, -9, 9); });
    const vl::tensor b = vt::make(sb, [](index_t i) { return vt::small_int(i, 6, -9, 9); });
    const vl::tensor c = vt::make(sc, [](index_t i) { return vt::small_int(i, 7, -8, 8); });
    const auto x = vl::input<3>(a);
    const auto y = vl::input<2>(b);
    const auto z = vl::input<1>(c);
    const auto e = ((x + y) * z - x) * 2 + 1 - z / 4;
    const std::vector<double> av = vt::values(a), bv = vt::values(b), cv = vt::values(c);
    std::vector<double> ref;
    for (index_t i = 0; i < 2; ++i)
        for (index_t j = 0; j < 3; ++j)
            for (index_t k = 0; k < 17; ++k) {
                const double p = av[static_cast<std::size_t>((i * 3 + j) * 17 + k)], q = bv[static_cast<std::size_t>(j)], r = cv[static_cast<std::size_t>(k)];
                ref.push_back(((p + q) * r - p) * 2 + 1 - r / 4);
            }
    vt::check_close(vl::eval(e, cpu()), ref, out, vt::exact, "integer chain");
}

BOOST_AUTO_TEST_CASE(long_real_valued_fused_chain) {
    // 16 elementwise nodes over three broadcast operands, all transcendental ops included.
    const dims sx = {5, 1, 33}, sw = {4, 33}, sb = {4, 1}, out = {5, 4, 33};
    const vl::tensor tx = vt::make(sx, [](index_t i) { return vt::uniform(i, 1, -2, 2); });
    const vl::tensor tw = vt::make(sw, [](index_t i) { return vt::uniform(i, 2, -2, 2); });
    const vl::tensor tb = vt::make(sb, [](index_t i) { return vt::uniform(i, 3, -2, 2); });
    const auto x = vl::input<3>(tx);
    const auto w = vl::input<2>(tw);
    const auto b = vl::input<2>(tb);
    const auto e = vl::silu(x * w + b) - vl::sigmoid(-x) / (vl::exp(w) + 1.0f) + vl::gelu_tanh(b) * vl::gelu_erf(x - w) + vl::softplus(x * 3) * 0.25f;
    const std::vector<double> xv = vt::values(tx), wv = vt::values(tw), bv = vt::values(tb);
    const double k = std::sqrt(2.0 / M_PI);
    std::vector<double> ref;
    for (index_t i = 0; i < 5; ++i)
        for (index_t j = 0; j < 4; ++j)
            for (index_t l = 0; l < 33; ++l) {
                const double X = xv[static_cast<std::size_t>(i * 33 + l)], W = wv[static_cast<std::size_t>(j * 33 + l)], B = bv[static_cast<std::size_t>(j)];
                const double h = X * W + B, d = X - W;
                ref.push_back(h / (1 + std::exp(-h)) - 1 / (1 + std::exp(X)) / (std::exp(W) + 1) +
                              0.5 * B * (1 + std::tanh(k * (B + 0.044715 * B * B * B))) * 0.5 * d * (1 + std::erf(d / std::sqrt(2.0))) +
                              std::log1p(std::exp(3 * X)) * 0.25);
            }
    vt::check_close(vl::eval(e, cpu()), ref, out, chain_tol, "long chain");
}

BOOST_AUTO_TEST_CASE(strided_operands) {
    // Elementwise over permuted and sliced views reads through their strides.
    const vl::tensor a = vt::make({4, 6}, [](index_t i) { return vt::small_int(i, 8, -9, 9); });
    const vl::tensor b = vt::make({6, 4}, [](index_t i) { return vt::small_int(i, 9, -9, 9); });
    BOOST_CHECK_THROW((void)(vl::permute(vl::input<2>(a), {1, 0}) + vl::slice(vl::input<2>(b), 0, 1, 5)), vl::shape_error);  // [6,4] vs [4,4]
    const auto f = vl::permute(vl::input<2>(a), {1, 0}) * 3 - vl::slice(vl::input<2>(b), 1, 1, 2);  // [6, 4] - [6, 1]
    const std::vector<double> av = vt::values(a), bv = vt::values(b);
    std::vector<double> ref;
    for (index_t i = 0; i < 6; ++i)
        for (index_t j = 0; j < 4; ++j) ref.push_back(av[static_cast<std::size_t>(j * 6 + i)] * 3 - bv[static_cast<std::size_t>(i * 4 + 1)]);
    vt::check_close(vl::eval(f, cpu()), ref, {6, 4}, vt::exact, "permuted * 3 - column slice");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(reductions_on_every_axis) {
    for (const dims& s : std::vector<dims>{{3, 4, 5}, {2, 3, 17}, {3, 1, 5}, {1, 1, 1}, {2, 0, 3}}) {
        const vl::tensor t = vt::make(s, [](index_t i) { return vt::small_int(i, 12, -50, 50); });
        const std::vector<double> v = vt::values(t);
        for (int axis = -3; axis < 3; ++axis) {
            const int ax = axis < 0 ? axis + 3 : axis;
            dims os = s;
            os[static_cast<std::size_t>(ax)] = 1;
            const index_t n = s[static_cast<std::size_t>(ax)], no = vl::checked_numel(os);
            std::vector<double> sum(static_cast<std::size_t>(no), 0.0), mx(static_cast<std::size_t>(no), -INFINITY), mean(static_cast<std::size_t>(no));
            for (index_t i = 0; i < static_cast<index_t>(v.size()); ++i) {
                dims idx = vt::unravel(i, s);
                idx[static_cast<std::size_t>(ax)] = 0;
                const auto o = static_cast<std::size_t>(vt::ravel(idx, os));
                sum[o] += v[static_cast<std::size_t>(i)];
                mx[o] = std::max(mx[o], v[static_cast<std::size_t>(i)]);
            }
            for (std::size_t o = 0; o < mean.size(); ++o) mean[o] = static_cast<float>(sum[o] / static_cast<double>(n));  // n = 0: NaN
            const auto x = vl::input<3>(t);
            const std::string ctx = str(s) + " axis " + std::to_string(axis);
            vt::check_close(vl::eval(vl::sum(x, axis), cpu()), sum, os, vt::exact, "sum " + ctx);
            vt::check_close(vl::eval(vl::mean(x, axis), cpu()), mean, os, vt::exact, "mean " + ctx);
            vt::check_close(vl::eval(vl::max(x, axis), cpu()), mx, os, vt::exact, "max " + ctx);
        }
    }
}

BOOST_AUTO_TEST_CASE(reduction_broadcasts_back) {
    // x - mean(x, -1) over a permuted input (the reduction reads a copy made contiguous).
    const vl::tensor t = vt::make({5, 4}, [](index_t i) { return vt::small_int(i, 13, -8, 8) * 4; });
    const auto x = vl::permute(vl::input<2>(t), {1, 0});  // [4, 5]
    const std::vector<double> v = vt::values(t);
    std::vector<double> ref;
    for (index_t i = 0; i < 4; ++i) {
        double s = 0;
        for (index_t j = 0; j < 5; ++j) s += v[static_cast<std::size_t>(j * 4 + i)];
        for (index_t j = 0; j < 5; ++j) ref.push_back(v[static_cast<std::size_t>(j * 4 + i)] - static_cast<float>(s / 5));
    }
    vt::check_close(vl::eval(x - vl::mean(x, -1), cpu()), ref, {4, 5}, tol{1e-7, 0}, "x - mean(x)");
}

// ---------------------------------------------------------------------------
// Norms and softmax
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(norms)

namespace {
// Row-wise reference over the last axis of a contiguous tensor.
std::vector<double> rowwise(const vl::tensor& x, const std::function<void(const double*, double*, index_t)>& f) {
    const std::vector<double> v = vt::values(x);
    std::vector<double> out(v.size());
    const index_t d = x.shape().back();
    for (std::size_t r = 0; d && r < v.size() / static_cast<std::size_t>(d); ++r) f(v.data() + r * d, out.data() + r * d, d);
    return out;
}

// Rank 3 only (one expression type per norm): rank-2 shapes get a leading 1; the lowering flattens leading axes.
void check_norms(dims s) {
    s.insert(s.begin(), 3 - s.size(), 1);
    const index_t d = s.back();
    const vl::tensor tx = vt::make(s, [](index_t i) { return vt::uniform(i, 21, -2, 2); });
    const vl::tensor tw = vt::make({d}, [](index_t i) { return vt::uniform(i, 22, -1.5, 1.5); });
    const vl::tensor tb = vt::make({d}, [](index_t i) { return vt::uniform(i, 23, -1, 1); });
    const std::vector<double> w = vt::values(tw), b = vt::values(tb);
    const auto x = vl::input<3>(tx);
    const float eps = 1e-5f;
    const std::string ctx = " " + str(s);

    const auto ln = rowwise(tx, [&](const double* in, double* o, index_t n) {
        double m = 0, var = 0;
        for (index_t i = 0; i < n; ++i) m += in[i];
        m /= static_cast<double>(n);
        for (index_t i = 0; i < n; ++i) var += (in[i] - m) * (in[i] - m);
        var /= static_cast<double>(n);
        for (index_t i = 0; i < n; ++i) o[i] = (in[i] - m) / std::sqrt(var + eps) * w[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)];
    });
    vt::check_close(vl::eval(vl::layer_norm(x, vl::input<1>(tw), vl::input<1>(tb), eps), cpu()), ln, s, norm_tol, "layer_norm" + ctx);

    for (vl::rms_weight kind : {vl::rms_weight::plain, vl::rms_weight::one_plus}) {
        const double off = kind == vl::rms_weight::one_plus ? 1.0 : 0.0;
        const auto rms = rowwise(tx, [&](const double* in, double* o, index_t n) {
            double ss = 0;
            for (index_t i = 0; i < n; ++i) ss += in[i] * in[i];
            const double inv = 1 / std::sqrt(ss / static_cast<double>(n) + eps);
            for (index_t i = 0; i < n; ++i) o[i] = in[i] * inv * (off + w[static_cast<std::size_t>(i)]);
        });
        vt::check_close(vl::eval(vl::rms_norm(x, vl::input<1>(tw), eps, kind), cpu()), rms, s, norm_tol,
                        std::string(off ? "rms_norm one_plus" : "rms_norm plain") + ctx);
    }
}
}  // namespace

BOOST_AUTO_TEST_CASE(layer_norm_and_rms_norm) {
    for (const dims& s : shapes2) check_norms(s);
    for (const dims& s : shapes3) check_norms(s);
    check_norms({3, 1000});  // long rows
}

BOOST_AUTO_TEST_CASE(layer_norm_of_a_constant_row_is_the_bias) {
    // var = 0: (x - mean) = 0 exactly, so y = b whatever w and eps.
    const vl::tensor tx = vt::make({3, 8}, [](index_t i) { return static_cast<double>(i / 8) + 0.5; });
    const vl::tensor tw = vt::make({8}, [](index_t i) { return i + 1; });
    const vl::tensor tb = vt::make({8}, [](index_t i) { return 0.25 * static_cast<double>(i) - 1; });
    std::vector<double> ref;
    for (int r = 0; r < 3; ++r)
        for (double v : vt::values(tb)) ref.push_back(v);
    vt::check_close(vl::eval(vl::layer_norm(vl::input<2>(tx), vl::input<1>(tw), vl::input<1>(tb), 1e-6f), cpu()), ref, {3, 8}, vt::exact, "constant rows");
}

BOOST_AUTO_TEST_CASE(softmax) {
    const std::vector<dims> shapes = {{1, 1}, {7, 13}, {4, 1}, {0, 5}, {3, 1000}};
    for (const dims& s : shapes) {
        const vl::tensor tx = vt::make(s, [](index_t i) { return vt::uniform(i, 31, -4, 4); });
        const auto ref = rowwise(tx, [](const double* in, double* o, index_t n) {
            double m = -INFINITY, z = 0;
            for (index_t i = 0; i < n; ++i) m = std::max(m, in[i]);
            for (index_t i = 0; i < n; ++i) z += std::exp(in[i] - m);
            for (index_t i = 0; i < n; ++i) o[i] = std::exp(in[i] - m) / z;
        });
        vt::check_close(vl::eval(vl::softmax(vl::input<2>(tx)), cpu()), ref, s, softmax_tol, "softmax " + str(s));
    }
    // Special rows: large magnitudes (max subtraction), -inf entries (masked: exactly 0), all -inf (NaN, as in PyTorch).
    const vl::tensor t = vl::tensor::from(std::vector<float>{1e4f, 1e4f - 1, -1e4f, 0,  //
                                                            1, -inf, 2, -inf,            //
                                                            -inf, -inf, -inf, -inf,      //
                                                            -inf, 3, -inf, -inf},
                                          {4, 4});
    const double e1 = std::exp(-1.0), z0 = 1 + e1, z1 = std::exp(-1.0) + 1;
    const std::vector<double> ref = {1 / z0, e1 / z0, 0, 0, e1 / z1, 0, 1 / z1, 0, NAN, NAN, NAN, NAN, 0, 1, 0, 0};
    vt::check_close(vl::eval(vl::softmax(vl::input<2>(t)), cpu()), ref, {4, 4}, softmax_tol, "softmax special rows");
    // rank 3 input
    const dims s3 = {2, 3, 17};
    const vl::tensor t3 = vt::make(s3, [](index_t i) { return vt::uniform(i, 32, -4, 4); });
    const auto ref3 = rowwise(t3, [](const double* in, double* o, index_t n) {
        double z = 0;
        for (index_t i = 0; i < n; ++i) z += std::exp(in[i]);
        for (index_t i = 0; i < n; ++i) o[i] = std::exp(in[i]) / z;
    });
    vt::check_close(vl::eval(vl::softmax(vl::input<3>(t3)), cpu()), ref3, s3, softmax_tol, "softmax rank 3");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// GEMMs: exact with integer-valued inputs
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(gemm)

namespace {
// y[m, n] = sum_k x[m, k] w[n, k] (+ b[n]) over x viewed as [M, K].
std::vector<double> linear_ref(const vl::tensor& x, const vl::tensor& w, const vl::tensor* b) {
    const std::vector<double> xv = vt::values(x), wv = vt::values(w), bv = b ? vt::values(*b) : std::vector<double>{};
    const index_t n = w.shape()[0], k = w.shape()[1];
    index_t rows = 1;  // x viewed as [rows, K]
    for (std::size_t i = 0; i + 1 < x.shape().size(); ++i) rows *= x.shape()[i];
    std::vector<double> y(static_cast<std::size_t>(rows * n));
    for (index_t i = 0; i < rows; ++i)
        for (index_t j = 0; j < n; ++j) {
            double s = b ? bv[static_cast<std::size_t>(j)] : 0.0;
            for (index_t l = 0; l < k; ++l) s += xv[static_cast<std::size_t>(i * k + l)] * wv[static_cast<std::size_t>(j * k + l)];
            y[static_cast<std::size_t>(i * n + j)] = s;
        }
    return y;
}

// Rank-3 x only (one expression type with and one without bias): rank-2 x gets a leading 1.
void check_linear(dims xs, index_t n) {
    xs.insert(xs.begin(), 3 - xs.size(), 1);
    const index_t k = xs.back();
    const vl::tensor tx = vt::make(xs, [](index_t i) { return vt::small_int(i, 41); });
    const vl::tensor tw = vt::make({n, k}, [](index_t i) { return vt::small_int(i, 42); });
    const vl::tensor tb = vt::make({n}, [](index_t i) { return vt::small_int(i, 43, -100, 100); });
    dims ys = xs;
    ys.back() = n;
    const std::string ctx = "x " + str(xs) + " W " + str({n, k});
    vt::check_close(vl::eval(vl::linear(vl::input<3>(tx), vl::input<2>(tw)), cpu()), linear_ref(tx, tw, nullptr), ys, vt::exact, "linear " + ctx);
    vt::check_close(vl::eval(vl::linear(vl::input<3>(tx), vl::input<2>(tw), vl::input<1>(tb)), cpu()), linear_ref(tx, tw, &tb), ys, vt::exact,
                    "linear+bias " + ctx);
}
}  // namespace

BOOST_AUTO_TEST_CASE(linear_small_and_odd) {
    check_linear({1, 1}, 1);
    check_linear({7, 13}, 5);
    check_linear({3, 1, 5}, 4);
    check_linear({2, 3, 17}, 9);
    check_linear({0, 5}, 3);  // no rows
    check_linear({4, 0}, 3);  // K = 0: y = b
    check_linear({4, 6}, 0);  // N = 0
}

BOOST_AUTO_TEST_CASE(linear_larger_than_the_tiles) {
    static_assert(vl::cpu::gemm_tile_m == 256 && vl::cpu::gemm_tile_n == 256, "shapes below are chosen for 256 x 256 tiles");
    check_linear({600, 70}, 520);     // 3 x 3 tiles, ragged in both directions
    check_linear({2, 150, 33}, 257);  // M = 300 over a leading batch axis: a row tile and a ragged one, N one past a tile
}

BOOST_AUTO_TEST_CASE(linear_reads_strided_x) {
    // x is a permuted view: the lowering copies it contiguous first.
    const vl::tensor tx = vt::make({9, 5}, [](index_t i) { return vt::small_int(i, 44); });
    const vl::tensor tw = vt::make({6, 9}, [](index_t i) { return vt::small_int(i, 45); });
    const vl::tensor xt = tx.permute({1, 0}).contiguous();  // the reference's x: [5, 9]
    vt::check_close(vl::eval(vl::linear(vl::permute(vl::input<2>(tx), {1, 0}), vl::input<2>(tw)), cpu()), linear_ref(xt, tw, nullptr), {5, 6}, vt::exact,
                    "linear(permute(x))");
}

// A bf16 weight is read as stored: the same bits as the weight converted to f32, and no f32 copy of it
// is made (the executor allocates only the output). A strided bf16 weight is converted, as before.
BOOST_AUTO_TEST_CASE(linear_reads_a_bf16_weight_as_stored) {
    const vl::tensor tx = vt::make({37, 300}, [](index_t i) { return vt::small_int(i, 46) * 0.37; });
    const vl::tensor w32 = vt::make({257, 300}, [](index_t i) { return vt::small_int(i, 47) * 0.013; }).to(vl::dtype::bf16).to(vl::dtype::f32);
    const vl::tensor w16 = w32.to(vl::dtype::bf16);
    const vl::tensor tb = vt::make({257}, [](index_t i) { return vt::small_int(i, 48); });
    for (index_t rows : {index_t{1}, index_t{5}, index_t{37}}) {
        const vl::tensor x = tx.slice(0, 0, rows).contiguous();
        const vl::tensor want = vl::eval(vl::linear(vl::input<2>(x), vl::input<2>(w32), vl::input<1>(tb)), cpu());
        vl::cpu::executor exec{2};
        const vl::tensor got = vl::eval(vl::linear(vl::input<2>(x), vl::input<2>(w16), vl::input<1>(tb)), exec);
        BOOST_TEST(vt::bit_identical(got, want), rows << " rows");
        BOOST_TEST(exec.counters.allocated_bytes < w32.numel() * 4, rows << " rows: " << exec.counters.allocated_bytes << " bytes allocated");
    }
    const vl::tensor strided = w16.permute({1, 0}).contiguous().permute({1, 0});  // [257, 300], column-major
    const vl::tensor x = tx.slice(0, 0, 5).contiguous();
    BOOST_TEST(vt::bit_identical(vl::eval(vl::linear(vl::input<2>(x), vl::input<2>(strided)), cpu()),
                                 vl::eval(vl::linear(vl::input<2>(x), vl::input<2>(w32)), cpu())));
}

namespace {
// c[batch, m, n] = sum_k a[batch, m, k] b[(batch,) k, n]
std::vector<double> matmul_ref(const vl::tensor& a, const vl::tensor& b) {
    const std::vector<double> av = vt::values(a), bv = vt::values(b);
    const int r = a.rank();
    const index_t m = a.shape()[static_cast<std::size_t>(r - 2)], k = a.shape()[static_cast<std::size_t>(r - 1)], n = b.shape().back();
    const index_t batches = vl::checked_numel(a.shape()) / std::max<index_t>(m * k, 1);
    const bool shared = b.rank() == 2;
    std::vector<double> c(static_cast<std::size_t>(batches * m * n));
    for (index_t t = 0; t < batches; ++t)
        for (index_t i = 0; i < m; ++i)
            for (index_t j = 0; j < n; ++j) {
                double s = 0;
                for (index_t l = 0; l < k; ++l) s += av[static_cast<std::size_t>((t * m + i) * k + l)] * bv[static_cast<std::size_t>((shared ? 0 : t * k * n) + l * n + j)];
                c[static_cast<std::size_t>((t * m + i) * n + j)] = s;
            }
    return c;
}
}  // namespace

BOOST_AUTO_TEST_CASE(matmul_batched_and_shared_b) {
    struct cas {
        dims a, b, c;
    };
    for (const cas& t : std::vector<cas>{{{2, 3, 17}, {2, 17, 5}, {2, 3, 5}}, {{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}, {{3, 130, 70}, {3, 70, 260}, {3, 130, 260}}}) {
        const vl::tensor ta = vt::make(t.a, [](index_t i) { return vt::small_int(i, 51); });
        const vl::tensor tb = vt::make(t.b, [](index_t i) { return vt::small_int(i, 52); });
        vt::check_close(vl::eval(vl::matmul(vl::input<3>(ta), vl::input<3>(tb)), cpu()), matmul_ref(ta, tb), t.c, vt::exact,
                        "batched " + str(t.a) + " x " + str(t.b));
    }
    for (const cas& t : std::vector<cas>{{{2, 3, 17}, {17, 5}, {2, 3, 5}}, {{3, 130, 70}, {70, 260}, {3, 130, 260}}, {{2, 0, 4}, {4, 3}, {2, 0, 3}}}) {
        const vl::tensor ta = vt::make(t.a, [](index_t i) { return vt::small_int(i, 53); });
        const vl::tensor tb = vt::make(t.b, [](index_t i) { return vt::small_int(i, 54); });
        vt::check_close(vl::eval(vl::matmul(vl::input<3>(ta), vl::input<2>(tb)), cpu()), matmul_ref(ta, tb), t.c, vt::exact,
                        "shared b " + str(t.a) + " x " + str(t.b));
    }
    // rank 2, b a transposed view (copied contiguous by the lowering)
    const vl::tensor ta = vt::make({7, 13}, [](index_t i) { return vt::small_int(i, 55); });
    const vl::tensor tb = vt::make({11, 13}, [](index_t i) { return vt::small_int(i, 56); });
    vt::check_close(vl::eval(vl::matmul(vl::input<2>(ta), vl::permute(vl::input<2>(tb), {1, 0})), cpu()), matmul_ref(ta, tb.permute({1, 0}).contiguous()),
                    {7, 11}, vt::exact, "a x b^T");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Gather
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(gather)

namespace {
std::vector<double> gather_ref(const vl::tensor& table, const vl::tensor& ids) {
    const std::vector<double> tv = vt::values(table), iv = vt::values(ids);
    const index_t d = table.shape()[1];
    std::vector<double> out;
    for (double id : iv)
        for (index_t j = 0; j < d; ++j) out.push_back(tv[static_cast<std::size_t>(static_cast<index_t>(id) * d + j)]);
    return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(i32_i64_ids_and_bf16_table) {
    const index_t v = 11, d = 7;
    for (vl::dtype tt : {vl::dtype::f32, vl::dtype::bf16, vl::dtype::f16}) {
        const vl::tensor table = vt::make({v, d}, [](index_t i) { return vt::uniform(i, 61, -3, 3); }, tt);
        const vl::tensor ids32 = vl::tensor::from(std::vector<std::int32_t>{3, 0, 10, 3, 7, 1}, {2, 3});
        const vl::tensor ids64 = vl::tensor::from(std::vector<std::int64_t>{10, 0, 5, 5, 2}, {5});
        const std::string ctx = std::string(" table ") + std::string(vl::name_of(tt));
        vt::check_close(vl::eval(vl::gather(vl::input<2>(table), vl::indices<2>(ids32)), cpu()), gather_ref(table, ids32), {2, 3, d}, vt::exact,
                        "i32 ids" + ctx);
        vt::check_close(vl::eval(vl::gather(vl::input<2>(table), vl::indices<1>(ids64)), cpu()), gather_ref(table, ids64), {5, d}, vt::exact, "i64 ids" + ctx);
    }
    // no ids
    const vl::tensor table = vt::make({v, d}, [](index_t i) { return i; });
    const vl::tensor none = vl::tensor::empty({0}, vl::dtype::i64);
    vt::check_close(vl::eval(vl::gather(vl::input<2>(table), vl::indices<1>(none)), cpu()), {}, {0, d}, vt::exact, "no ids");
    // ids through a view, and the gathered rows feeding a fused chain
    const vl::tensor ids = vl::tensor::from(std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
    const auto g = vl::gather(vl::input<2>(table), vl::slice(vl::indices<2>(ids), 1, 1, 3)) * 2 + 1;  // ids [[2, 3], [5, 6]]
    std::vector<double> ref = gather_ref(table, vl::tensor::from(std::vector<std::int64_t>{2, 3, 5, 6}, {2, 2}));
    for (double& e : ref) e = e * 2 + 1;
    vt::check_close(vl::eval(g, cpu()), ref, {2, 2, d}, vt::exact, "sliced ids, fused consumer");
}

BOOST_AUTO_TEST_CASE(out_of_range_id_names_the_id) {
    const vl::tensor table = vt::make({5, 3}, [](index_t i) { return i; });
    const vl::tensor hi = vl::tensor::from(std::vector<std::int32_t>{0, 4, 1234567, 2}, {4});
    vt::check_throws<vl::shape_error>([&] { (void)vl::eval(vl::gather(vl::input<2>(table), vl::indices<1>(hi)), cpu()); }, {"gather", "1234567", "position 2"},
                                      "id past the end");
    const vl::tensor neg = vl::tensor::from(std::vector<std::int64_t>{-1}, {1});
    vt::check_throws<vl::shape_error>([&] { (void)vl::eval(vl::gather(vl::input<2>(table), vl::indices<1>(neg)), cpu()); }, {"-1"}, "negative id");
    const vl::tensor edge = vl::tensor::from(std::vector<std::int64_t>{5}, {1});
    vt::check_throws<vl::shape_error>([&] { (void)vl::eval(vl::gather(vl::input<2>(table), vl::indices<1>(edge)), cpu()); }, {"id 5", "5 rows"}, "id == V");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Views and concatenation (exact: data movement)
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(views)

BOOST_AUTO_TEST_CASE(reshape_permute_slice_split) {
    const dims s = {2, 3, 4};
    const vl::tensor t = vt::make(s, [](index_t i) { return i + 1; });
    const std::vector<double> v = vt::values(t);
    const auto x = vl::input<3>(t);

    vt::check_close(vl::eval(vl::reshape(x, vl::shape_t<2>{-1, 6}), cpu()), v, {4, 6}, vt::exact, "reshape [2,3,4] -> [-1, 6]");

    std::vector<double> pref;  // permute {2, 0, 1}: p[c, a, b] = x[a, b, c]
    for (index_t c = 0; c < 4; ++c)
        for (index_t a = 0; a < 2; ++a)
            for (index_t b = 0; b < 3; ++b) pref.push_back(v[static_cast<std::size_t>((a * 3 + b) * 4 + c)]);
    vt::check_close(vl::eval(vl::permute(x, {2, 0, 1}), cpu()), pref, {4, 2, 3}, vt::exact, "permute {2, 0, 1}");
    vt::check_close(vl::eval(vl::permute(x, {-1, 0, 1}), cpu()), pref, {4, 2, 3}, vt::exact, "permute {-1, 0, 1}");
    // reshape of a non-contiguous view: copied first, row-major order of the view
    vt::check_close(vl::eval(vl::reshape(vl::permute(x, {2, 0, 1}), vl::shape_t<2>{4, 6}), cpu()), pref, {4, 6}, vt::exact, "reshape(permute)");

    std::vector<double> sref;  // slice axis 1, [1, 3)
    for (index_t a = 0; a < 2; ++a)
        for (index_t b = 1; b < 3; ++b)
            for (index_t c = 0; c < 4; ++c) sref.push_back(v[static_cast<std::size_t>((a * 3 + b) * 4 + c)]);
    vt::check_close(vl::eval(vl::slice(x, 1, 1, 3), cpu()), sref, {2, 2, 4}, vt::exact, "slice axis 1");
    vt::check_close(vl::eval(vl::slice(x, -2, 1, 1), cpu()), {}, {2, 0, 4}, vt::exact, "empty slice");

    const auto parts = vl::split(x, -1, std::array<index_t, 3>{1, 0, 3});
    std::vector<double> p0, p2;
    for (index_t r = 0; r < 6; ++r) {
        p0.push_back(v[static_cast<std::size_t>(r * 4)]);
        for (index_t c = 1; c < 4; ++c) p2.push_back(v[static_cast<std::size_t>(r * 4 + c)]);
    }
    vt::check_close(vl::eval(parts[0], cpu()), p0, {2, 3, 1}, vt::exact, "split part 0");
    vt::check_close(vl::eval(parts[1], cpu()), {}, {2, 3, 0}, vt::exact, "split part 1 (empty)");
    vt::check_close(vl::eval(parts[2], cpu()), p2, {2, 3, 3}, vt::exact, "split part 2");
    // a slice of a slice of a permute (offsets compose)
    std::vector<double> ssref;  // permute {1, 2, 0} -> [3, 4, 2]; slice axis 0 [1,3), axis 1 [2,4)
    for (index_t b = 1; b < 3; ++b)
        for (index_t c = 2; c < 4; ++c)
            for (index_t a = 0; a < 2; ++a) ssref.push_back(v[static_cast<std::size_t>((a * 3 + b) * 4 + c)]);
    vt::check_close(vl::eval(vl::slice(vl::slice(vl::permute(x, {1, 2, 0}), 0, 1, 3), 1, 2, 4), cpu()), ssref, {2, 2, 2}, vt::exact, "slice(slice(permute))");
}

BOOST_AUTO_TEST_CASE(concat_of_fused_part_view_and_heavy_op) {
    const vl::tensor ta = vt::make({3, 2}, [](index_t i) { return vt::small_int(i, 71, -9, 9); });
    const vl::tensor tb = vt::make({4, 3}, [](index_t i) { return vt::small_int(i, 72, -9, 9); });
    const vl::tensor tw = vt::make({5, 2}, [](index_t i) { return vt::small_int(i, 73); });
    const auto a = vl::input<2>(ta);
    const auto b = vl::input<2>(tb);
    // [3, 2] fused ++ [3, 4] permuted view ++ [3, 5] linear ++ [3, 0] -> [3, 11]
    const auto c = vl::concat(-1, a * 2 + 1, vl::permute(b, {1, 0}), vl::linear(a, vl::input<2>(tw)), vl::slice(a, 1, 0, 0));
    const std::vector<double> av = vt::values(ta), bv = vt::values(tb), wv = vt::values(tw);
    std::vector<double> ref;
    for (index_t i = 0; i < 3; ++i) {
        for (index_t j = 0; j < 2; ++j) ref.push_back(av[static_cast<std::size_t>(i * 2 + j)] * 2 + 1);
        for (index_t j = 0; j < 4; ++j) ref.push_back(bv[static_cast<std::size_t>(j * 3 + i)]);
        for (index_t j = 0; j < 5; ++j)
            ref.push_back(av[static_cast<std::size_t>(i * 2)] * wv[static_cast<std::size_t>(j * 2)] + av[static_cast<std::size_t>(i * 2 + 1)] * wv[static_cast<std::size_t>(j * 2 + 1)]);
    }
    vt::check_close(vl::eval(c, cpu()), ref, {3, 11}, vt::exact, "concat on the last axis");

    // Along the first and the middle axis of rank-3 parts; a part that is a sum (reduced axis kept).
    const vl::tensor t3 = vt::make({2, 3, 4}, [](index_t i) { return i; });
    const auto x = vl::input<3>(t3);
    const std::vector<double> v = vt::values(t3);
    std::vector<double> r0 = v, r1;
    for (double e : v) r0.push_back(-e);  // axis 0: x ++ -x
    vt::check_close(vl::eval(vl::concat(0, x, -x), cpu()), r0, {4, 3, 4}, vt::exact, "concat axis 0");
    for (index_t a0 = 0; a0 < 2; ++a0) {  // axis 1: x ++ sum(x, 1) ++ x[:, 2:3, :]
        for (index_t b0 = 0; b0 < 3; ++b0)
            for (index_t c0 = 0; c0 < 4; ++c0) r1.push_back(v[static_cast<std::size_t>((a0 * 3 + b0) * 4 + c0)]);
        for (index_t c0 = 0; c0 < 4; ++c0) {
            double sum = 0;
            for (index_t b0 = 0; b0 < 3; ++b0) sum += v[static_cast<std::size_t>((a0 * 3 + b0) * 4 + c0)];
            r1.push_back(sum);
        }
        for (index_t c0 = 0; c0 < 4; ++c0) r1.push_back(v[static_cast<std::size_t>((a0 * 3 + 2) * 4 + c0)]);
    }
    vt::check_close(vl::eval(vl::concat(1, x, vl::sum(x, 1), vl::slice(x, 1, 2, 3)), cpu()), r1, {2, 5, 4}, vt::exact, "concat axis 1");
}

BOOST_AUTO_TEST_CASE(integer_views_and_eval) {
    // Integer expressions evaluate to i64 and go through views unchanged.
    const vl::tensor ids = vl::tensor::from(std::vector<std::int32_t>{1, 2, 3, 4, 5, 6}, {2, 3});
    const vl::tensor r = vl::eval(vl::permute(vl::indices<2>(ids), {1, 0}), cpu());
    BOOST_TEST((r.type() == vl::dtype::i64));
    vt::check_close(r, {1, 4, 2, 5, 3, 6}, {3, 2}, vt::exact, "permute of indices");
    // concat of integer parts stays integer: exact beyond 2^24, and usable as gather ids
    const vl::tensor big = vl::tensor::from(std::vector<std::int64_t>{(1ll << 40) + 1, 16777217}, {2});
    const vl::tensor c = vl::eval(vl::concat(0, vl::indices<1>(big), vl::reshape(vl::indices<2>(ids), vl::shape_t<1>{6})), cpu());
    BOOST_TEST((c.type() == vl::dtype::i64));
    BOOST_TEST_REQUIRE(c.numel() == 8);
    BOOST_TEST(c.data<std::int64_t>()[0] == (1ll << 40) + 1);
    BOOST_TEST(c.data<std::int64_t>()[1] == 16777217);
    BOOST_TEST(c.data<std::int64_t>()[7] == 6);
    const vl::tensor table = vt::make({7, 2}, [](index_t i) { return i; });
    vt::check_close(vl::eval(vl::gather(vl::input<2>(table), vl::concat(0, vl::indices<2>(ids), vl::indices<2>(ids))), cpu()),
                    {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, {4, 3, 2}, vt::exact, "gather(concat of ids)");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Named intermediates and the trace
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(named_intermediates_are_traced) {
    const vl::tensor tx = vt::make({4, 6}, [](index_t i) { return vt::small_int(i, 81); });
    const vl::tensor tw = vt::make({5, 6}, [](index_t i) { return vt::small_int(i, 82); });
    const auto x = vl::input<2>(tx);
    // a named node inside a fused chain, a named heavy op, a named reduction
    const auto h = vl::name("h", x * 2 + 1);                                    // [4, 6]
    const auto y = vl::share(vl::name("y", vl::linear(h, vl::input<2>(tw))));  // [4, 5], used twice: computed (and traced) once
    const auto out = vl::name("out", y - vl::name("s", vl::sum(y, -1)) * 0.5f);  // [4, 5]

    std::vector<double> href = vt::values(tx), yref, sref, oref;
    for (double& e : href) e = e * 2 + 1;
    const std::vector<double> wv = vt::values(tw);
    for (index_t i = 0; i < 4; ++i) {
        double s = 0;
        for (index_t j = 0; j < 5; ++j) {
            double acc = 0;
            for (index_t k = 0; k < 6; ++k) acc += href[static_cast<std::size_t>(i * 6 + k)] * wv[static_cast<std::size_t>(j * 6 + k)];
            yref.push_back(acc);
            s += acc;
        }
        sref.push_back(s);
        for (index_t j = 0; j < 5; ++j) oref.push_back(yref[static_cast<std::size_t>(i * 5 + j)] - s * 0.5);
    }

    vl::cpu::executor plain{2};
    const vl::tensor untraced = vl::eval(out, plain);
    vt::check_close(untraced, oref, {4, 5}, vt::exact, "untraced result");

    vl::cpu::executor traced{2};
    std::vector<std::string> names;
    std::vector<vl::tensor> vals;
    traced.trace = [&](std::string_view n, const vl::tensor& t) {
        names.emplace_back(n);
        vals.push_back(t.contiguous());
    };
    const vl::tensor result = vl::eval(out, traced);
    BOOST_TEST(vt::bit_identical(result, untraced));  // naming changes nothing
    BOOST_TEST_REQUIRE(names.size() == 4u);
    // evaluation order: y (and h inside it) before s; out last
    BOOST_TEST(names == std::vector<std::string>({"h", "y", "s", "out"}), boost::test_tools::per_element());
    const std::vector<std::vector<double>> refs = {href, yref, sref, oref};
    const std::vector<dims> shapes = {{4, 6}, {4, 5}, {4, 1}, {4, 5}};
    for (std::size_t i = 0; i < names.size(); ++i) vt::check_close(vals[i], refs[i], shapes[i], vt::exact, "traced " + names[i]);
    // a trace tensor is a copy: later evals do not overwrite it
    const std::vector<double> before = vt::values(vals[1]);
    (void)vl::eval(vl::linear(x * 0, vl::input<2>(tw)), traced);
    BOOST_TEST(vt::values(vals[1]) == before, boost::test_tools::per_element());
}

// ---------------------------------------------------------------------------
// Bit-identity across thread counts
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
    const index_t m = 300, k = 70, n = 520;
    const vl::tensor tx = vt::make({m, k}, [](index_t i) { return vt::uniform(i, 91, -1, 1); });
    const vl::tensor tw = vt::make({n, k}, [](index_t i) { return vt::uniform(i, 92, -0.2, 0.2); });
    const vl::tensor tb = vt::make({n}, [](index_t i) { return vt::uniform(i, 93, -0.1, 0.1); });
    const vl::tensor tg = vt::make({n}, [](index_t i) { return vt::uniform(i, 94, -0.5, 0.5); });
    const vl::tensor tu = vt::make({k, n}, [](index_t i) { return vt::uniform(i, 95, -0.2, 0.2); }, vl::dtype::bf16);
    const vl::tensor tv = vt::make({n, 257}, [](index_t i) { return vt::uniform(i, 96, -0.2, 0.2); });
    const auto x = vl::input<2>(tx);
    const auto h = vl::share(vl::rms_norm(vl::linear(x, vl::input<2>(tw), vl::input<1>(tb)), vl::input<1>(tg), 1e-6f, vl::rms_weight::one_plus));  // [M, N]
    const auto g = vl::silu(h) * vl::matmul(x, vl::input<2>(tu)) + vl::gelu_tanh(h) / 3;                                         // [M, N]
    const auto p = vl::softmax(vl::layer_norm(g, vl::input<1>(tg), vl::input<1>(tb), 1e-5f));                                    // [M, N]
    const auto q = vl::matmul(p, vl::input<2>(tv));                                                                               // [M, 257]
    const auto e = vl::concat(-1, q - vl::mean(q, -1), g * vl::sum(p, 0) + vl::max(g, 0) + vl::slice(q, 1, 3, 4));               // [M, 777]

    std::vector<vl::tensor> results;
    for (int threads : {1, 2, 3, 4}) {
        vl::cpu::executor ex{threads};
        BOOST_TEST(ex.threads() == threads);
        results.push_back(vl::eval(e, ex));
    }
    BOOST_TEST_REQUIRE(results[0].numel() > 0);
    for (std::size_t i = 1; i < results.size(); ++i) BOOST_TEST(vt::bit_identical(results[0], results[i]), "threads " << (i + 1) << " vs 1");
    // and repeatable on one executor
    vl::cpu::executor ex{2};
    BOOST_TEST(vt::bit_identical(vl::eval(e, ex), vl::eval(e, ex)));
}
