// tests/cuda/cuda_test_main.hpp — what every CUDA test shares: its main()
// (the startup check below, then Boost.Test with the test tree that `add_tests`
// registers) and the tolerance check against the CPU backend.
//
// Startup check (cuda_startup_status): cudaGetDeviceCount decides.
//   - success with at least one device: the tests run;
//   - no device — cudaErrorNoDevice, a count of 0, or cudaErrorInsufficientDriver (no
//     driver installed at all, or one older than the runtime: what a build machine
//     without a GPU reports) — is a skip: exit 77, CTest "skipped";
//   - any other error (e.g. cudaErrorDevicesUnavailable, cudaErrorSystemDriverMismatch,
//     cudaErrorCompatNotSupportedOnDevice, cudaErrorNotPermitted) is a failure: exit 1;
//   - VLGRAPH_REQUIRE_CUDA=1 (any value but empty or 0) turns the skip into a failure
//     too (exit 1 with a message): scripts/gpu-check.sh sets it on the GPU machine,
//     where a skip means the check did not happen.
#pragma once

#include <vlgraph/backends/cuda/memory.cuh>

#include <boost/test/unit_test.hpp>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
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

// 0 when a CUDA device is present; else the exit code of main(): 77 (skip) when there is no device or no
// driver, 1 for any other startup error or when VLGRAPH_REQUIRE_CUDA is set. Prints why.
inline int cuda_startup_status() {
    const char* req = std::getenv("VLGRAPH_REQUIRE_CUDA");
    const bool require = req && *req && std::string(req) != "0";
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    (void)cudaGetLastError();  // clear a sticky startup error
    if (e == cudaSuccess && n > 0) return 0;
    const bool no_device = (e == cudaSuccess && n == 0) || e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver;
    const char* what = e == cudaSuccess ? "cudaSuccess with 0 devices" : cudaGetErrorName(e);
    const char* text = e == cudaSuccess ? "no device" : cudaGetErrorString(e);
    if (!no_device) {
        std::fprintf(stderr, "CUDA startup error: cudaGetDeviceCount returned %s (%d: %s): failing\n", what, static_cast<int>(e), text);
        return 1;
    }
    if (require) {
        std::fprintf(stderr, "no CUDA device (%s: %s) but VLGRAPH_REQUIRE_CUDA=%s: failing instead of skipping\n", what, text, req);
        return 1;
    }
    std::printf("no CUDA device (%s): skipping\n", what);
    return 77;
}

// main() of a CUDA test: cuda_startup_status() when it is not 0, else Boost.Test with the master suite `name` holding what
// add_tests adds.
inline int run_cuda_tests(int argc, char** argv, const char* name, void (*add_tests)(boost::unit_test::test_suite& master)) {
    if (const int status = cuda_startup_status(); status != 0) return status;
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
