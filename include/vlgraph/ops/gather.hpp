// vlgraph/ops/gather.hpp — rows of a table by index (embedding lookup).
//
//     table: [V, D] floating,  ids: [...] integer (i32 or i64)  ->  [..., D]
//     out[i..., :] = table[ids[i...], :]
//
// An id outside [0, V) is a vl::shape_error naming the id (never a wild read).
// The table is read in its stored dtype (a bf16 embedding is not converted
// whole): only the gathered rows are converted to the compute dtype.
#pragma once

#include <vlgraph/expr.hpp>

namespace vl {
namespace ops {
struct gather {};
}

template <floating_expression Table, class Ids>
struct gather_expr {
    static_assert(integer_expression<Ids>, "vl::gather: ids must be an integer expression (vl::indices<R>(t))");
    static_assert(Table::rank == 2, "vl::gather: the table must be [V, D]");
    using op = ops::gather;
    static constexpr int rank = Ids::rank + 1;
    static constexpr kind value_kind = kind::floating;
    static constexpr shape_t<rank> static_shape = detail::all_dyn<rank>();

    gather_expr(Table t, Ids i) : table(std::move(t)), ids(std::move(i)) {
        for (int d = 0; d < Ids::rank; ++d) shape_[static_cast<std::size_t>(d)] = ids.shape()[static_cast<std::size_t>(d)];
        shape_[rank - 1] = table.shape()[1];
    }
    Table table;
    Ids ids;
    const shape_t<rank>& shape() const { return shape_; }

private:
    shape_t<rank> shape_{};
};

template <floating_expression Table, class Ids>
auto gather(Table table, Ids ids) {
    return gather_expr<Table, Ids>(std::move(table), std::move(ids));
}

}  // namespace vl
