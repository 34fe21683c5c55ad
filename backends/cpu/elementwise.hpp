// backends/cpu/elementwise.hpp — runs a fused elementwise chain (the functor
// built by vl::eval from unary/binary nodes, see vlgraph/eval.hpp) over the
// output, rows in parallel.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>

namespace vl {
namespace cpu {
// A chain that is one function of one tensor (gelu_tanh(fc1)): rows with unit stride run as a plain loop.
template <class Fn>
inline constexpr bool is_unary_of_read = false;
template <class F, class E, int R>
inline constexpr bool is_unary_of_read<fused::unary<F, fused::read<E, R>>> = true;
}  // namespace cpu

template <>
struct lowering<cpu::executor, ops::elementwise> {
    template <int R, class Ctx, class Fn>
    static void run(Ctx& ctx, const value& out, const Fn& fn) {
        ctx.launch([=, &ex = ctx.executor()] {
            switch (out.type) {
                case dtype::f32: return write<R, float>(ex, out, fn);
                case dtype::f64: return write<R, double>(ex, out, fn);
                case dtype::bf16: return write<R, bf16>(ex, out, fn);
                case dtype::f16: return write<R, f16>(ex, out, fn);
                default: throw dtype_error("elementwise: cannot write floating results to a " + std::string(name_of(out.type)) + " tensor");
            }
        });
    }

private:
    template <int R, class T, class Fn>
    static void write(cpu::executor& ex, const value& out, const Fn& fn) {
        T* p = out.ptr<T>();
        if constexpr (R == 0) {
            p[0] = from_float<T>(fn(nullptr));
        } else {
            const index_t n = out.numel();
            if (n == 0) return;
            const index_t inner = out.shape[R - 1], step = out.strides[R - 1];
            cpu::parallel_blocks(*ex.pool, n / inner, cpu::rows_per_task(inner), [&](index_t b, index_t e) {
                index_t idx[R];
                for (index_t row = b; row < e; ++row) {
                    index_t rem = row, off = 0;
                    for (int d = R - 2; d >= 0; --d) {
                        idx[d] = rem % out.shape[d];
                        rem /= out.shape[d];
                        off += idx[d] * out.strides[d];
                    }
                    if constexpr (cpu::is_unary_of_read<Fn>) {
                        if (step == 1 && fn.a.st[R - 1] == 1) {  // a function of one contiguous row: a loop that vectorises
                            idx[R - 1] = 0;
                            index_t src = 0;
                            for (int d = 0; d < R; ++d) src += idx[d] * fn.a.st[d];
                            const auto* in = fn.a.p + src;
                            for (index_t j = 0; j < inner; ++j) p[off + j] = from_float<T>(Fn::function::apply(to_float(in[j])));
                            continue;
                        }
                    }
                    for (index_t j = 0; j < inner; ++j) {
                        idx[R - 1] = j;
                        p[off + j * step] = from_float<T>(fn(idx));
                    }
                }
            });
        }
    }
};

}  // namespace vl
