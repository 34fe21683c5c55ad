// tests/cuda/op_cases.hpp — the graphs of the CUDA op test, shared by the
// nvcc-compiled test (CUDA executors, test_ops_cuda.cu) and the g++-compiled
// reference (CPU executor, test_ops_cuda_ref.cpp), so both evaluate the very
// same expression. Shapes are odd on purpose and include extents of 1 and 0.
#pragma once

#include <vlgraph/vlgraph.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl::test {

// Tolerance classes; the table of values is at the top of test_ops_cuda.cu.
enum class tol { exact, elementwise, transcendental, reduction, norm, softmax, gemm, chain };

// How an input is filled: uniform reals in [lo, hi], integer-valued reals in
// [lo, hi] (exact GEMMs), ids in [0, hi) (stored as `type`), or an attention-like
// mask of 0 / -inf whose first row is entirely -inf.
enum class fill { uniform, integers, ids, mask };

struct input_spec {
    dims shape;
    fill how = fill::uniform;
    double lo = -1, hi = 1;
    dtype type = dtype::f32;
    bool transposed = false;  // bound as a permuted (non-contiguous) view of a [shape[1], shape[0]] tensor
};

struct op_case {
    const char* name;
    tol kind;
    std::vector<input_spec> inputs;
};

inline input_spec u(dims s, double lo = -1, double hi = 1) { return {std::move(s), fill::uniform, lo, hi}; }
inline input_spec ints(dims s, double lo, double hi) { return {std::move(s), fill::integers, lo, hi}; }
inline input_spec ids(dims s, index_t rows, dtype t) { return {std::move(s), fill::ids, 0, static_cast<double>(rows), t}; }
inline input_spec typed(input_spec s, dtype t) {
    s.type = t;
    return s;
}

inline const std::vector<op_case>& cases() {
    static const std::vector<op_case> all = {
        {"add", tol::elementwise, {u({3, 5}), u({3, 5})}},
        {"sub_broadcast", tol::elementwise, {u({4, 1, 7}), u({3, 7})}},
        {"mul_broadcast_both", tol::elementwise, {u({5, 1}), u({1, 6})}},
        {"div", tol::elementwise, {u({2, 3, 5}), u({5}, 0.5, 2)}},
        {"neg", tol::exact, {u({1, 9})}},
        {"scalars", tol::elementwise, {u({7, 3})}},
        {"exp", tol::transcendental, {u({3, 17}, -3, 3)}},
        {"sigmoid", tol::transcendental, {u({4, 33}, -8, 8)}},
        {"silu", tol::transcendental, {u({4, 33}, -8, 8)}},
        {"gelu_tanh", tol::transcendental, {u({5, 31}, -4, 4)}},
        {"gelu_erf", tol::transcendental, {u({5, 31}, -4, 4)}},
        {"softplus", tol::transcendental, {u({6, 11}, -25, 25)}},
        {"fused_chain", tol::transcendental, {u({3, 1, 8}), u({8}), u({2, 8})}},
        {"rank0", tol::elementwise, {u({})}},
        {"empty", tol::exact, {u({3, 0})}},
        {"strided_input", tol::elementwise, {input_spec{{5, 3}, fill::uniform, -1, 1, dtype::f32, true}}},
        {"input_dtypes", tol::elementwise, {typed(u({4, 5}), dtype::f64), typed(u({4, 5}), dtype::f16), typed(u({5}), dtype::bf16)}},
        {"sum_axis0", tol::reduction, {u({7, 5})}},
        {"mean_axis1", tol::reduction, {u({3, 5, 4})}},
        {"max_last", tol::exact, {u({4, 1, 37})}},
        {"sum_last_wide", tol::reduction, {u({2, 300})}},
        {"mean_extent1", tol::reduction, {u({1, 6})}},
        {"layer_norm", tol::norm, {u({5, 37}, -2, 3), u({37}), u({37})}},
        {"layer_norm_wide", tol::norm, {u({1, 1, 300}), u({300}), u({300})}},
        {"rms_norm_plain", tol::norm, {u({3, 4, 29}), u({29})}},
        {"rms_norm_one_plus", tol::norm, {u({7, 300}), u({300}, -0.5, 0.5)}},
        {"softmax", tol::softmax, {u({6, 37}, -5, 5)}},
        {"softmax_wide", tol::softmax, {u({2, 1, 513}, -5, 5)}},
        {"softmax_masked", tol::softmax, {u({5, 9}, -5, 5), input_spec{{5, 9}, fill::mask}}},
        // Integer-valued GEMMs: every product and partial sum is an integer below
        // 2^8, exact in f32 and bf16 whatever the summation order.
        {"linear_int", tol::exact, {ints({1, 17}, -3, 3), ints({13, 17}, -3, 3)}},
        {"linear_int_bias", tol::exact, {ints({3, 5, 24}, -3, 3), ints({7, 24}, -3, 3), ints({7}, -3, 3)}},
        {"linear_bias", tol::gemm, {u({9, 40}), u({33, 40}), u({33})}},
        {"linear_k0", tol::exact, {u({3, 0}), u({4, 0}), u({4})}},
        {"matmul_batched_int", tol::exact, {ints({2, 3, 5, 11}, -3, 3), ints({2, 3, 11, 7}, -3, 3)}},
        {"matmul_shared_int", tol::exact, {ints({4, 3, 10}, -3, 3), ints({10, 6}, -3, 3)}},
        {"matmul_batched", tol::gemm, {u({3, 17, 33}), u({3, 33, 9})}},
        {"gather_i32", tol::exact, {u({11, 6}), ids({2, 3}, 11, dtype::i32)}},
        {"gather_i64_bf16_table", tol::exact, {typed(u({11, 6}), dtype::bf16), ids({5}, 11, dtype::i64)}},
        {"indices", tol::exact, {ids({3, 4}, 100, dtype::i32)}},
        {"permute", tol::exact, {u({3, 4, 5})}},
        {"reshape_of_permute", tol::exact, {u({3, 4, 5})}},
        {"slice", tol::exact, {u({6, 7})}},
        {"split_concat", tol::exact, {u({3, 9})}},
        {"concat_mixed", tol::chain, {u({2, 5}), u({1, 5}), u({3, 5}, -3, 3), u({4, 5})}},
        {"named_trace", tol::chain, {ints({4, 6}, -1, 1), ints({5, 6}, -1, 1)}},
        {"share", tol::chain, {u({3, 8}), u({8}, -0.5, 0.5)}},
    };
    return all;
}

// Evaluates case `which` on inputs `in` with any executor.
template <class Exec>
tensor eval_case(std::string_view which, const std::vector<tensor>& in, Exec& ex) {
    auto x = [&]<int R>(std::size_t i) { return input<R>(in.at(i)); };
    auto x1 = [&](std::size_t i) { return x.template operator()<1>(i); };
    auto x2 = [&](std::size_t i) { return x.template operator()<2>(i); };
    auto x3 = [&](std::size_t i) { return x.template operator()<3>(i); };
    auto x4 = [&](std::size_t i) { return x.template operator()<4>(i); };
    if (which == "add") return eval(x2(0) + x2(1), ex);
    if (which == "sub_broadcast") return eval(x3(0) - x2(1), ex);
    if (which == "mul_broadcast_both") return eval(x2(0) * x2(1), ex);
    if (which == "div") return eval(x3(0) / x1(1), ex);
    if (which == "neg") return eval(-x2(0), ex);
    if (which == "scalars") return eval(2.5f * x2(0) + 1 - x2(0) / 4.0, ex);
    if (which == "exp") return eval(exp(x2(0)), ex);
    if (which == "sigmoid") return eval(sigmoid(x2(0)), ex);
    if (which == "silu") return eval(silu(x2(0)), ex);
    if (which == "gelu_tanh") return eval(gelu_tanh(x2(0)), ex);
    if (which == "gelu_erf") return eval(gelu_erf(x2(0)), ex);
    if (which == "softplus") return eval(softplus(x2(0)), ex);
    if (which == "fused_chain") return eval(silu(x3(0)) * x1(1) + exp(-x2(2)) / 2, ex);  // [3, 2, 8]
    if (which == "rank0") return eval(input<0>(in.at(0)) * 3 + 1, ex);
    if (which == "empty") return eval(exp(x2(0)), ex);
    if (which == "strided_input") return eval(x2(0) + 1, ex);
    if (which == "input_dtypes") return eval(x2(0) + x2(1) * x1(2), ex);
    if (which == "sum_axis0") return eval(sum(x2(0), 0), ex);
    if (which == "mean_axis1") return eval(mean(x3(0), 1), ex);
    if (which == "max_last") return eval(max(x3(0), -1), ex);
    if (which == "sum_last_wide") return eval(sum(x2(0), -1), ex);
    if (which == "mean_extent1") return eval(mean(x2(0), 0), ex);
    if (which == "layer_norm") return eval(layer_norm(x2(0), x1(1), x1(2), 1e-6f), ex);
    if (which == "layer_norm_wide") return eval(layer_norm(x3(0), x1(1), x1(2), 1e-5f), ex);
    if (which == "rms_norm_plain") return eval(rms_norm(x3(0), x1(1), 1e-6f), ex);
    if (which == "rms_norm_one_plus") return eval(rms_norm(x2(0), x1(1), 1e-6f, rms_weight::one_plus), ex);
    if (which == "softmax") return eval(softmax(x2(0)), ex);
    if (which == "softmax_wide") return eval(softmax(x3(0)), ex);
    if (which == "softmax_masked") return eval(softmax(x2(0) + x2(1)), ex);
    if (which == "linear_int") return eval(linear(x2(0), x2(1)), ex);
    if (which == "linear_int_bias") return eval(linear(x3(0), x2(1), x1(2)), ex);
    if (which == "linear_bias") return eval(linear(x2(0), x2(1), x1(2)), ex);
    if (which == "linear_k0") return eval(linear(x2(0), x2(1), x1(2)), ex);
    if (which == "matmul_batched_int") return eval(matmul(x4(0), x4(1)), ex);
    if (which == "matmul_shared_int") return eval(matmul(x3(0), x2(1)), ex);
    if (which == "matmul_batched") return eval(matmul(x3(0), x3(1)), ex);
    if (which == "gather_i32") return eval(gather(x2(0), indices<2>(in.at(1))), ex);
    if (which == "gather_i64_bf16_table") return eval(gather(x2(0), indices<1>(in.at(1))), ex);
    if (which == "indices") return eval(indices<2>(in.at(0)), ex);
    if (which == "permute") return eval(permute(x3(0), {2, 0, 1}), ex);
    if (which == "reshape_of_permute") return eval(reshape(permute(x3(0), {1, 0, 2}), shape_t<2>{4, -1}), ex);
    if (which == "slice") return eval(slice(x2(0), 1, 2, 5), ex);
    if (which == "split_concat") {
        auto [a, b, c] = split(x2(0), -1, std::array<index_t, 3>{2, 3, 4});
        return eval(concat(-1, c, a * 2, b), ex);  // [3, 9]
    }
    if (which == "concat_mixed") return eval(concat(0, x2(0), exp(x2(1)), softmax(x2(2)), sum(x2(3), 0)), ex);  // [7, 5]
    if (which == "named_trace") {
        auto h = name("h", silu(linear(x2(0), x2(1))));  // [4, 5]
        auto g = name("g", h * 0.5f - 1);                // [4, 5]
        return eval(softmax(g), ex);
    }
    if (which == "share") {
        auto s = share(rms_norm(x2(0), x1(1), 1e-6f, rms_weight::one_plus));  // [3, 8]
        return eval(s + exp(s), ex);
    }
    throw std::logic_error("op_cases: no graph for case \"" + std::string(which) + "\"");
}

// A result and the named intermediates a trace received, all on the host.
struct run_result {
    tensor out;
    std::vector<std::pair<std::string, tensor>> traced;
};

// The CPU backend's result for a case (test_ops_cuda_ref.cpp).
run_result reference(std::string_view name, const std::vector<tensor>& in);

}  // namespace vl::test
