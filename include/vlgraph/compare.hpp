// vlgraph/compare.hpp — node-by-node comparison of two evaluations.
//
//     vl::trace_recorder a, b;
//     cpu.trace = a.callback();               gpu.trace = b.callback(vl::cuda::to_host);
//     vl::eval(model(...), cpu);              vl::eval(model(...), gpu);
//     vl::trace_diff d = vl::compare_traces(a, b, 1e-4);
//     if (!d.ok()) std::cerr << d.report();   // first divergent node, max-abs, NMSE
//
// Works the same against golden tensors dumped from HF (load them into a
// trace_recorder by name).
//
// Per-node tolerances: compare_traces(a, ref, fn) asks fn(name, reference) for each
// node's bound (node_tolerance: a max_rel and/or an NMSE bound). For end-to-end runs
// of a lower-precision backend, accumulated_tolerance() is the rule of docs/numerics.md
// ("vlgraph diff"): the per-op tolerance of the node's op class (op_tolerances, the
// CUDA bf16 executor's table) plus an allowance that grows with its depth.
#pragma once

#include <vlgraph/tensor.hpp>

#include <cmath>
#include <limits>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace vl {

// Collects named intermediates (as f32 host copies) in the order they were produced.
class trace_recorder {
public:
    using to_host_fn = std::function<tensor(const tensor&)>;

    // The function to set as an executor's `trace`. Device tensors need `to_host`.
    std::function<void(std::string_view, const tensor&)> callback(to_host_fn to_host = {}) {
        return [this, to_host](std::string_view name, const tensor& t) {
            const tensor h = t.space() == memory_space::host ? t : to_host(t);
            add(std::string(name), h);
        };
    }
    void add(std::string name, const tensor& host) {
        if (index_.count(name)) name += "#" + std::to_string(index_[name]++);
        else index_[name] = 1;
        entries_.push_back({std::move(name), host.to(dtype::f32)});
    }
    struct entry {
        std::string name;
        tensor value;
    };
    const std::vector<entry>& entries() const { return entries_; }
    const entry* find(std::string_view name) const {
        for (const auto& e : entries_)
            if (e.name == name) return &e;
        return nullptr;
    }

private:
    std::vector<entry> entries_;
    std::map<std::string, int> index_;
};

// Error figures of one tensor against a reference.
struct error_stats {
    double max_abs = 0;       // max |a - b|
    double max_rel = 0;       // max |a - b| / max |b|  (relative to the reference's scale)
    double nmse = 0;          // sum (a-b)^2 / sum b^2
    index_t worst = -1;       // flat index of max |a - b|
    bool non_finite = false;  // NaN/Inf where the reference is finite
};

inline error_stats compare(const tensor& a, const tensor& ref) {
    if (a.shape() != ref.shape()) throw shape_error("compare: " + to_string(a.shape()) + " vs reference " + to_string(ref.shape()));
    const tensor x = a.to(dtype::f64), y = ref.to(dtype::f64);
    const double* p = x.data<double>();
    const double* q = y.data<double>();
    error_stats s;
    double num = 0, den = 0, scale = 0;
    for (index_t i = 0; i < x.numel(); ++i) {
        const double d = std::fabs(p[i] - q[i]);
        if (!std::isfinite(p[i]) && std::isfinite(q[i])) s.non_finite = true;
        if (d > s.max_abs || (std::isnan(d) && s.worst < 0)) {
            s.max_abs = d;
            s.worst = i;
        }
        num += d * d;
        den += q[i] * q[i];
        scale = std::max(scale, std::fabs(q[i]));
    }
    s.max_rel = scale > 0 ? s.max_abs / scale : s.max_abs;
    s.nmse = den > 0 ? num / den : num;
    return s;
}

// The bound a node of a trace comparison is held to. It passes when it has no
// non-finite value where the reference is finite, max_rel <= max_rel and nmse <= nmse.
struct node_tolerance {
    double max_rel = std::numeric_limits<double>::infinity();
    double nmse = std::numeric_limits<double>::infinity();
    std::string rule;  // how the bound was obtained, for reports (e.g. "gemm at depth 3: nmse <= 1.1e-4")

    bool admits(const error_stats& s) const { return !s.non_finite && s.max_rel <= max_rel && s.nmse <= nmse; }
};

// name -> bound, given the reference value of the node.
using tolerance_fn = std::function<node_tolerance(std::string_view name, const tensor& reference)>;

struct trace_diff {
    struct row {
        std::string name;
        error_stats stats;
        bool within;
        node_tolerance tolerance = {};  // the bound this node was held to
    };
    std::vector<row> rows;             // every node present in both, in order
    std::vector<std::string> missing;  // nodes of the reference absent from the other
    double tolerance = 0;              // compare_traces(a, ref, double): the max_rel bound of every node

    bool ok() const {
        if (!missing.empty()) return false;
        for (const auto& r : rows)
            if (!r.within) return false;
        return true;
    }
    const row* first_divergent() const {
        for (const auto& r : rows)
            if (!r.within) return &r;
        return nullptr;
    }
    std::string report() const {
        std::ostringstream o;
        for (const auto& r : rows)
            o << (r.within ? "  ok   " : "  FAIL ") << r.name << "  max_rel " << r.stats.max_rel << "  max_abs " << r.stats.max_abs << "  nmse " << r.stats.nmse
              << (r.stats.non_finite ? "  non-finite!" : "") << "\n";
        for (const auto& m : missing) o << "  MISSING " << m << "\n";
        if (const row* f = first_divergent()) {
            o << "first divergent node: " << f->name << " (tolerance ";
            if (f->tolerance.rule.empty()) o << tolerance;
            else o << f->tolerance.rule;
            o << ")\n";
        }
        return o.str();
    }
};

// Compares every node of `ref` with the same-named node of `a`; a node passes when
// tol(name, reference value) admits its error figures.
inline trace_diff compare_traces(const trace_recorder& a, const trace_recorder& ref, const tolerance_fn& tol) {
    trace_diff d;
    for (const auto& e : ref.entries()) {
        const auto* other = a.find(e.name);
        if (!other) {
            d.missing.push_back(e.name);
            continue;
        }
        const error_stats s = compare(other->value, e.value);
        node_tolerance t = tol(e.name, e.value);
        const bool within = t.admits(s);
        d.rows.push_back({e.name, s, within, std::move(t)});
    }
    return d;
}

// Compares every node of `ref` with the same-named node of `a`; a node passes when
// its max_rel is within `tolerance`.
inline trace_diff compare_traces(const trace_recorder& a, const trace_recorder& ref, double tolerance) {
    trace_diff d = compare_traces(a, ref, [tolerance](std::string_view, const tensor&) {
        node_tolerance t;
        t.max_rel = tolerance;
        return t;
    });
    d.tolerance = tolerance;
    return d;
}

// ---------------------------------------------------------------------------------------------
// Tolerances by op class, and their accumulation through the layers of a model
// (docs/numerics.md: "CUDA backend" for the table, "vlgraph diff" for the rule).
// ---------------------------------------------------------------------------------------------

// The op class of a node: the op whose output (or a view of it) the node's values are.
enum class op_class { exact, elementwise, transcendental, reduction, norm, softmax, gemm, attention, delta_rule, composite };

inline const char* name_of(op_class c) {
    constexpr const char* names[] = {"exact", "elementwise", "transcendental", "reduction", "norm", "softmax", "gemm", "attention", "delta_rule", "composite"};
    return names[static_cast<int>(c)];
}

// |a - ref| <= atol + rtol * |ref| per element, for one op given the same inputs.
struct op_tolerance {
    double rtol = 0, atol = 0;
};

// Per-op tolerances of an executor, by op class, and the allowance one layer of a model adds.
struct tolerance_profile {
    std::string name;
    op_tolerance per_op[10] = {};  // indexed by op_class
    double per_layer = 0;          // relative RMS error one layer may add (0: bit-identical runs)
    op_tolerance of(op_class c) const { return per_op[static_cast<int>(c)]; }
};

// Two runs on the same deterministic backend: every node bit-identical.
inline tolerance_profile exact_profile(std::string name = "bit-identical") { return {std::move(name), {}, 0}; }

// vl::cuda::executor<bf16> against the CPU backend: the bf16 column of docs/numerics.md
// (tests/cuda/test_ops_cuda.cu, test_delta_rule_cuda.cu); one layer adds at most the
// "composite graphs" relative tolerance 8u.
inline tolerance_profile cuda_bf16_profile() {
    constexpr double u = 1.0 / 256;  // one round-to-nearest-even to bf16
    tolerance_profile p{"cuda bf16 vs cpu f32", {}, 8 * u};
    const auto set = [&](op_class c, double rtol, double atol) { p.per_op[static_cast<int>(c)] = {rtol, atol}; };
    set(op_class::exact, 0, 0);
    set(op_class::elementwise, u + 1e-5, 1e-6);
    set(op_class::transcendental, u + 2e-5, 1e-6);
    set(op_class::reduction, u + 1e-5, 1e-5);
    set(op_class::norm, u + 1e-5, 1e-5);
    set(op_class::softmax, u + 2e-5, 1e-7);
    set(op_class::gemm, u + 1e-4, 1e-5);
    set(op_class::attention, u + 2e-5, 5e-6);
    set(op_class::delta_rule, u + 2e-5, 2e-6);
    set(op_class::composite, 8 * u, 8 * u);
    return p;
}

// The rule of `vlgraph diff` for a node of class c that `depth` layers precede:
//     nmse <= (depth + 1) * per_layer^2 + (rtol_c + atol_c / rms(ref))^2
// The second term is the node's own op (its per-element bound turned into a bound on
// relative RMS error); the first lets every layer before it, and the current one, add at
// most per_layer relative RMS error, independently (error energies add). With an exact
// profile the bound is 0: bit-identical.
inline node_tolerance accumulated_tolerance(const tolerance_profile& p, op_class c, index_t depth, const tensor& ref) {
    const op_tolerance t = p.of(c);
    double rms = 0;
    if (t.atol > 0) {
        const tensor r = ref.to(dtype::f64);
        const double* q = r.data<double>();
        for (index_t i = 0; i < r.numel(); ++i) rms += q[i] * q[i];
        rms = r.numel() ? std::sqrt(rms / static_cast<double>(r.numel())) : 0;
    }
    const double own = t.rtol + (t.atol > 0 ? t.atol / (rms > 0 ? rms : 1.0) : 0);
    node_tolerance n;
    n.nmse = static_cast<double>(depth + 1) * p.per_layer * p.per_layer + own * own;
    std::ostringstream o;
    o << "nmse <= " << n.nmse << " (" << p.name << ", " << name_of(c) << " at depth " << depth;
    if (n.nmse > 0) o << ": (" << depth << " + 1) * " << p.per_layer << "^2 + " << own << "^2";
    o << ")";
    n.rule = o.str();
    return n;
}

}  // namespace vl
