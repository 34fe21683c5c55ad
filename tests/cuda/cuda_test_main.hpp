// tests/cuda/cuda_test_main.hpp — the main() of every CUDA test: exit code 77
// (CTest: skipped) when no CUDA device is present, else Boost.Test with the
// test tree that `init` registers.
#pragma once

#include <vlgraph/backends/cuda/memory.cuh>

#include <boost/test/unit_test.hpp>

#include <cstdio>

namespace vl::test {

inline int run_cuda_tests(int argc, char** argv, bool (*init)()) {
    if (!vl::cuda::available()) {
        std::puts("no CUDA device: skipping");
        return 77;
    }
    return boost::unit_test::unit_test_main(init, argc, argv);
}

}  // namespace vl::test
