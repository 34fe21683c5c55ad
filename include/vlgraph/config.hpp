// vlgraph/config.hpp — portability macros shared by every header.
//
// Every generic header compiles with a plain host compiler. Functions that must
// also run inside CUDA kernels are marked VL_HOST_DEVICE, which only becomes
// `__host__ __device__` when the translation unit is compiled by nvcc
// (the CuTe `CUTE_HOST_DEVICE` pattern).
#pragma once

#if defined(__CUDACC__)
#define VL_HOST_DEVICE __host__ __device__ __forceinline__
#define VL_DEVICE_COMPILE 1
#else
#define VL_HOST_DEVICE inline
#define VL_DEVICE_COMPILE 0
#endif

#include <cstdint>

namespace vl {
using index_t = std::int64_t;  // extents, strides and offsets are always 64-bit
inline constexpr int max_rank = 8;
}  // namespace vl
