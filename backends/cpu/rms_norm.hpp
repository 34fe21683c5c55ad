// backends/cpu/rms_norm.hpp — RMSNorm (ops/rms_norm.hpp): mean of squares in
// f64; the normalised value is rounded to f32 and then scaled by w (or 1 + w),
// as HF's Qwen3_5RMSNorm does in f32.
#pragma once

#include <vlgraph/backends/cpu/rows.hpp>
#include <vlgraph/ops/rms_norm.hpp>

#include <cmath>

namespace vl {

template <>
struct lowering<cpu::executor, ops::rms_norm> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& n) {
        const value x = ctx.contiguous(n.x), w = ctx.contiguous(n.w);
        value out = ctx.alloc(n.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const float* wp = w.ptr<const float>();
            const float offset = n.weight == rms_weight::one_plus ? 1.0f : 0.0f;
            cpu::for_each_row(ex, x, out, [&](const float* in, float* o, index_t d) {
                double ss = 0;
                for (index_t i = 0; i < d; ++i) ss += static_cast<double>(in[i]) * in[i];
                const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + static_cast<double>(n.eps)));
                for (index_t i = 0; i < d; ++i) o[i] = (in[i] * inv) * (offset + wp[i]);
            });
        });
        return out;
    }
};

}  // namespace vl
