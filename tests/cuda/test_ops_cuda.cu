// tests/cuda/test_ops_cuda.cu — every op of the CUDA backend, for
// executor<float> and executor<bf16>, against the CPU backend (the oracle).
//
// Each case of op_cases.hpp runs twice per executor: host inputs without a
// trace (fused names), and device inputs with a trace (named intermediates
// materialised and compared too). The bf16 executor gets inputs already rounded
// to bf16 values, so the reference sees exactly what the GPU computes from, and
// the tolerance only has to cover the bf16 roundings of intermediates and output.
//
// Exits with 77 (CTest: skipped) when no CUDA device is present.
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>

#include "cuda_test_main.hpp"

#include "op_cases.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>

namespace {

using namespace vl;
using test::tol;
using vl::test::check_close;

// ---------------------------------------------------------------------------
// Tolerances: |gpu - cpu| <= atol + rtol * |cpu| per element (NaN matches NaN,
// inf matches the same inf). Keep in sync with backends/cuda/README.md.
// u = 2^-8 is the relative error bound of one round-to-nearest to bf16.
// ---------------------------------------------------------------------------
using vl::test::tolerance;
constexpr double u = 1.0 / 256;
constexpr tolerance f32_tolerance[] = {
    /* exact          */ {0, 0},
    /* elementwise    */ {1e-5, 1e-6},
    /* transcendental */ {2e-5, 1e-6},
    /* reduction      */ {1e-5, 1e-5},
    /* norm           */ {1e-5, 1e-5},
    /* softmax        */ {2e-5, 1e-7},
    /* gemm           */ {1e-4, 1e-5},
    /* chain          */ {1e-4, 1e-5},
};
constexpr tolerance bf16_tolerance[] = {
    /* exact          */ {0, 0},
    /* elementwise    */ {u + 1e-5, 1e-6},
    /* transcendental */ {u + 2e-5, 1e-6},
    /* reduction      */ {u + 1e-5, 1e-5},
    /* norm           */ {u + 1e-5, 1e-5},
    /* softmax        */ {u + 2e-5, 1e-7},
    /* gemm           */ {u + 1e-4, 1e-5},
    /* chain          */ {8 * u, 8 * u},
};

template <class T>
tolerance tolerance_for(tol k) {
    return (std::is_same_v<T, float> ? f32_tolerance : bf16_tolerance)[static_cast<int>(k)];
}

// Deterministic inputs per case (seeded by the case's name).
std::vector<tensor> make_inputs(const test::op_case& c, bool bf16_values) {
    std::mt19937_64 rng(std::hash<std::string_view>{}(c.name));
    std::vector<tensor> out;
    for (const test::input_spec& s : c.inputs) {
        dims shape = s.shape;
        if (s.transposed) std::swap(shape[0], shape[1]);
        tensor t = tensor::empty(shape, dtype::f64);
        double* p = t.data<double>();
        const index_t n = t.numel();
        for (index_t i = 0; i < n; ++i) {
            switch (s.how) {
                case test::fill::uniform: p[i] = std::uniform_real_distribution<double>(s.lo, s.hi)(rng); break;
                case test::fill::integers:
                case test::fill::ids:
                    p[i] = static_cast<double>(std::uniform_int_distribution<int>(static_cast<int>(s.lo), static_cast<int>(s.hi) - (s.how == test::fill::ids))(rng));
                    break;
                case test::fill::mask: {
                    const index_t cols = shape.back(), row = i / cols, col = i % cols;
                    p[i] = (row == 0 || col > row + 2) ? -INFINITY : 0.0;
                    break;
                }
            }
        }
        if (bf16_values && is_floating(s.type)) t = t.to(dtype::bf16).to(dtype::f64);
        out.push_back(t.to(s.type));
    }
    return out;
}

// The inputs as the CUDA executor gets them: on the host or uploaded; transposed
// specs bound as permuted views either way.
std::vector<tensor> place(const test::op_case& c, const std::vector<tensor>& host, bool on_device) {
    std::vector<tensor> out;
    for (std::size_t i = 0; i < host.size(); ++i) {
        tensor t = on_device ? vl::cuda::to_device(host[i]) : host[i];
        out.push_back(c.inputs[i].transposed ? t.permute({1, 0}) : t);
    }
    return out;
}

template <class T>
test::run_result run_cuda(vl::cuda::executor<T>& ex, const test::op_case& c, const std::vector<tensor>& in, bool traced) {
    test::run_result r;
    if (traced) ex.trace = [&](std::string_view n, const tensor& t) { r.traced.emplace_back(std::string(n), vl::cuda::to_host(t, ex.stream)); };
    r.out = vl::cuda::to_host(test::eval_case(c.name, in, ex), ex.stream);
    ex.trace = nullptr;
    return r;
}


template <class T>
void check_case(const test::op_case& c) {
    const bool bf16_values = std::is_same_v<T, bf16>;
    const std::vector<tensor> host = make_inputs(c, bf16_values);
    const test::run_result want = test::reference(c.name, place(c, host, false));
    const tolerance t = tolerance_for<T>(c.kind);

    vl::cuda::executor<T> ex;  // one per case, shared by both runs: the arena is reused and may grow
    const test::run_result fused = run_cuda(ex, c, place(c, host, false), false);
    check_close("host inputs", fused.out, want.out, t);

    const test::run_result traced = run_cuda(ex, c, place(c, host, true), true);
    check_close("device inputs, traced", traced.out, want.out, t);
    BOOST_TEST_REQUIRE(traced.traced.size() == want.traced.size());
    for (std::size_t i = 0; i < want.traced.size(); ++i) {
        BOOST_TEST(traced.traced[i].first == want.traced[i].first);
        check_close("trace of " + want.traced[i].first, traced.traced[i].second, want.traced[i].second, t);
    }
}

// An id outside the table is an error naming it (never a wild read), as on the CPU.
template <class T>
void check_gather_out_of_range() {
    vl::cuda::executor<T> ex;
    const tensor table = tensor::from(std::vector<float>(11 * 4, 1.0f), {11, 4});
    for (dtype id_type : {dtype::i32, dtype::i64}) {
        const tensor ids = tensor::from(std::vector<double>{0, 3, 10, 2, 11, 5, -1}, {7}).to(id_type);
        for (bool on_device : {false, true}) {
            const tensor t = on_device ? vl::cuda::to_device(table) : table;
            const tensor i = on_device ? vl::cuda::to_device(ids) : ids;
            BOOST_CHECK_EXCEPTION(eval(gather(input<2>(t), indices<1>(i)), ex), shape_error, [](const shape_error& e) {
                return std::string(e.what()) == "gather: id 11 at position 4 is outside the table's 11 rows";
            });
        }
    }
}

template <class T>
boost::unit_test::test_suite* suite(const char* name) {
    namespace utf = boost::unit_test;
    utf::test_suite* s = BOOST_TEST_SUITE(name);
    for (const test::op_case& c : test::cases()) s->add(utf::make_test_case([&c] { check_case<T>(c); }, c.name, __FILE__, __LINE__));
    s->add(utf::make_test_case(&check_gather_out_of_range<T>, "gather_out_of_range", __FILE__, __LINE__));
    return s;
}

}  // namespace

int main(int argc, char** argv) { return vl::test::run_cuda_tests(argc, argv, "cuda_ops", &suite<float>, &suite<vl::bf16>); }
