// vlgraph/arena.hpp — planning intermediate buffers from their lifetimes.
//
// vl::eval walks the expression tree twice. The first walk ("dry run") computes
// nothing: it records, in evaluation order, every intermediate buffer's size and
// the steps at which it is created and released. arena_plan::plan() then places
// the buffers in one arena so that buffers alive at the same time never overlap
// (greedy, largest first). The second walk performs the same allocations in the
// same order and gets pointers into the arena: one allocation per eval (or none
// when the executor's arena is already large enough), never one per node.
#pragma once

#include <vlgraph/error.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace vl {

class arena_plan {
public:
    static constexpr std::size_t alignment = 256;  // enough for AVX-512 and CUDA vector loads

    // Dry run: a new buffer of `bytes` is created now; returns its id.
    int record_alloc(std::size_t bytes) {
        blocks_.push_back({round_up(bytes), clock_++, -1, 0});
        return static_cast<int>(blocks_.size()) - 1;
    }
    void record_release(int id) { blocks_[static_cast<std::size_t>(id)].last = clock_++; }

    // Assigns offsets; returns the arena size needed.
    std::size_t plan() {
        for (auto& b : blocks_)
            if (b.last < 0) b.last = clock_;  // alive until the end
        std::vector<std::size_t> order(blocks_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return blocks_[a].bytes > blocks_[b].bytes; });
        std::vector<std::size_t> placed;
        total_ = 0;
        for (std::size_t i : order) {
            block& b = blocks_[i];
            // Candidate offsets: 0 and the end of every placed block that lives at the same time.
            std::vector<std::pair<std::size_t, std::size_t>> busy;
            for (std::size_t j : placed) {
                const block& o = blocks_[j];
                if (o.first <= b.last && b.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
            }
            std::sort(busy.begin(), busy.end());
            std::size_t off = 0;
            for (auto [s, e] : busy) {
                if (off + b.bytes <= s) break;
                off = std::max(off, e);
            }
            b.offset = off;
            total_ = std::max(total_, off + b.bytes);
            placed.push_back(i);
        }
        return total_;
    }
    std::size_t offset(int id, std::size_t bytes) const {
        const block& b = blocks_.at(static_cast<std::size_t>(id));
        if (b.bytes != round_up(bytes))
            throw error("vl::eval: the expression allocated differently in its planning and executing passes (buffer " + std::to_string(id) + ")");
        return b.offset;
    }
    std::size_t size() const { return total_; }
    std::size_t buffer_count() const { return blocks_.size(); }

private:
    struct block {
        std::size_t bytes;
        int first, last;
        std::size_t offset;
    };
    static std::size_t round_up(std::size_t n) { return (std::max<std::size_t>(n, 1) + alignment - 1) / alignment * alignment; }
    std::vector<block> blocks_;
    int clock_ = 0;
    std::size_t total_ = 0;
};

}  // namespace vl
