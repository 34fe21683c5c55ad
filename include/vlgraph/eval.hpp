// vlgraph/eval.hpp — lowering an expression to a backend.
//
//     vl::cpu::executor cpu{/*threads*/ 2};
//     vl::tensor y = vl::eval(expr, cpu);          // same expr: vl::eval(expr, cuda_exec)
//
// An executor is a type (vl::cpu::executor, vl::cuda::executor<T>) chosen at the
// call site. It lowers each op by specialising
//
//     template <> struct vl::lowering<Executor, ops::some_op> {
//         template <class Ctx, class Node> static value run(Ctx&, const Node&);
//     };
//
// in its own folder (backends/<backend>/<op>.*). Elementwise chains are handled
// here once for every backend: the chain becomes one functor, and the backend's
// lowering<Executor, ops::elementwise> runs it as one kernel. Heavy ops (GEMM,
// norms, attention, ...) are explicit materialisation points.
#pragma once

#include <vlgraph/arena.hpp>
#include <vlgraph/expr.hpp>
#include <vlgraph/ops/elementwise.hpp>
#include <vlgraph/ops/share.hpp>
#include <vlgraph/recording.hpp>
#include <vlgraph/value.hpp>

#include <algorithm>
#include <functional>
#include <unordered_map>
#include <string_view>
#include <type_traits>
#include <vector>

namespace vl {

template <class>
inline constexpr bool no_lowering = false;

// Primary template: an (executor, op) pair nobody lowered.
template <class Executor, class Op>
struct lowering {
    static_assert(no_lowering<Op>,
                  "vl::eval: this op has no lowering for this executor. Include the backend's header for the op "
                  "(e.g. <vlgraph/backends/cpu/cpu.hpp> or <vlgraph/backends/cuda/cuda.cuh>), or add "
                  "backends/<backend>/<op> for a new op.");
};

// Called with every named intermediate when set on an executor (see ops/name.hpp).
using trace_fn = std::function<void(std::string_view name, const tensor& value)>;

// ---------------------------------------------------------------------------
// Elementwise functors: a fused chain is a tree of these, evaluated per output
// element at multi-index `i` (rank R of the output being written).
// ---------------------------------------------------------------------------
namespace fused {
template <class T, int R>
struct read {
    const T* p;
    index_t st[R > 0 ? R : 1];
    VL_HOST_DEVICE float operator()(const index_t* i) const {
        index_t o = 0;
        for (int d = 0; d < R; ++d) o += i[d] * st[d];
        return to_float(p[o]);
    }
};
struct constant {
    float v;
    VL_HOST_DEVICE float operator()(const index_t*) const { return v; }
};
template <class F, class A>
struct unary {
    using function = F;
    A a;
    VL_HOST_DEVICE float operator()(const index_t* i) const { return F::apply(a(i)); }
};
template <class F, class A, class B>
struct binary {
    A a;
    B b;
    VL_HOST_DEVICE float operator()(const index_t* i) const { return F::apply(a(i), b(i)); }
};
// A named node inside a chain: read back from its materialised value when a
// trace is on, otherwise computed inline (fusion unchanged).
template <class T, int R, class A>
struct named {
    bool materialised;
    read<T, R> r;
    A a;
    VL_HOST_DEVICE float operator()(const index_t* i) const { return materialised ? r(i) : a(i); }
};
}  // namespace fused

template <class T> struct named_expr;  // ops/name.hpp
template <class T> inline constexpr bool is_named_v = false;
template <class T> inline constexpr bool is_named_v<named_expr<T>> = true;

// ---------------------------------------------------------------------------
// eval_context: what a lowering sees. One per pass of vl::eval.
// ---------------------------------------------------------------------------
template <class Executor>
class eval_context {
public:
    using executor_type = Executor;
    using compute_type = typename Executor::compute_type;
    static constexpr dtype compute_dtype = dtype_of_v<compute_type>;

    eval_context(Executor& exec, arena_plan& plan, std::byte* base, bool dry) : exec_(exec), plan_(plan), base_(base), dry_(dry) {}

    Executor& executor() { return exec_; }
    bool dry() const { return dry_; }
    // True while a program is being recorded (vlgraph/program.hpp): launches are kept, not run, so a
    // lowering must not read device results on the host, and host data it uploads is a constant of the
    // program (uploaded once, when recorded).
    bool recording() const { return exec_.recording != nullptr; }
    // Runs `work` now, or appends it to the program being recorded; nothing in the planning pass. `work`
    // must be self-contained: it captures values (and the executor), never the lowering's locals by
    // reference, since a recorded launch runs long after the lowering returned.
    template <class F>
    void launch(F&& work) {
        if (dry_) return;
        if (exec_.recording) {
            exec_.recording->launches.emplace_back(std::forward<F>(work));
        } else {
            ++exec_.counters.launches;
            work();
        }
    }

    // A new contiguous intermediate buffer from the arena — or, for the output of the op at the root of an
    // assign (the eval's result, a part of a concat), the destination itself, so that the op writes its
    // result in place instead of into the arena and then a copy.
    value alloc(std::span<const index_t> shape, dtype t = compute_dtype) {
        if (dest_.open && depth_ == dest_.depth && dest_.v.type == t && std::equal(shape.begin(), shape.end(), dest_.v.dims().begin(), dest_.v.dims().end())) {
            dest_.open = false;
            *dest_.taken = true;
            return dest_.v;
        }
        value v;
        v.type = t;
        v.space = Executor::space;
        v.rank = static_cast<int>(shape.size());
        for (int i = 0; i < v.rank; ++i) v.shape[i] = shape[static_cast<std::size_t>(i)];
        v.set_row_major();
        const std::size_t bytes = static_cast<std::size_t>(checked_numel(shape)) * size_of(t);
        struct lease {
            arena_plan* plan;
            int id;
            bool dry;
            ~lease() {
                if (dry) plan->record_release(id);
            }
        };
        int id = 0;
        if (dry_) {
            id = plan_.record_alloc(bytes);
        } else {
            id = next_id_;
            v.data = base_ + plan_.offset(id, bytes);
        }
        ++next_id_;
        v.keep = std::make_shared<lease>(lease{&plan_, id, dry_});
        return v;
    }
    template <std::size_t N>
    value alloc(const std::array<index_t, N>& shape, dtype t = compute_dtype) {
        return alloc(std::span<const index_t>(shape.data(), N), t);
    }

    // Evaluates e to a value with any strides. Floating values are in the compute
    // dtype; integer values keep their stored dtype.
    template <expression E>
    value view(const E& e) {
        using op = typename E::op;
        const nesting level(depth_);
        if constexpr (std::is_same_v<op, ops::input>) {
            return lowering<Executor, ops::input>::run(*this, e.value(), E::value_kind);
        } else if constexpr (std::is_same_v<op, ops::elementwise> || std::is_same_v<op, ops::constant>) {
            value out = alloc(e.shape());
            assign(out, e);
            return out;
        } else if constexpr (std::is_same_v<op, ops::view> || std::is_same_v<op, ops::composite>) {
            return e.apply(*this);
        } else if constexpr (std::is_same_v<op, ops::shared>) {
            const void* key = e.a.get();
            if (auto it = shared_.find(key); it != shared_.end()) return it->second;
            value v = view(*e.a);
            shared_.emplace(key, v);
            return v;
        } else if constexpr (is_named_v<E>) {
            value v = view(e.a);
            if (exec_.trace && !dry_) report(e.name, v);
            return v;
        } else {
            return lowering<Executor, op>::run(*this, e);
        }
    }

    // As view(), then copied into a fresh buffer if not contiguous.
    template <expression E>
    value contiguous(const E& e) {
        value v = view(e);
        if (v.contiguous()) return v;
        const nesting level(depth_);  // a packed copy of an operand is never the destination
        value c = alloc(v.dims(), v.type);
        copy(c, v);
        return c;
    }

    // Writes e into `out` (same shape): one fused kernel for an elementwise chain.
    template <expression E>
    void assign(const value& out, const E& e) {
        using op = typename E::op;
        if constexpr (std::is_same_v<op, ops::elementwise> || std::is_same_v<op, ops::constant>) {
            constexpr int R = E::rank;
            if (out.rank != R) throw shape_error("vl::eval: assigning rank " + std::to_string(R) + " to rank " + std::to_string(out.rank));
            std::vector<value> keep;
            auto f = make_fn<R>(e, keep);
            lowering<Executor, ops::elementwise>::template run<R>(*this, out, f);
        } else if constexpr (is_named_v<E>) {
            // Straight into `out` (no intermediate in the compute dtype: an f32 `out` stays unrounded).
            assign(out, e.a);
            if (exec_.trace && !dry_) report(e.name, out);
        } else {
            // The root op may allocate its output as `out` (alloc above); otherwise, or when the buffer that
            // took `out` was only a step on the way (an upload before a conversion), its value is copied.
            const destination outer = dest_;
            bool taken = false;
            dest_ = {out, depth_ + 1, out.contiguous(), &taken};
            const value v = view(e);
            dest_ = outer;
            if (!taken || v.data != out.data) copy(out, v);
        }
    }

    void copy(const value& dst, const value& src) { lowering<Executor, ops::copy>::run(*this, dst, src); }

private:
    // The functor of an elementwise chain written at rank R.
    template <int R, expression E>
    auto make_fn(const E& e, std::vector<value>& keep) {
        using op = typename E::op;
        if constexpr (std::is_same_v<op, ops::constant>) {
            return fused::constant{e.value};
        } else if constexpr (std::is_same_v<op, ops::elementwise>) {
            if constexpr (E::function_arity == 1) {
                auto a = make_fn<R>(e.a, keep);
                return fused::unary<typename E::function, decltype(a)>{a};
            } else {
                auto a = make_fn<R>(e.a, keep);
                auto b = make_fn<R>(e.b, keep);
                return fused::binary<typename E::function, decltype(a), decltype(b)>{a, b};
            }
        } else if constexpr (is_named_v<E>) {
            if constexpr (std::is_same_v<typename std::remove_cvref_t<decltype(e.a)>::op, ops::elementwise>) {
                auto inner = make_fn<R>(e.a, keep);
                const bool traced = exec_.trace != nullptr;
                fused::read<compute_type, R> r{};
                if (traced) r = reader<R>(view(e), keep);
                return fused::named<compute_type, R, decltype(inner)>{traced, r, inner};
            } else {
                return reader<R>(view(e), keep);
            }
        } else {
            return reader<R>(view(e), keep);
        }
    }

    // Reads value v broadcast (right-aligned) to rank R.
    template <int R>
    fused::read<compute_type, R> reader(const value& v, std::vector<value>& keep) {
        if (v.type != compute_dtype) throw dtype_error("vl::eval: elementwise input is not in the compute dtype");
        fused::read<compute_type, R> r{};
        r.p = static_cast<const compute_type*>(v.data);
        for (int d = 0; d < R; ++d) {
            const int s = d - (R - v.rank);
            r.st[d] = (s < 0 || v.shape[s] == 1) ? 0 : v.strides[s];
        }
        keep.push_back(v);
        return r;
    }

    void report(const std::string& name, const value& v) {
        tensor t = exec_.make_tensor(v.dims(), v.type);
        copy(value::of(t), v);
        exec_.trace(name, t);
    }

    struct nesting {
        int& depth;
        explicit nesting(int& d) : depth(++d) {}
        ~nesting() { --depth; }
    };
    // Where the op at the root of the current assign may put its output (see alloc).
    struct destination {
        value v;
        int depth = 0;
        bool open = false;
        bool* taken = nullptr;
    };

    Executor& exec_;
    arena_plan& plan_;
    destination dest_;
    int depth_ = 0;
    std::byte* base_;
    bool dry_;
    int next_id_ = 0;
    std::unordered_map<const void*, value> shared_;  // values of vl::share nodes, kept to the end of the pass
};

// ---------------------------------------------------------------------------
// vl::eval
// ---------------------------------------------------------------------------

// Evaluates e and writes it into `out` (a tensor of e's shape in the executor's
// memory; any floating dtype for floating expressions).
template <expression E, class Executor>
void eval_into(const E& e, Executor& exec, const tensor& out) {
    if (out.rank() != E::rank) throw shape_error("vl::eval_into: output rank " + std::to_string(out.rank()) + ", expression rank " + std::to_string(E::rank));
    for (int i = 0; i < E::rank; ++i)
        if (out.shape()[static_cast<std::size_t>(i)] != e.shape()[static_cast<std::size_t>(i)])
            throw shape_error("vl::eval_into: output " + vl::to_string(out.shape()) + " does not match expression " + to_string<E::rank>(e.shape()));
    arena_plan plan;
    {
        eval_context<Executor> dry(exec, plan, nullptr, true);
        dry.assign(value::of(out), e);
    }
    const std::size_t bytes = plan.plan();
    if (recording* r = exec.recording) {
        // Recording a program: this eval's intermediates are one block of the program's arena.
        if (exec.trace) throw error("vl::eval: an executor with a trace cannot record a program (a trace reads every named node as it is computed)");
        const int block = r->open(bytes);
        if (!r->sizing()) {
            eval_context<Executor> run(exec, plan, r->data(block, bytes), false);
            run.assign(value::of(out), e);
        }
        r->close(block);
        return;
    }
    std::byte* base = exec.arena(bytes);
    eval_context<Executor> run(exec, plan, base, false);
    run.assign(value::of(out), e);
    exec.finish();
}

// Evaluates e into a new tensor (compute dtype for floating expressions,
// int64 for integer ones) in the executor's memory.
template <expression E, class Executor>
tensor eval(const E& e, Executor& exec) {
    const dtype t = E::value_kind == kind::floating ? dtype_of_v<typename Executor::compute_type> : dtype::i64;
    tensor out = exec.make_tensor(std::span<const index_t>(e.shape().data(), E::rank), t);
    eval_into(e, exec, out);
    return out;
}

}  // namespace vl
