// Node-by-node comparison (vlgraph/compare.hpp) on traces of the example MLP block.
#define BOOST_TEST_MODULE compare
#include <boost/test/unit_test.hpp>

#include "../examples/mlp_block.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/compare.hpp>

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
