// vlgraph/ops/write_rows.hpp — write rows into a tensor at a position read when the op runs: the KV-cache
// append of a step recorded once and run at every cache length (vlgraph/program.hpp).
//
//     dst: tensor [M, ...]   at: i64 tensor [1]   rows: [L, ...]   ->   dst (all M rows), after
//     dst[at[0] + i] = rows[i]   for i < L
//
// dst is updated in place (like the gated delta rule's state), so the value is the whole of dst: an op
// that reads it (attention over the cache) is ordered after the write. dst and at live in the executor's
// memory; dst is contiguous and in the executor's compute dtype. at[0] + L <= M is the caller's
// contract: the CPU checks it when the op runs, the CUDA kernel writes nothing out of bounds.
#pragma once

#include <vlgraph/expr.hpp>

#include <string>
#include <utility>

namespace vl {
namespace ops {
struct write_rows {};
}

template <floating_expression Rows>
struct write_rows_expr {
    using op = ops::write_rows;
    static constexpr int rank = Rows::rank;
    static_assert(rank >= 1, "vl::write_rows: rows is [L, ...]");
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    write_rows_expr(tensor dst_, tensor at_, Rows rows_) : dst(std::move(dst_)), at(std::move(at_)), rows(std::move(rows_)) {
        const auto& rs = rows.shape();
        const std::string shapes = " (dst " + (dst.defined() ? vl::to_string(dst.shape()) : std::string("empty")) + ", rows " + to_string<rank>(rs) + ")";
        if (!dst.defined() || dst.rank() != rank) throw shape_error("write_rows: dst must be a tensor of the rows' rank" + shapes);
        for (int d = 1; d < rank; ++d)
            if (dst.shape()[static_cast<std::size_t>(d)] != rs[static_cast<std::size_t>(d)])
                throw shape_error("write_rows: dst and rows must agree past the first axis" + shapes);
        if (rs[0] > dst.extent(0)) throw shape_error("write_rows: more rows than dst holds" + shapes);
        if (!dst.is_contiguous()) throw shape_error("write_rows: dst must be contiguous" + shapes);
        if (dst.storage_ptr()->read_only()) throw error("write_rows: dst is read-only");
        if (!at.defined() || at.numel() != 1 || at.type() != dtype::i64) throw shape_error("write_rows: the position is an i64 tensor of one element");
        shape_ = detail::to_shape<rank>(dst.shape());
    }
    tensor dst, at;
    Rows rows;
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_{};
};

// vl::write_rows(cache.key_store, past, new_keys): the new keys at positions past[0] .. past[0] + L − 1.
template <floating_expression Rows>
auto write_rows(tensor dst, tensor at, Rows rows) {
    return write_rows_expr<Rows>(std::move(dst), std::move(at), std::move(rows));
}

}  // namespace vl
