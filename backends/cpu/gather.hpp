// backends/cpu/gather.hpp — embedding lookup (ops/gather.hpp). The table is
// read in its stored dtype (only the gathered rows are converted); ids are
// range-checked before anything is written.
#pragma once

#include <vlgraph/backends/cpu/executor.hpp>
#include <vlgraph/ops/gather.hpp>

namespace vl {

template <>
struct lowering<cpu::executor, ops::gather> {
    template <class Ctx, class Node>
    static value run(Ctx& ctx, const Node& node) {
        static_assert(std::is_same_v<typename decltype(node.table)::op, ops::input>,
                      "vl::gather (cpu): the table must be an input tensor (it is read in its stored dtype)");
        const tensor& table = node.table.value();
        if (table.space() != memory_space::host) throw backend_error("gather (cpu): the table lives on a device");
        const value ids = ctx.contiguous(node.ids);
        value out = ctx.alloc(node.shape());
        ctx.launch([=, &ex = ctx.executor()] {
            const index_t v = table.shape()[0], d = table.shape()[1], n = ids.numel();
            auto id_at = [&](index_t i) -> index_t {
                switch (ids.type) {
                    case dtype::i64: return ids.ptr<const std::int64_t>()[i];
                    case dtype::i32: return ids.ptr<const std::int32_t>()[i];
                    case dtype::u8: return ids.ptr<const std::uint8_t>()[i];
                    default: throw dtype_error("gather: ids must be i32, i64 or u8");
                }
            };
            for (index_t i = 0; i < n; ++i)
                if (const index_t id = id_at(i); id < 0 || id >= v)
                    throw shape_error("gather: id " + std::to_string(id) + " at position " + std::to_string(i) + " is outside the table's " + std::to_string(v) +
                                      " rows");
            const tensor rows_view = table.contiguous();
            const char* base = static_cast<const char*>(rows_view.raw_data());
            const std::size_t row_bytes = static_cast<std::size_t>(d) * size_of(table.type());
            cpu::parallel_blocks(*ex.pool, n, cpu::rows_per_task(d), [&](index_t b, index_t e) {
                for (index_t i = b; i < e; ++i)
                    convert(base + static_cast<std::size_t>(id_at(i)) * row_bytes, table.type(), out.ptr<float>() + i * d, dtype::f32,
                            static_cast<std::size_t>(d));
            });
        });
        return out;
    }
};

}  // namespace vl
