// tests/cuda/cuda_test_main.hpp — what every CUDA test shares: its main()
// (exit code 77, CTest "skipped", when no CUDA device is present, else Boost.Test
// with the test tree that `init` registers) and the tolerance check against the
// CPU backend.
#pragma once

#include <vlgraph/backends/cuda/memory.cuh>

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

namespace vl::test {

struct tolerance {
    double rtol, atol;
};

// Compares a GPU result with the CPU reference element by element:
// |gpu - cpu| <= atol + rtol * |cpu| (NaN matches NaN, inf the same inf); reports the worst element.
inline void check_close(const std::string& what, const tensor& got, const tensor& want, tolerance t) {
    BOOST_TEST_CONTEXT(what) {
        BOOST_TEST_REQUIRE(to_string(got.shape()) == to_string(want.shape()));
        const tensor g = got.to(dtype::f64), w = want.to(dtype::f64);
        const double *gp = g.data<double>(), *wp = w.data<double>();
        index_t bad = -1, count = 0;
        double worst = 0;
        for (index_t i = 0; i < g.numel(); ++i) {
            const double a = gp[i], b = wp[i];
            const bool same_special = (std::isnan(a) && std::isnan(b)) || (std::isinf(a) && a == b);
            if (same_special) continue;
            const double excess = std::abs(a - b) - (t.atol + t.rtol * std::abs(b));
            if (!(excess <= 0)) {
                ++count;
                if (bad < 0 || !(excess <= worst)) bad = i, worst = excess;
            }
        }
        if (bad >= 0) {
            std::ostringstream msg;
            msg.precision(9);
            msg << count << " of " << g.numel() << " elements out of tolerance (rtol " << t.rtol << ", atol " << t.atol << "); worst at flat index " << bad
                << ": gpu " << gp[bad] << ", cpu " << wp[bad];
            BOOST_ERROR(msg.str());
        }
    }
}

// A test case named as its function, for add_tests below.
#define VL_CUDA_TEST_CASE(fn) boost::unit_test::make_test_case(&fn, #fn, __FILE__, __LINE__)

// main() of a CUDA test: exit 77 without a device, else Boost.Test with the master suite `name` holding what
// add_tests adds.
inline int run_cuda_tests(int argc, char** argv, const char* name, void (*add_tests)(boost::unit_test::test_suite& master)) {
    if (!vl::cuda::available()) {
        std::puts("no CUDA device: skipping");
        return 77;
    }
    static const char* suite_name = nullptr;  // Boost's init hook is a plain function pointer: no captures
    static void (*add)(boost::unit_test::test_suite&) = nullptr;
    suite_name = name;
    add = add_tests;
    return boost::unit_test::unit_test_main(
        [] {
            boost::unit_test::test_suite& master = boost::unit_test::framework::master_test_suite();
            master.p_name.value = suite_name;
            add(master);
            return true;
        },
        argc, argv);
}

// The same for a test with one suite per executor dtype: suite<float>("f32") and suite<bf16>("bf16").
using dtype_suite = boost::unit_test::test_suite* (*)(const char* name);
inline int run_cuda_tests(int argc, char** argv, const char* name, dtype_suite f32, dtype_suite bf16) {
    static dtype_suite suites[2];
    suites[0] = f32;
    suites[1] = bf16;
    return run_cuda_tests(argc, argv, name, [](boost::unit_test::test_suite& master) {
        master.add(suites[0]("f32"));
        master.add(suites[1]("bf16"));
    });
}

}  // namespace vl::test
