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
#pragma once

#include <vlgraph/tensor.hpp>

#include <cmath>
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

struct trace_diff {
    struct row {
        std::string name;
        error_stats stats;
        bool within;
    };
    std::vector<row> rows;             // every node present in both, in order
    std::vector<std::string> missing;  // nodes of the reference absent from the other
    double tolerance = 0;

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
        if (const row* f = first_divergent()) o << "first divergent node: " << f->name << " (tolerance " << tolerance << ")\n";
        return o.str();
    }
};

// Compares every node of `ref` with the same-named node of `a`; a node passes when
// its max_rel is within `tolerance`.
inline trace_diff compare_traces(const trace_recorder& a, const trace_recorder& ref, double tolerance) {
    trace_diff d;
    d.tolerance = tolerance;
    for (const auto& e : ref.entries()) {
        const auto* other = a.find(e.name);
        if (!other) {
            d.missing.push_back(e.name);
            continue;
        }
        const error_stats s = compare(other->value, e.value);
        d.rows.push_back({e.name, s, !s.non_finite && s.max_rel <= tolerance});
    }
    return d;
}

}  // namespace vl
