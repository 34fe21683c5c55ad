// vlgraph/dtype.hpp and vlgraph/tensor.hpp: 16-bit float conversions against
// independent references (exhaustive over the 2^16 bit patterns, and float ->
// 16-bit over every rounding boundary), and the tensor handle's views and errors.
#define BOOST_TEST_MODULE dtype_tensor
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/dtype.hpp>
#include <vlgraph/tensor.hpp>

#include <cfenv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

// --- independent references (double arithmetic; no bit tricks) --------------
// A binary format with `p` significand bits (implicit bit included), smallest
// normal exponent emin (value 2^emin), largest finite value `max`.
struct format {
    int p, emin;
    double max;
    int exp_bits;
};
constexpr format bf16_fmt{8, -126, 0x1.FEp127, 8};
constexpr format f16_fmt{11, -14, 65504.0, 5};

// Value of a 16-bit pattern (sign | exponent | mantissa), decoded arithmetically.
double decode(std::uint16_t bits, const format& f) {
    const int mbits = f.p - 1;
    const bool neg = bits >> 15;
    const int e = (bits >> mbits) & ((1 << f.exp_bits) - 1);
    const int m = bits & ((1 << mbits) - 1);
    const int emax_field = (1 << f.exp_bits) - 1;
    double v;
    if (e == emax_field) v = m ? std::numeric_limits<double>::quiet_NaN() : INFINITY;
    else if (e == 0) v = std::ldexp(m, f.emin - mbits);  // subnormal
    else v = std::ldexp(1.0 + std::ldexp(m, -mbits), e - (emax_field >> 1));
    return neg ? -v : v;
}

// x rounded to the format, ties to even, overflow to +-inf (x finite).
double round_to(double x, const format& f) {
    if (x == 0) return x;
    int e;
    std::frexp(std::fabs(x), &e);  // |x| = m 2^e, m in [0.5, 1): quantum 2^(e - p)
    const int q = std::max(e, f.emin + 1) - f.p;
    const double r = std::ldexp(std::nearbyint(std::ldexp(x, -q)), q);  // FE_TONEAREST: ties to even
    // Overflow: anything that rounds (with unbounded exponent) beyond max is inf.
    if (std::fabs(r) > f.max) return x < 0 ? -INFINITY : INFINITY;
    return r;
}

// Checks from_float(x) for one float against the reference; returns false on mismatch.
template <class H>
bool converts_right(float x, const format& f, std::string& why) {
    const H h = H::from_float(x);
    const double got = h.to_float();
    if (std::isnan(x)) {
        if (!std::isnan(got)) why = "NaN did not stay NaN";
        return std::isnan(got);
    }
    const double ref = round_to(x, f);
    // equal values, and equal signs (so that -0 stays -0)
    const bool ok = got == ref && std::signbit(got) == std::signbit(ref);
    if (!ok) {
        std::ostringstream o;
        o.precision(17);
        o << "from_float(" << x << " = 0x" << std::hex << vl::detail::float_bits(x) << std::dec << ") = " << got << ", expected " << ref;
        why = o.str();
    }
    return ok;
}

// Floats around every rounding boundary of a 16-bit format: for each non-negative
// finite 16-bit value h, h itself, the midpoint to the next value (a tie), and the
// floats just below/above both; with both signs.
template <class H>
std::vector<float> boundary_floats(const format& f) {
    std::vector<float> xs;
    for (std::uint32_t b = 0; b < 0x8000u; ++b) {
        const double v = decode(static_cast<std::uint16_t>(b), f);
        if (!std::isfinite(v)) continue;
        double next = decode(static_cast<std::uint16_t>(b + 1), f);
        if (!std::isfinite(next)) next = v + std::ldexp(1.0, std::ilogb(v) - (f.p - 1));  // the would-be next value (2^emax+1)
        const float lo = static_cast<float>(v), mid = static_cast<float>((v + next) / 2);
        if (static_cast<double>(mid) != (v + next) / 2) continue;  // not representable (cannot happen for bf16/f16)
        for (float x : {lo, std::nextafter(lo, INFINITY), mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
            xs.push_back(x);
            xs.push_back(-x);
        }
    }
    return xs;
}

// Special and random floats over the whole range.
std::vector<float> special_and_random_floats() {
    const float inf = std::numeric_limits<float>::infinity();
    std::vector<float> xs = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                             std::numeric_limits<float>::signaling_NaN(), std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                             std::numeric_limits<float>::min(), std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                             65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e30f, 0x1.FEp127f, 0x1.FFp127f, 5.96e-8f, 2.98e-8f, 1.0f, 1.00390625f};
    xs.push_back(vl::detail::bits_float(0x7f800001u));  // NaN with only the lowest payload bit (truncation would give inf)
    xs.push_back(vl::detail::bits_float(0xffc00000u));
    std::uint32_t u = 12345;
    for (int i = 0; i < 2000000; ++i) {
        u = u * 1664525u + 1013904223u;
        xs.push_back(vl::detail::bits_float(u));
    }
    return xs;
}

template <class H>
void check_from_float(const std::vector<float>& xs, const format& f, const char* what) {
    std::size_t bad = 0;
    std::string first;
    for (float x : xs) {
        std::string why;
        if (!converts_right<H>(x, f, why)) {
            if (!bad) first = why;
            ++bad;
        }
    }
    BOOST_TEST(bad == 0u, what << ": " << bad << " of " << xs.size() << " wrong; first: " << first);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conversions)

BOOST_AUTO_TEST_CASE(reference_self_check) {
    // The reference itself, on hand-worked values, so that a broken reference cannot hide a broken conversion.
    BOOST_TEST(round_to(1.0 + 0x1p-8, bf16_fmt) == 1.0);                 // tie, even below
    BOOST_TEST(round_to(1.0 + 3 * 0x1p-8, bf16_fmt) == 1.0 + 0x1p-6);    // tie, even above
    BOOST_TEST(round_to(65519.0, f16_fmt) == 65504.0);
    BOOST_TEST(std::isinf(round_to(65520.0, f16_fmt)));
    BOOST_TEST(round_to(0x1p-25, f16_fmt) == 0.0);                       // tie with 0 -> 0
    BOOST_TEST(round_to(0x1.8p-24, f16_fmt) == 0x1p-23);                 // tie 1.5 ulp(sub) -> 2
    BOOST_TEST(decode(0x0001, f16_fmt) == 0x1p-24);
    BOOST_TEST(decode(0x7bff, f16_fmt) == 65504.0);
    BOOST_TEST(decode(0x3f80, bf16_fmt) == 1.0);
    BOOST_TEST(decode(0x0001, bf16_fmt) == 0x1p-133);
}

BOOST_AUTO_TEST_CASE(bf16_to_float_all_patterns) {
    std::size_t bad = 0;
    for (std::uint32_t b = 0; b < 0x10000u; ++b) {
        const float got = vl::bf16::from_bits(static_cast<std::uint16_t>(b)).to_float();
        const double ref = decode(static_cast<std::uint16_t>(b), bf16_fmt);
        const bool ok = std::isnan(ref) ? std::isnan(got) : (got == ref && std::signbit(got) == std::signbit(ref));
        // round trip: every non-NaN pattern converts back to itself
        const bool back = std::isnan(ref) || vl::bf16::from_float(got).bits == b;
        bad += !ok || !back;
    }
    BOOST_TEST(bad == 0u);
}

BOOST_AUTO_TEST_CASE(f16_to_float_all_patterns) {
    std::size_t bad = 0, bad_native = 0;
    for (std::uint32_t b = 0; b < 0x10000u; ++b) {
        const std::uint16_t bits = static_cast<std::uint16_t>(b);
        const float got = vl::f16::from_bits(bits).to_float();
        const double ref = decode(bits, f16_fmt);
        const bool ok = std::isnan(ref) ? std::isnan(got) : (got == ref && std::signbit(got) == std::signbit(ref));
        const bool back = std::isnan(ref) || vl::f16::from_float(got).bits == bits;
        bad += !ok || !back;
#if defined(__FLT16_MAX__)
        _Float16 h;
        std::memcpy(&h, &bits, 2);
        const float native = static_cast<float>(h);
        bad_native += std::isnan(native) ? !std::isnan(got) : !(native == got && std::signbit(native) == std::signbit(got));
#endif
    }
    BOOST_TEST(bad == 0u);
    BOOST_TEST(bad_native == 0u);
}

BOOST_AUTO_TEST_CASE(bf16_from_float_rounds_to_nearest_even) {
    BOOST_REQUIRE(std::fegetround() == FE_TONEAREST);
    check_from_float<vl::bf16>(boundary_floats<vl::bf16>(bf16_fmt), bf16_fmt, "bf16 boundaries");
    check_from_float<vl::bf16>(special_and_random_floats(), bf16_fmt, "bf16 special/random");
    // spot values
    BOOST_TEST(vl::bf16::from_float(0x1.FFp127f).bits == 0x7f80u);  // rounds past max finite: +inf
    BOOST_TEST(vl::bf16::from_float(-0.0f).bits == 0x8000u);
    BOOST_TEST(vl::bf16::from_float(vl::detail::bits_float(0x7f800001u)).bits != 0x7f80u);  // a NaN never becomes inf
}

BOOST_AUTO_TEST_CASE(f16_from_float_rounds_to_nearest_even) {
    BOOST_REQUIRE(std::fegetround() == FE_TONEAREST);
    const std::vector<float> bounds = boundary_floats<vl::f16>(f16_fmt), other = special_and_random_floats();
    check_from_float<vl::f16>(bounds, f16_fmt, "f16 boundaries");
    check_from_float<vl::f16>(other, f16_fmt, "f16 special/random");
#if defined(__FLT16_MAX__)
    // Second, independent reference: the compiler's own float -> _Float16 conversion.
    std::size_t bad = 0;
    for (const auto* set : {&bounds, &other})
        for (float x : *set) {
            const _Float16 h = static_cast<_Float16>(x);
            std::uint16_t bits;
            std::memcpy(&bits, &h, 2);
            const vl::f16 v = vl::f16::from_float(x);
            bad += std::isnan(x) ? !std::isnan(v.to_float()) : v.bits != bits;
        }
    BOOST_TEST(bad == 0u);
#endif
    BOOST_TEST(vl::f16::from_float(65504.0f).bits == 0x7bffu);
    BOOST_TEST(vl::f16::from_float(65520.0f).bits == 0x7c00u);
    BOOST_TEST(vl::f16::from_float(-1e30f).bits == 0xfc00u);
    BOOST_TEST(vl::f16::from_float(0x1p-24f).bits == 0x0001u);
    BOOST_TEST(vl::f16::from_float(-0.0f).bits == 0x8000u);
}

BOOST_AUTO_TEST_CASE(convert_between_dtypes) {
    const std::vector<double> src = {1.5, -2.0, 0.0, 3.0, 255.0};
    const vl::tensor t = vl::tensor::from(src, {5});
    BOOST_TEST(vt::values(t.to(vl::dtype::bf16)) == src, boost::test_tools::per_element());
    BOOST_TEST(vt::values(t.to(vl::dtype::f16)) == src, boost::test_tools::per_element());
    BOOST_TEST(vt::values(t.to(vl::dtype::i32).to(vl::dtype::i64)) == std::vector<double>({1, -2, 0, 3, 255}), boost::test_tools::per_element());
    BOOST_TEST(vt::values(t.slice(0, 2, 5).to(vl::dtype::u8)) == std::vector<double>({0, 3, 255}), boost::test_tools::per_element());
    // f64 -> bf16 rounds to nearest: 1 + 2^-7 + 2^-9 lies below the midpoint 1 + 2^-7 + 2^-8.
    const vl::tensor r = vl::tensor::from(std::vector<double>{1.0 + 0x1p-7 + 0x1p-9}, {1}).to(vl::dtype::bf16);
    BOOST_TEST(r.data<vl::bf16>()[0].to_float() == 1.0f + 0x1p-7f);
}

BOOST_AUTO_TEST_CASE(dtype_names) {
    for (vl::dtype t : {vl::dtype::f32, vl::dtype::f64, vl::dtype::bf16, vl::dtype::f16, vl::dtype::i32, vl::dtype::i64, vl::dtype::u8})
        BOOST_TEST((vl::dtype_from_name(vl::name_of(t)) == t));
    vt::check_throws<vl::format_error>([] { (void)vl::dtype_from_name("F8"); }, {"F8"}, "unknown dtype name");
    BOOST_TEST(vl::size_of(vl::dtype::bf16) == 2u);
    BOOST_TEST(vl::size_of(vl::dtype::i64) == 8u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(tensors)

BOOST_AUTO_TEST_CASE(empty_and_from) {
    const vl::tensor t = vl::tensor::empty({2, 3, 4}, vl::dtype::bf16);
    BOOST_TEST(t.rank() == 3);
    BOOST_TEST(t.numel() == 24);
    BOOST_TEST(t.nbytes() == 48u);
    BOOST_TEST(t.strides() == vl::dims({12, 4, 1}), boost::test_tools::per_element());
    BOOST_TEST(t.is_contiguous());
    BOOST_TEST(vt::values(t) == std::vector<double>(24, 0.0), boost::test_tools::per_element());  // zero-filled
    BOOST_TEST(t.extent(-1) == 4);
    const vl::tensor s = vl::tensor::empty({}, vl::dtype::f32);  // rank 0: one element
    BOOST_TEST(s.numel() == 1);
    const vl::tensor z = vl::tensor::empty({3, 0, 2}, vl::dtype::f32);
    BOOST_TEST(z.numel() == 0);
    const std::vector<std::int32_t> v = {1, 2, 3, 4, 5, 6};
    const vl::tensor f = vl::tensor::from(v, {3, 2});
    BOOST_TEST((f.type() == vl::dtype::i32));
    BOOST_TEST(f.data<std::int32_t>()[5] == 6);
    vt::check_throws<vl::shape_error>([&] { (void)vl::tensor::from(v, {4, 2}); }, {"6 values", "[4, 2]"}, "from with wrong count");
}

BOOST_AUTO_TEST_CASE(extent_errors) {
    vt::check_throws<vl::shape_error>([] { (void)vl::tensor::empty({2, -1}, vl::dtype::f32); }, {"negative extent", "[2, -1]"}, "negative extent");
    vt::check_throws<vl::shape_error>([] { (void)vl::tensor::empty({1ll << 40, 1ll << 30}, vl::dtype::f32); }, {"overflows"}, "numel overflow");
    const vl::dims big = {3037000500, 3037000500};  // square > 2^63
    vt::check_throws<vl::shape_error>([&] { (void)vl::checked_numel(big); }, {"overflows int64"}, "checked_numel overflow");
    const vl::dims ok = {3037000499, 3037000499};  // square < 2^63
    BOOST_TEST(vl::checked_numel(ok) == 3037000499ll * 3037000499ll);
    vt::check_throws<vl::shape_error>([] { (void)vl::tensor::empty(vl::dims(9, 1), vl::dtype::f32); }, {"max_rank"}, "rank > max_rank");
    const vl::tensor t = vl::tensor::empty({2, 3}, vl::dtype::f32);
    vt::check_throws<vl::shape_error>([&] { (void)t.extent(2); }, {"axis 2", "rank 2"}, "extent out of range");
}

BOOST_AUTO_TEST_CASE(data_checks_dtype) {
    const vl::tensor t = vl::tensor::empty({2}, vl::dtype::bf16);
    BOOST_CHECK_NO_THROW((void)t.data<vl::bf16>());
    vt::check_throws<vl::dtype_error>([&] { (void)t.data<float>(); }, {"F32", "BF16"}, "data<float> of bf16");
    vt::check_throws<vl::dtype_error>([&] { (void)t.data<vl::f16>(); }, {"F16", "BF16"}, "data<f16> of bf16");
    vt::check_throws<vl::error>([] { (void)vl::tensor().data<float>(); }, {"empty"}, "data of undefined tensor");
}

BOOST_AUTO_TEST_CASE(reshape_views) {
    const vl::tensor t = vt::make({2, 3, 4}, [](vl::index_t i) { return i; });
    const vl::tensor r = t.reshape({4, -1});
    BOOST_TEST(r.shape() == vl::dims({4, 6}), boost::test_tools::per_element());
    BOOST_TEST(r.raw_data() == t.raw_data());  // a view: same storage
    BOOST_TEST(vt::values(r) == vt::values(t), boost::test_tools::per_element());
    BOOST_TEST(t.reshape({-1}).shape() == vl::dims({24}), boost::test_tools::per_element());
    BOOST_TEST(t.reshape({2, -1, 2}).shape() == vl::dims({2, 6, 2}), boost::test_tools::per_element());
    vt::check_throws<vl::shape_error>([&] { (void)t.reshape({-1, -1}); }, {"more than one -1"}, "two -1");
    vt::check_throws<vl::shape_error>([&] { (void)t.reshape({5, -1}); }, {"cannot infer", "[5, -1]"}, "-1 not inferable");
    vt::check_throws<vl::shape_error>([&] { (void)t.reshape({5, 5}); }, {"24 elements", "[5, 5]"}, "wrong count");
    vt::check_throws<vl::shape_error>([&] { (void)t.reshape({-4, -6}); }, {"negative"}, "negative extents");
    vt::check_throws<vl::shape_error>([&] { (void)t.permute({1, 0, 2}).reshape({24}); }, {"not contiguous"}, "reshape of a permuted view");
    // a contiguous slice along the first axis is still reshapeable; its offset is kept
    const vl::tensor s = t.slice(0, 1, 2).reshape({12});
    BOOST_TEST(vt::values(s)[0] == 12.0);
    // empty tensors are trivially contiguous
    const vl::tensor z = vl::tensor::empty({3, 0, 2}, vl::dtype::f32);
    BOOST_TEST(z.is_contiguous());
    BOOST_TEST(z.reshape({0, 6}).shape() == vl::dims({0, 6}), boost::test_tools::per_element());
    BOOST_TEST(t.slice(1, 1, 1).is_contiguous());
}

BOOST_AUTO_TEST_CASE(permute_and_slice_views) {
    const vl::dims shape = {2, 3, 4};
    const vl::tensor t = vt::make(shape, [](vl::index_t i) { return i * 10 + 1; });
    const vl::tensor p = t.permute({2, 0, 1});  // [4, 2, 3]
    BOOST_TEST(p.shape() == vl::dims({4, 2, 3}), boost::test_tools::per_element());
    BOOST_TEST(p.strides() == vl::dims({1, 12, 4}), boost::test_tools::per_element());
    BOOST_TEST(!p.is_contiguous());
    const std::vector<double> pv = vt::values(p), tv = vt::values(t);
    bool same = true;
    for (vl::index_t i = 0; i < 24; ++i) {
        const vl::dims o = vt::unravel(i, p.shape());  // p[a, b, c] = t[b, c, a]
        same = same && pv[static_cast<std::size_t>(i)] == tv[static_cast<std::size_t>(vt::ravel({o[1], o[2], o[0]}, shape))];
    }
    BOOST_TEST(same);
    BOOST_TEST(t.permute({-1, 0, 1}).shape() == p.shape(), boost::test_tools::per_element());
    vt::check_throws<vl::shape_error>([&] { (void)t.permute({0, 0, 1}); }, {"repeated"}, "repeated axis");
    vt::check_throws<vl::shape_error>([&] { (void)t.permute({0, 1}); }, {"2 axes", "rank is 3"}, "short order");
    vt::check_throws<vl::shape_error>([&] { (void)t.permute({0, 1, 3}); }, {"axis 3"}, "axis out of range");

    const vl::tensor s = t.slice(-1, 1, 3);  // [2, 3, 2]
    BOOST_TEST(s.shape() == vl::dims({2, 3, 2}), boost::test_tools::per_element());
    BOOST_TEST(s.offset() == 1);
    BOOST_TEST(!s.is_contiguous());
    const std::vector<double> sv = vt::values(s);
    same = true;
    for (vl::index_t i = 0; i < 12; ++i) {
        const vl::dims o = vt::unravel(i, s.shape());
        same = same && sv[static_cast<std::size_t>(i)] == tv[static_cast<std::size_t>(vt::ravel({o[0], o[1], o[2] + 1}, shape))];
    }
    BOOST_TEST(same);
    BOOST_TEST(t.slice(1, 2, 2).numel() == 0);
    vt::check_throws<vl::shape_error>([&] { (void)t.slice(1, 2, 4); }, {"[2, 4)", "axis 1", "[2, 3, 4]"}, "slice past the end");
    vt::check_throws<vl::shape_error>([&] { (void)t.slice(1, 2, 1); }, {"[2, 1)"}, "slice end < begin");
    vt::check_throws<vl::shape_error>([&] { (void)t.slice(1, -1, 1); }, {"[-1, 1)"}, "slice negative begin");
    vt::check_throws<vl::shape_error>([&] { (void)t.slice(3, 0, 1); }, {"axis 3"}, "slice axis out of range");
}

BOOST_AUTO_TEST_CASE(contiguous_and_to) {
    const vl::tensor t = vt::make({3, 5}, [](vl::index_t i) { return 0.5 * static_cast<double>(i) - 3; });
    const vl::tensor view = t.permute({1, 0}).slice(0, 1, 4);  // [3, 3], strided with an offset
    const vl::tensor c = view.contiguous();
    BOOST_TEST(c.is_contiguous());
    BOOST_TEST(c.raw_data() != t.raw_data());
    BOOST_TEST(vt::values(c) == vt::values(view), boost::test_tools::per_element());
    BOOST_TEST(t.contiguous().raw_data() == t.raw_data());  // already contiguous: no copy
    const vl::tensor h = view.to(vl::dtype::f16);
    BOOST_TEST((h.type() == vl::dtype::f16));
    BOOST_TEST(h.is_contiguous());
    BOOST_TEST(vt::values(h) == vt::values(view), boost::test_tools::per_element());  // multiples of 0.5: exact
    std::vector<double> expect;
    for (int j = 1; j < 4; ++j)
        for (int i = 0; i < 3; ++i) expect.push_back(0.5 * (i * 5 + j) - 3);
    BOOST_TEST(vt::values(view.to(vl::dtype::bf16)) == expect, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
