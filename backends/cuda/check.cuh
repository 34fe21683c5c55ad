// backends/cuda/check.cuh — turning CUDA and cuBLASLt status codes into
// vl::backend_error exceptions that name the failing call and where it was made.
//
//     VL_CUDA_CHECK(cudaMalloc(&p, bytes));
//     VL_CUBLAS_CHECK(cublasLtMatmul(...));
//     VL_CUDA_CHECK_LAUNCH("softmax");          // after a <<<...>>> launch
#pragma once

#include <vlgraph/error.hpp>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

namespace vl::cuda::detail {

inline std::string where(const char* file, int line) { return std::string(" at ") + file + ":" + std::to_string(line); }

inline void check(cudaError_t e, const char* call, const char* file, int line) {
    if (e != cudaSuccess)
        throw backend_error(std::string("CUDA: ") + call + " failed: " + cudaGetErrorString(e) + " (" + cudaGetErrorName(e) + ")" + where(file, line));
}

inline void check(cublasStatus_t s, const char* call, const char* file, int line) {
    if (s != CUBLAS_STATUS_SUCCESS)
        throw backend_error(std::string("cuBLASLt: ") + call + " failed: " + cublasLtGetStatusString(s) + " (" + cublasLtGetStatusName(s) + ")" +
                            where(file, line));
}

}  // namespace vl::cuda::detail

#define VL_CUDA_CHECK(call) ::vl::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define VL_CUBLAS_CHECK(call) ::vl::cuda::detail::check((call), #call, __FILE__, __LINE__)
// A kernel launch reports bad configurations only through cudaGetLastError.
#define VL_CUDA_CHECK_LAUNCH(kernel) ::vl::cuda::detail::check(cudaGetLastError(), "launch of the " kernel " kernel", __FILE__, __LINE__)
