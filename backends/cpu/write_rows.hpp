// backends/cpu/write_rows.hpp — rows written into a tensor at a run-time position (ops/write_rows.hpp).
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/write_rows.hpp>

#include <cstdint>
#include <string>

namespace vl {

template <>
struct lowering<cpu::executor, ops::write_rows> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        if (node.dst.space() != memory_space::host || node.at.space() != memory_space::host)
            throw backend_error("cpu executor: write_rows into a tensor that lives on a device");
        const value rows = ctx.contiguous(node.rows);
        const value dst = value::of(node.dst);
        const tensor at = node.at;
        ctx.launch([=] {
            const index_t n = rows.shape[0], capacity = dst.shape[0], first = at.data<std::int64_t>()[0];
            if (first < 0 || first + n > capacity)
                throw shape_error("write_rows: rows " + std::to_string(first) + " .. " + std::to_string(first + n) + " do not fit the " + std::to_string(capacity) +
                                  " rows of the destination");
            const index_t row = n ? rows.numel() / n : 0;
            convert(rows.data, rows.type, static_cast<char*>(dst.data) + static_cast<std::size_t>(first * row) * size_of(dst.type), dst.type,
                    static_cast<std::size_t>(rows.numel()));
        });
        return dst;
    }
};

}  // namespace vl
