// tests/test_util.hpp — helpers shared by the CPU test suites: building tensors
// from a function of the index, naive-loop index arithmetic, comparing a result
// with a double-precision reference (reporting the worst element), and checking
// that an error is thrown with a message that names what it should.
//
// Include after <boost/test/unit_test.hpp> (each test file defines BOOST_TEST_MODULE).
#pragma once

#include <boost/test/unit_test.hpp>

#include <vlgraph/tensor.hpp>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace vt {

using vl::dims;
using vl::index_t;

// Multi-index of flat (row-major) index i in `shape`.
inline dims unravel(index_t i, const dims& shape) {
    dims idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
    return idx;
}

// Flat row-major index of `idx` in `shape`.
inline index_t ravel(const dims& idx, const dims& shape) {
    index_t o = 0;
    for (std::size_t d = 0; d < shape.size(); ++d) o = o * shape[d] + idx[d];
    return o;
}

// Flat index in `in` (rank <= rank of out_idx) of the element that NumPy
// broadcasting reads for output multi-index `out_idx`.
inline index_t broadcast_index(const dims& out_idx, const dims& in) {
    const std::size_t off = out_idx.size() - in.size();
    index_t o = 0;
    for (std::size_t d = 0; d < in.size(); ++d) o = o * in[d] + (in[d] == 1 ? 0 : out_idx[off + d]);
    return o;
}

// A contiguous host tensor of dtype t with element i = f(i) (f returns double; rounded
// to t as vl::convert rounds).
template <class F>
vl::tensor make(dims shape, F&& f, vl::dtype t = vl::dtype::f32) {
    const index_t n = vl::checked_numel(shape);
    std::vector<double> v(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<double>(f(i));
    vl::tensor out = vl::tensor::empty(std::move(shape), t);
    vl::convert(v.data(), vl::dtype::f64, out.raw_data(), t, v.size());
    return out;
}

// Small integer values in [lo, hi], deterministic and scrambled (exact in every float dtype for |v| <= 256).
inline double small_int(index_t i, int salt, int lo = -3, int hi = 3) {
    const std::uint64_t h = (static_cast<std::uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(salt) + 1) * 0xC2B2AE3D27D4EB4Full;
    const std::uint64_t m = (h ^ (h >> 29)) * 0xBF58476D1CE4E5B9ull;
    return lo + static_cast<double>((m >> 32) % static_cast<std::uint64_t>(hi - lo + 1));
}
// Non-integer values in [lo, hi), deterministic.
inline double uniform(index_t i, int salt, double lo = -1, double hi = 1) {
    const std::uint64_t h = (static_cast<std::uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(salt) + 7) * 0xD6E8FEB86659FD93ull;
    const std::uint64_t m = (h ^ (h >> 31)) * 0x94D049BB133111EBull;
    return lo + (hi - lo) * static_cast<double>(m >> 11) * 0x1.0p-53;
}

// Every element as double, in row-major order (any dtype, any strides).
inline std::vector<double> values(const vl::tensor& t) {
    const vl::tensor c = t.to(vl::dtype::f64);
    const double* p = c.data<double>();
    return std::vector<double>(p, p + c.numel());
}

// Tolerance: |got - ref| <= abs + rel * |ref|. {0, 0} means exact (NaN matches NaN,
// infinities must match exactly in every mode).
struct tol {
    double rel = 0, abs = 0;
};
inline constexpr tol exact{};

// Compares `got` (shape `shape`) with `ref`; on failure reports the number of bad
// elements and the worst one (multi-index, got, ref).
inline void check_close(const vl::tensor& got, const std::vector<double>& ref, const dims& shape, tol t, const std::string& what) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_TEST_REQUIRE(vl::to_string(got.shape()) == vl::to_string(shape));
        const std::vector<double> g = values(got);
        BOOST_TEST_REQUIRE(g.size() == ref.size());
        index_t bad = 0, worst = -1;
        double worst_excess = -1;
        for (std::size_t i = 0; i < g.size(); ++i) {
            const double a = g[i], r = ref[i];
            bool ok;
            double excess;
            if (std::isnan(r) || std::isnan(a)) {
                ok = std::isnan(r) && std::isnan(a);
                excess = ok ? 0 : INFINITY;
            } else if (std::isinf(r) || std::isinf(a)) {
                ok = a == r;
                excess = ok ? 0 : INFINITY;
            } else {
                const double err = std::fabs(a - r), bound = t.abs + t.rel * std::fabs(r);
                ok = err <= bound;
                excess = err - bound;
            }
            if (!ok) {
                ++bad;
                if (excess > worst_excess) {
                    worst_excess = excess;
                    worst = static_cast<index_t>(i);
                }
            }
        }
        if (bad) {
            std::ostringstream o;
            o.precision(9);
            o << bad << " of " << g.size() << " elements out of tolerance (rel " << t.rel << ", abs " << t.abs << "); worst at "
              << vl::to_string(unravel(worst, shape)) << ": got " << g[static_cast<std::size_t>(worst)] << ", reference " << ref[static_cast<std::size_t>(worst)];
            BOOST_ERROR(o.str());
        }
    }
}

// True when both tensors have the same dtype, shape and bytes.
inline bool bit_identical(const vl::tensor& a, const vl::tensor& b) {
    if (a.type() != b.type() || a.shape() != b.shape()) return false;
    const vl::tensor x = a.contiguous(), y = b.contiguous();
    return std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

// Requires f() to throw exactly error type E (or a subclass) whose message contains every needle.
template <class E, class F>
void check_throws(F&& f, std::initializer_list<std::string_view> needles, const std::string& what) {
    BOOST_TEST_CONTEXT(what) {
        try {
            f();
            BOOST_ERROR("no exception was thrown");
        } catch (const E& e) {
            const std::string msg = e.what();
            for (std::string_view n : needles) BOOST_TEST(msg.find(n) != std::string::npos, "message \"" << msg << "\" lacks \"" << n << "\"");
        } catch (const std::exception& e) {
            BOOST_ERROR("wrong exception type: " << e.what());
        }
    }
}

}  // namespace vt
