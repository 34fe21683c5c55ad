// backends/cuda/gemm.cuh — the one GEMM of the CUDA backend (cuBLASLt), used by
// linear and matmul. In row-major terms, per batch:
//
//     C[M, N] = A[M, K] · op(B) (+ bias[N]),   op(B) = B[N, K]ᵀ (b_transposed) or B[K, N]
//
// Inputs and output in T, accumulation and scaling in f32 (CUBLAS_COMPUTE_32F;
// deliberately not _FAST_TF32, whose 10-bit mantissa would break the f32
// executor's accuracy). The bias is added in f32 by the GEMM's epilogue, before
// C is rounded to T.
//
// Layouts. cuBLASLt is column-major, and a row-major [R, C] matrix is the same
// memory as a column-major C×R matrix, i.e. its transpose. So we let cuBLASLt
// compute the transposed product, which is C itself seen column-major:
//
//     Cᵀ (N×M, ld N)  =  op(B)ᵀ (N×K)  ·  Aᵀ (K×M)
//
//   cuBLASLt "A" := our B.  B[N, K] row-major is column-major K×N (ld K): we need
//                   its transpose N×K, so TRANSA = T.  B[K, N] row-major is
//                   column-major N×K (ld N) already: TRANSA = N.
//   cuBLASLt "B" := our A.  A[M, K] row-major is column-major K×M (ld K) = Aᵀ:
//                   TRANSB = N.
//   cuBLASLt m, n, k = N, M, K;  D = C column-major N×M (ld N).
//
// The bias epilogue adds a vector with one entry per row of D; the rows of D
// are our N output features, which is exactly y = x·Wᵀ + b.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>

#include <bit>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace vl::cuda {

struct gemm_shape {
    index_t m, n, k;
    bool b_transposed;
    index_t batches = 1;  // strided batches: A, B, C advance by these many elements
    index_t stride_a = 0, stride_b = 0, stride_c = 0;
};

namespace detail {

template <class T> inline constexpr cudaDataType_t cuda_type_v = CUDA_R_32F;
template <> inline constexpr cudaDataType_t cuda_type_v<bf16> = CUDA_R_16BF;

// C = bias broadcast over rows (or 0): the product with K = 0, which cuBLASLt does not take.
template <class T>
__global__ void fill_rows_kernel(T* c, const T* bias, index_t rows, index_t n) {
    for (index_t i = blockIdx.x * static_cast<index_t>(blockDim.x) + threadIdx.x; i < rows * n; i += static_cast<index_t>(gridDim.x) * blockDim.x)
        c[i] = bias ? bias[i % n] : from_float<T>(0.0f);
}

// The largest power of two (at most 256 bytes) dividing the address of every
// batch of a matrix: cuBLASLt's heuristic must know how aligned the operands are.
inline std::uint32_t alignment_of(const void* p, index_t batch_stride_bytes) {
    const auto addr = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p));
    const std::uint64_t g = std::gcd(std::gcd(addr, static_cast<std::uint64_t>(batch_stride_bytes)), std::uint64_t{256});
    return static_cast<std::uint32_t>(std::bit_floor(g ? g : 256));
}

template <class H, auto Destroy>
struct lt_deleter {
    void operator()(H h) const { Destroy(h); }
};
using matmul_desc = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulDesc_t>, lt_deleter<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>>;
using matrix_layout = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, lt_deleter<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>>;
using matmul_pref =
    std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, lt_deleter<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>>;

template <class A>
void set_attr(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const A& v) {
    VL_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, a, &v, sizeof v));
}
template <class A>
void set_attr(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a, const A& v) {
    VL_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, a, &v, sizeof v));
}
template <class A>
void set_attr(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t a, const A& v) {
    VL_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, a, &v, sizeof v));
}

// A column-major rows×cols matrix of T with leading dimension ld, batched.
template <class T>
matrix_layout make_layout(index_t rows, index_t cols, index_t ld, index_t batches, index_t stride) {
    cublasLtMatrixLayout_t l = nullptr;
    VL_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, cuda_type_v<T>, static_cast<std::uint64_t>(rows), static_cast<std::uint64_t>(cols), ld));
    matrix_layout owned(l);
    if (batches > 1) {
        set_attr(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, static_cast<std::int32_t>(batches));
        set_attr(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, static_cast<std::int64_t>(stride));
    }
    return owned;
}

// A GEMM shape's cuBLASLt objects and the heuristic's algorithms, best first (tried in order when cuBLASLt
// refuses one at run time).
struct gemm_plan {
    matmul_desc desc;
    matrix_layout a, b, c;
    std::vector<cublasLtMatmulHeuristicResult_t> algos;
    std::size_t preferred = 0;
};
inline constexpr int gemm_algorithms = 8;

template <class T>
std::shared_ptr<void> make_gemm_plan(executor<T>& ex, const gemm_shape& s, bool bias, std::uint32_t align_a, std::uint32_t align_b, std::uint32_t align_c) {
    auto plan = std::make_shared<gemm_plan>();
    cublasLtMatmulDesc_t d = nullptr;
    VL_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    plan->desc.reset(d);
    set_attr(d, CUBLASLT_MATMUL_DESC_TRANSA, s.b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N);
    set_attr(d, CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
    if (bias) set_attr(d, CUBLASLT_MATMUL_DESC_EPILOGUE, CUBLASLT_EPILOGUE_BIAS);
    // Stored shapes (rows × cols, column-major) of the operands; see the comment at the top.
    plan->a = s.b_transposed ? make_layout<T>(s.k, s.n, s.k, s.batches, s.stride_b) : make_layout<T>(s.n, s.k, s.n, s.batches, s.stride_b);
    plan->b = make_layout<T>(s.k, s.m, s.k, s.batches, s.stride_a);
    plan->c = make_layout<T>(s.n, s.m, s.n, s.batches, s.stride_c);

    cublasLtMatmulPreference_t p = nullptr;
    VL_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&p));
    const matmul_pref pref(p);
    set_attr(p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, static_cast<std::uint64_t>(ex.workspace->bytes()));
    set_attr(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a);
    set_attr(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b);
    set_attr(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c);
    set_attr(p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c);

    plan->algos.resize(gemm_algorithms);
    int found = 0;
    VL_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(ex.blas, d, plan->a.get(), plan->b.get(), plan->c.get(), plan->c.get(), p, gemm_algorithms,
                                                   plan->algos.data(), &found));
    plan->algos.resize(static_cast<std::size_t>(std::max(found, 0)));
    if (plan->algos.empty())
        throw backend_error("cuda gemm: cuBLASLt has no algorithm for M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k) +
                            " batches=" + std::to_string(s.batches));
    return plan;
}

}  // namespace detail

template <class T>
void gemm(executor<T>& ex, const gemm_shape& s, const T* a, const T* b, const T* bias, T* c) {
    if (s.m == 0 || s.n == 0 || s.batches == 0) return;
    if (s.k == 0) {
        const index_t rows = s.m * s.batches;  // batches of C are contiguous here (stride M·N)
        constexpr int threads = 256;
        detail::fill_rows_kernel<T><<<ex.blocks_for(rows * s.n, threads), threads, 0, ex.stream>>>(c, bias, rows, s.n);
        VL_CUDA_CHECK_LAUNCH("gemm fill");
        return;
    }
    if (s.batches > INT32_MAX) throw backend_error("cuda gemm: " + std::to_string(s.batches) + " batches exceed cuBLASLt's int32 batch count");

    const index_t es = static_cast<index_t>(sizeof(T));
    const std::uint32_t align_a = detail::alignment_of(b, s.stride_b * es), align_b = detail::alignment_of(a, s.stride_a * es),
                        align_c = detail::alignment_of(c, s.stride_c * es);
    // One plan per shape (and alignment class): descriptors, layouts and the heuristic's algorithms are made
    // once; a call only sets the bias pointer and runs the first algorithm cuBLASLt accepts.
    const std::string key = std::to_string(sizeof(T)) + ":" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + ":" +
                            std::to_string(s.b_transposed) + ":" + std::to_string(s.batches) + ":" + std::to_string(s.stride_a) + ":" +
                            std::to_string(s.stride_b) + ":" + std::to_string(s.stride_c) + ":" + std::to_string(bias != nullptr) + ":" +
                            std::to_string(align_a) + ":" + std::to_string(align_b) + ":" + std::to_string(align_c);
    auto& slot = ex.gemm_plans[key];
    if (!slot) slot = detail::make_gemm_plan<T>(ex, s, bias != nullptr, align_a, align_b, align_c);
    auto& plan = *static_cast<detail::gemm_plan*>(slot.get());
    if (bias) detail::set_attr(plan.desc.get(), CUBLASLT_MATMUL_DESC_BIAS_POINTER, static_cast<const void*>(bias));
    const float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t status = CUBLAS_STATUS_NOT_SUPPORTED;
    for (std::size_t i = plan.preferred; i < plan.algos.size(); ++i) {
        status = cublasLtMatmul(ex.blas, plan.desc.get(), &alpha, b, plan.a.get(), a, plan.b.get(), &beta, c, plan.c.get(), c, plan.c.get(), &plan.algos[i].algo,
                                ex.workspace->data(), ex.workspace->bytes(), ex.stream);
        if (status != CUBLAS_STATUS_NOT_SUPPORTED) {
            plan.preferred = i;  // refused choices are not tried again
            break;
        }
    }
    VL_CUBLAS_CHECK(status);
}

}  // namespace vl::cuda
