// vl::cpu::gemm (backends/cpu/gemm.hpp) called directly, on real-valued inputs:
//   - random shapes (M 1..300, N 1..600, K 1..700) and edge shapes (M = 1..8,
//     K = 1, K at the k-block boundary, N = 1, ragged tiles), both B layouts,
//     with and without bias, against a double-precision loop, with the rounding
//     bound of a K-term sum: |got - ref| <= (K + 1) eps (|bias| + sum_k |a b|);
//   - the documented order of summation: each element is the fma chain
//     bias, k = 0, 1, ..., K - 1 (bit for bit), so both layouts
//     agree bit for bit (M <= gemm_dot_rows with B[N, K] excepted: dot products
//     there, each row alone, so a row's bits do not depend on the other rows);
//   - bit-identity across 1, 2 and 3 threads on odd shapes, and across the instruction sets;
//   - K = 0 (C = bias or 0) and M = 0 / N = 0 (nothing written).
#define BOOST_TEST_MODULE gemm_cpu
#include <boost/test/unit_test.hpp>

#include <vlgraph/backends/cpu/gemm.hpp>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using vl::index_t;

struct problem {
    index_t m, n, k;
    std::vector<float> a, b_nk, b_kn, bias;  // B as [N, K] and the same B as [K, N]
};

problem make_problem(index_t m, index_t n, index_t k, unsigned seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-scale, scale);
    problem p{m, n, k, {}, {}, {}, {}};
    p.a.resize(static_cast<std::size_t>(m * k));
    p.b_nk.resize(static_cast<std::size_t>(n * k));
    p.b_kn.resize(static_cast<std::size_t>(n * k));
    p.bias.resize(static_cast<std::size_t>(n));
    for (float& x : p.a) x = u(rng);
    for (float& x : p.b_nk) x = u(rng);
    for (float& x : p.bias) x = u(rng);
    for (index_t j = 0; j < n; ++j)
        for (index_t l = 0; l < k; ++l) p.b_kn[static_cast<std::size_t>(l * n + j)] = p.b_nk[static_cast<std::size_t>(j * k + l)];
    return p;
}

std::vector<float> run(const problem& p, bool transposed, bool with_bias, int threads) {
    vl::cpu::thread_pool pool(threads);
    std::vector<float> c(static_cast<std::size_t>(p.m * p.n), std::nanf(""));
    vl::cpu::gemm(pool, p.m, p.n, p.k, p.a.data(), transposed ? p.b_nk.data() : p.b_kn.data(), transposed, with_bias ? p.bias.data() : nullptr, c.data());
    return c;
}

std::string name(const problem& p, bool transposed, bool with_bias) {
    return "M=" + std::to_string(p.m) + " N=" + std::to_string(p.n) + " K=" + std::to_string(p.k) + (transposed ? " B[N,K]" : " B[K,N]") +
           (with_bias ? " +bias" : "");
}

// Against double precision, within the rounding bound of the K-term sum.
void check_against_double(const problem& p, int threads = 2) {
    std::vector<double> sum(static_cast<std::size_t>(p.m * p.n)), mag(sum.size());
    for (index_t i = 0; i < p.m; ++i)
        for (index_t j = 0; j < p.n; ++j) {
            double s = 0, g = 0;
            for (index_t l = 0; l < p.k; ++l) {
                const double t = static_cast<double>(p.a[static_cast<std::size_t>(i * p.k + l)]) * p.b_nk[static_cast<std::size_t>(j * p.k + l)];
                s += t;
                g += std::abs(t);
            }
            sum[static_cast<std::size_t>(i * p.n + j)] = s;
            mag[static_cast<std::size_t>(i * p.n + j)] = g;
        }
    const double eps = static_cast<double>(p.k + 1) * FLT_EPSILON;
    for (bool transposed : {true, false})
        for (bool with_bias : {false, true}) {
            const std::vector<float> c = run(p, transposed, with_bias, threads);
            double worst = 0;  // error / bound
            index_t at = 0;
            for (index_t i = 0; i < p.m; ++i)
                for (index_t j = 0; j < p.n; ++j) {
                    const std::size_t e = static_cast<std::size_t>(i * p.n + j);
                    const double bj = with_bias ? static_cast<double>(p.bias[static_cast<std::size_t>(j)]) : 0.0;
                    const double bound = eps * (std::abs(bj) + mag[e]) + 1e-30;
                    const double r = std::abs(static_cast<double>(c[e]) - (sum[e] + bj)) / bound;
                    if (!(r <= worst)) {  // also catches NaN (unwritten elements)
                        worst = std::isnan(r) ? INFINITY : r;
                        at = static_cast<index_t>(e);
                    }
                }
            BOOST_TEST_CONTEXT(name(p, transposed, with_bias) << ", worst at row " << at / p.n << " col " << at % p.n) {
                BOOST_TEST(worst <= 1.0);
            }
        }
}

// The documented order: c = fma(a[K-1] b[K-1], ... fma(a[0] b[0], bias or 0)).
std::vector<float> chain_reference(const problem& p, bool with_bias) {
    std::vector<float> c(static_cast<std::size_t>(p.m * p.n));
    for (index_t i = 0; i < p.m; ++i)
        for (index_t j = 0; j < p.n; ++j) {
            float s = with_bias ? p.bias[static_cast<std::size_t>(j)] : 0.0f;
            for (index_t l = 0; l < p.k; ++l) s = std::fma(p.a[static_cast<std::size_t>(i * p.k + l)], p.b_nk[static_cast<std::size_t>(j * p.k + l)], s);
            c[static_cast<std::size_t>(i * p.n + j)] = s;
        }
    return c;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(random_shapes_against_double) {
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<index_t> dm(1, 300), dn(1, 600), dk(1, 700);
    for (int t = 0; t < 16; ++t) check_against_double(make_problem(dm(rng), dn(rng), dk(rng), 100 + static_cast<unsigned>(t)));
}

BOOST_AUTO_TEST_CASE(edge_shapes_against_double) {
    const index_t kc = vl::cpu::gemm_kc, tm = vl::cpu::gemm_tile_m, tn = vl::cpu::gemm_tile_n;
    struct shape {
        index_t m, n, k;
    };
    const shape shapes[] = {{1, 1, 1}, {1, 600, 700}, {2, 17, kc}, {3, 31, kc + 1}, {4, 48, 2 * kc - 1}, {5, 1, 9}, {6, 15, 3}, {7, 33, 100}, {8, 257, 517},
                            {9, 16, 8},  {1, tn + 1, 1},  {tm, tn, kc}, {tm + 1, tn - 1, 7}, {tm - 1, 2 * tn + 3, kc + 8}, {300, 1, 50}, {13, 600, 1}, {1, 37, 45}, {1, 300, 777}, {2, 100, 64}, {129, 70, 40}};
    unsigned seed = 1;
    for (const shape& s : shapes) check_against_double(make_problem(s.m, s.n, s.k, seed++));
    // large values: the bound scales with them
    check_against_double(make_problem(37, 45, 333, 77, 1e15f));
}

BOOST_AUTO_TEST_CASE(order_of_summation_is_the_fma_chain) {
    struct shape {
        index_t m, n, k;
    };
    for (const shape& s : {shape{1, 40, 700}, shape{2, 70, 300}, shape{7, 19, 257}, shape{17, 50, 300}, shape{129, 290, 513}, shape{300, 520, 70}}) {
        const problem p = make_problem(s.m, s.n, s.k, 5);
        for (bool with_bias : {false, true}) {
            const std::vector<float> nk = run(p, true, with_bias, 2), kn = run(p, false, with_bias, 2);
            BOOST_TEST_CONTEXT(name(p, true, with_bias)) {
                if (p.m > vl::cpu::gemm_dot_rows) BOOST_TEST(same_bits(nk, kn), "both B layouts give the same bits");
                BOOST_TEST(same_bits(kn, chain_reference(p, with_bias)), "the fma chain over k, bit for bit");
            }
        }
    }
}

// A batch of decode rows (M <= gemm_dot_rows, B[N, K], f32 or bf16): each row's bits are those it gets
// alone (M = 1), which is what makes a sequence's tokens independent of its batch.
BOOST_AUTO_TEST_CASE(decode_rows_do_not_depend_on_the_batch) {
    for (const index_t m : {index_t{2}, index_t{5}, index_t{8}, vl::cpu::gemm_dot_rows}) {
        problem p = make_problem(m, 300, 517, 31);
        std::vector<vl::bf16> b16(p.b_nk.size());
        for (std::size_t i = 0; i < b16.size(); ++i) b16[i] = vl::bf16::from_float(p.b_nk[i]);
        vl::cpu::thread_pool pool(2);
        std::vector<float> all(static_cast<std::size_t>(m * p.n)), all16(all.size()), row(static_cast<std::size_t>(p.n)), row16(row.size());
        vl::cpu::gemm(pool, m, p.n, p.k, p.a.data(), p.b_nk.data(), true, p.bias.data(), all.data());
        vl::cpu::gemm(pool, m, p.n, p.k, p.a.data(), b16.data(), true, p.bias.data(), all16.data());
        for (index_t i = 0; i < m; ++i) {
            vl::cpu::gemm(pool, 1, p.n, p.k, p.a.data() + i * p.k, p.b_nk.data(), true, p.bias.data(), row.data());
            vl::cpu::gemm(pool, 1, p.n, p.k, p.a.data() + i * p.k, b16.data(), true, p.bias.data(), row16.data());
            BOOST_TEST(std::memcmp(row.data(), all.data() + i * p.n, row.size() * sizeof(float)) == 0, "row " << i << " of " << m << " (f32 B)");
            BOOST_TEST(std::memcmp(row16.data(), all16.data() + i * p.n, row16.size() * sizeof(float)) == 0, "row " << i << " of " << m << " (bf16 B)");
        }
    }
}

BOOST_AUTO_TEST_CASE(bit_identical_across_thread_counts) {
    struct shape {
        index_t m, n, k;
    };
    for (const shape& s : {shape{1, 777, 513}, shape{5, 1030, 300}, shape{133, 517, 301}, shape{257, 259, 600}, shape{300, 520, 70}}) {
        const problem p = make_problem(s.m, s.n, s.k, 9);
        for (bool transposed : {true, false}) {
            const std::vector<float> one = run(p, transposed, true, 1);
            for (int threads : {2, 3}) BOOST_TEST(same_bits(one, run(p, transposed, true, threads)), name(p, transposed, true) << ", " << threads << " threads");
        }
    }
}

// Weights as stored: B[N, K] in bf16 gives the very bits of the same B converted to f32 (widening is exact
// and the products are taken in the same order), on every path: GEMV (M = 1), few rows, packed tiles,
// ragged edges, any thread count.
BOOST_AUTO_TEST_CASE(bf16_b_equals_f32_b_bit_for_bit) {
    struct shape {
        index_t m, n, k;
    };
    const index_t kc = vl::cpu::gemm_kc;
    for (const shape& s : {shape{1, 777, 513}, shape{1, 5, 3}, shape{2, 100, 64}, shape{5, 1030, 300}, shape{12, 33, kc + 1}, shape{13, 17, 7},
                           shape{133, 517, 301}, shape{300, 70, 2 * kc + 5}}) {
        problem p = make_problem(s.m, s.n, s.k, 21);
        std::vector<vl::bf16> b16(p.b_nk.size());
        for (std::size_t i = 0; i < b16.size(); ++i) {
            b16[i] = vl::bf16::from_float(p.b_nk[i]);
            p.b_nk[i] = b16[i].to_float();  // the f32 B is the bf16 B widened
        }
        for (bool with_bias : {false, true})
            for (int threads : {1, 2}) {
                vl::cpu::thread_pool pool(threads);
                std::vector<float> c(static_cast<std::size_t>(p.m * p.n), std::nanf(""));
                vl::cpu::gemm(pool, p.m, p.n, p.k, p.a.data(), b16.data(), true, with_bias ? p.bias.data() : nullptr, c.data());
                BOOST_TEST(same_bits(c, run(p, true, with_bias, threads)), name(p, true, with_bias) << " bf16, " << threads << " threads");
            }
    }
    // B[K, N] is read as f32 only.
    vl::cpu::thread_pool pool(1);
    std::vector<vl::bf16> b(4);
    std::vector<float> a(2), c(4);
    BOOST_CHECK_THROW(vl::cpu::gemm(pool, 1, 2, 2, a.data(), b.data(), false, nullptr, c.data()), vl::error);
}

// The kernels of every instruction set this CPU has (cpu_isa.hpp: AVX-512, AVX2, portable) give the same
// bits on every path: decode dot products, one row times B[K, N], few rows, packed tiles of 12 and 6 rows,
// ragged edges, k blocks, bias, bf16 B.
BOOST_AUTO_TEST_CASE(every_instruction_set_gives_the_same_bits) {
    struct shape {
        index_t m, n, k;
    };
    const index_t kc = vl::cpu::gemm_kc;
    const vl::cpu::cpu_isa widest = vl::cpu::widest_isa();
    BOOST_TEST_MESSAGE("widest instruction set here: " << vl::cpu::isa_name(widest));
    for (const shape& s : {shape{1, 777, 513}, shape{3, 100, 64}, shape{7, 19, 257}, shape{13, 17, 7}, shape{25, 70, 300}, shape{133, 517, 301},
                           shape{300, 70, 2 * kc + 5}}) {
        problem p = make_problem(s.m, s.n, s.k, 41);
        std::vector<vl::bf16> b16(p.b_nk.size());
        for (std::size_t i = 0; i < b16.size(); ++i) b16[i] = vl::bf16::from_float(p.b_nk[i]);
        const auto all_paths = [&] {
            std::vector<float> out = run(p, true, true, 2), kn = run(p, false, false, 2), c(static_cast<std::size_t>(p.m * p.n));
            vl::cpu::thread_pool pool(2);
            vl::cpu::gemm(pool, p.m, p.n, p.k, p.a.data(), b16.data(), true, p.bias.data(), c.data());
            out.insert(out.end(), kn.begin(), kn.end());
            out.insert(out.end(), c.begin(), c.end());
            return out;
        };
        vl::cpu::use_isa(vl::cpu::cpu_isa::portable);
        const std::vector<float> portable = all_paths();
        for (int isa = 1; isa <= static_cast<int>(widest); ++isa) {
            vl::cpu::use_isa(static_cast<vl::cpu::cpu_isa>(isa));
            BOOST_TEST(same_bits(all_paths(), portable), name(p, true, true) << ": " << vl::cpu::isa_name(static_cast<vl::cpu::cpu_isa>(isa)) << " vs portable");
        }
        vl::cpu::use_isa(widest);
    }
    if (widest != vl::cpu::cpu_isa::avx512) BOOST_CHECK_THROW(vl::cpu::use_isa(vl::cpu::cpu_isa::avx512), vl::error);
}

BOOST_AUTO_TEST_CASE(empty_extents) {
    problem p = make_problem(3, 5, 0, 3);
    BOOST_TEST(run(p, true, true, 2) == std::vector<float>({p.bias[0], p.bias[1], p.bias[2], p.bias[3], p.bias[4], p.bias[0], p.bias[1], p.bias[2], p.bias[3],
                                                            p.bias[4], p.bias[0], p.bias[1], p.bias[2], p.bias[3], p.bias[4]}),
               boost::test_tools::per_element());
    BOOST_TEST(run(p, false, false, 2) == std::vector<float>(15, 0.0f), boost::test_tools::per_element());
    for (const problem& q : {make_problem(0, 5, 4, 4), make_problem(3, 0, 4, 4)}) {
        std::vector<float> c(1, 42.0f);
        vl::cpu::thread_pool pool(2);
        vl::cpu::gemm(pool, q.m, q.n, q.k, q.a.data(), q.b_nk.data(), true, q.bias.data(), c.data());
        BOOST_TEST(c[0] == 42.0f);  // nothing written
    }
}
