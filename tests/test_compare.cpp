// Node-by-node comparison (vlgraph/compare.hpp) on traces of the example MLP block.
#define BOOST_TEST_MODULE compare
#include <boost/test/unit_test.hpp>

#include "../examples/mlp_block.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace {
vl::tensor filled(vl::dims shape, float scale, int salt) {
    vl::tensor t = vl::tensor::empty(shape, vl::dtype::f32);
    for (vl::index_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = scale * static_cast<float>((i * 7 + salt) % 11 - 5);
    return t;
}
struct weights {
    vl::tensor x = filled({5, 8}, 0.1f, 0), nw = filled({8}, 0.01f, 1), g = filled({16, 8}, 0.05f, 2), u = filled({16, 8}, 0.05f, 3),
               d = filled({8, 16}, 0.05f, 4);
};
vl::trace_recorder run(const weights& w, int threads) {
    vl::trace_recorder rec;
    vl::cpu::executor cpu{threads};
    cpu.trace = rec.callback();
    mlp_block(w.x, w.nw, w.g, w.u, w.d, cpu);
    return rec;
}
}  // namespace

BOOST_AUTO_TEST_CASE(identical_runs_match_node_by_node) {
    const weights w;
    const auto a = run(w, 1), b = run(w, 2);
    BOOST_TEST(a.entries().size() == 2u);  // mlp.norm (shared: traced once) and mlp.act
    const auto d = vl::compare_traces(a, b, 0.0);
    BOOST_TEST(d.ok(), d.report());
    BOOST_TEST(d.rows.size() == 2u);
}

BOOST_AUTO_TEST_CASE(first_divergent_node_is_reported) {
    weights w;
    const auto ref = run(w, 1);
    w.u.data<float>()[3] += 0.5f;  // changes mlp.act, not mlp.norm
    const auto other = run(w, 1);
    const auto d = vl::compare_traces(other, ref, 1e-6);
    BOOST_TEST(!d.ok());
    BOOST_REQUIRE(d.first_divergent() != nullptr);
    BOOST_TEST(d.first_divergent()->name == "mlp.act");
    BOOST_TEST(d.rows[0].within);  // mlp.norm unchanged
    BOOST_TEST(d.report().find("first divergent node: mlp.act") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(missing_nodes_fail_the_comparison) {
    const weights w;
    const auto ref = run(w, 1);
    vl::trace_recorder partial;
    partial.add("mlp.norm", ref.entries()[0].value);
    const auto d = vl::compare_traces(partial, ref, 1e-6);
    BOOST_TEST(!d.ok());
    BOOST_TEST(d.missing.size() == 1u);
    BOOST_TEST(d.missing[0] == "mlp.act");
}

BOOST_AUTO_TEST_CASE(per_node_tolerances_come_from_the_callback) {
    weights w;
    const auto ref = run(w, 1);
    w.u.data<float>()[3] *= 1.01f;  // a small change of mlp.act
    const auto other = run(w, 1);
    std::vector<std::string> asked;
    const auto loose = [&](std::string_view name, const vl::tensor& r) {
        asked.emplace_back(name);
        BOOST_TEST(r.shape() == ref.find(name)->value.shape());
        vl::node_tolerance t;
        t.nmse = name == "mlp.act" ? 1.0 : 0.0;
        t.rule = "nmse <= " + std::to_string(t.nmse);
        return t;
    };
    const auto d = vl::compare_traces(other, ref, loose);
    BOOST_TEST(d.ok(), d.report());
    BOOST_TEST((asked == std::vector<std::string>{"mlp.norm", "mlp.act"}));
    const auto strict = vl::compare_traces(other, ref, [](std::string_view, const vl::tensor&) {
        vl::node_tolerance t;
        t.nmse = 1e-12;
        t.rule = "tight";
        return t;
    });
    BOOST_REQUIRE(strict.first_divergent() != nullptr);
    BOOST_TEST(strict.first_divergent()->name == "mlp.act");
    BOOST_TEST(strict.first_divergent()->tolerance.rule == "tight");
    BOOST_TEST(strict.report().find("first divergent node: mlp.act (tolerance tight)") != std::string::npos, strict.report());
}

BOOST_AUTO_TEST_CASE(accumulated_tolerance_grows_with_depth) {
    const vl::tensor ref = filled({4, 8}, 0.37f, 0);  // entries 0.37 * (-5..5): not all bf16 values
    // An exact profile holds every node to bit-identity, at any depth.
    for (vl::index_t depth : {0, 3, 40}) BOOST_TEST(vl::accumulated_tolerance(vl::exact_profile(), vl::op_class::gemm, depth, ref).nmse == 0.0);
    const vl::tolerance_profile bf16 = vl::cuda_bf16_profile();
    constexpr double u = 1.0 / 256;
    BOOST_TEST(bf16.of(vl::op_class::exact).rtol == 0.0);
    BOOST_TEST(bf16.of(vl::op_class::gemm).rtol == u + 1e-4);
    double ms = 0;
    for (vl::index_t i = 0; i < ref.numel(); ++i) ms += double(ref.data<float>()[i]) * ref.data<float>()[i];
    const double own = u + 1e-4 + 1e-5 / std::sqrt(ms / ref.numel());
    const vl::node_tolerance t0 = vl::accumulated_tolerance(bf16, vl::op_class::gemm, 0, ref);
    const vl::node_tolerance t3 = vl::accumulated_tolerance(bf16, vl::op_class::gemm, 3, ref);
    BOOST_TEST(t0.nmse == 1 * (8 * u) * (8 * u) + own * own, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(t3.nmse == 4 * (8 * u) * (8 * u) + own * own, boost::test_tools::tolerance(1e-12));
    BOOST_TEST(t3.rule.find("gemm at depth 3") != std::string::npos, t3.rule);
    // The bound is on NMSE: one bf16 rounding of every element passes at depth 0, a 10 % error does not.
    vl::tensor rounded = ref.to(vl::dtype::bf16).to(vl::dtype::f32), off = ref.to(vl::dtype::f32);
    for (vl::index_t i = 0; i < off.numel(); ++i) off.data<float>()[i] *= 1.1f;
    BOOST_TEST(vl::compare(rounded, ref).max_abs > 0.0);
    BOOST_TEST(t0.admits(vl::compare(rounded, ref)));
    BOOST_TEST(!t0.admits(vl::compare(off, ref)));
    // Non-finite values never pass.
    rounded.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
    BOOST_TEST(!t3.admits(vl::compare(rounded, ref)));
}
