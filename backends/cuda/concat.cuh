// backends/cuda/concat.cuh — concatenation (ops/concat.hpp): every part is
// assigned (one fused kernel if elementwise) into its slice of the output.
#pragma once

#include <vlgraph/backends/cuda/executor.cuh>
#include <vlgraph/ops/concat.hpp>

#include <tuple>

namespace vl {

template <class T>
struct lowering<cuda::executor<T>, ops::concat> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        // integer parts (ids) stay integer: i64, as vl::eval returns integer expressions
        value out = ctx.alloc(node.shape(), Node::value_kind == kind::integer ? dtype::i64 : Ctx::compute_dtype);
        const int ax = node.axis();
        index_t at = 0;
        std::apply(
            [&](const auto&... part) {
                ([&] {
                    value dst = out;
                    const index_t len = part.shape()[static_cast<std::size_t>(ax)];
                    if (dst.data) dst.data = static_cast<char*>(dst.data) + at * dst.strides[ax] * static_cast<index_t>(size_of(dst.type));
                    dst.shape[ax] = len;
                    ctx.assign(dst, part);
                    at += len;
                }(), ...);
            },
            node.parts);
        return out;
    }
};

}  // namespace vl
