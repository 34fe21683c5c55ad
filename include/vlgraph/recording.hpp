// vlgraph/recording.hpp — what an executor does while a program is being recorded (vlgraph/program.hpp),
// and the counters every executor keeps.
//
// While `exec.recording` points at a recording, vl::eval does not run the work of the ops it lowers: it
// appends each launch (a self-contained closure: it captures values, never references to the lowering's
// locals) to `launches`, and takes every buffer from one arena planned for the whole program:
//
//   * each eval's intermediates (the eval's own arena) are one block, alive while that eval records;
//   * each tensor made with exec.make_tensor is one block, alive until its last handle goes away.
//
// The blocks' sizes and lifetimes are known only once the fragment has run, so it runs twice: a sizing
// pass (nothing is placed: data pointers are null, nothing may read them) records them, arena_plan::plan()
// places them, and the recording pass makes the same calls in the same order and gets real addresses.
#pragma once

#include <vlgraph/arena.hpp>
#include <vlgraph/tensor.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace vl {

// What an executor has done since it was made (or since the caller last reset it).
struct work_counters {
    std::int64_t launches = 0;        // work queued one by one: kernels, GEMMs, copies (eager, or replayed on the CPU)
    std::int64_t graph_launches = 0;  // whole recorded programs launched at once (CUDA graphs)
    std::int64_t syncs = 0;           // host waits for the device
    std::int64_t allocations = 0;     // memory obtained from the system (device or host buffers, arenas)
    std::int64_t allocated_bytes = 0;
    std::int64_t bytes_to_device = 0;  // host -> device
    std::int64_t bytes_to_host = 0;    // device -> host
};

class recording {
public:
    explicit recording(std::function<std::shared_ptr<storage>(std::size_t)> allocate) : allocate_(std::move(allocate)), log_(std::make_shared<sizing_log>()) {}

    bool sizing() const { return sizing_; }

    // A block of `bytes` starting now; its id.
    int open(std::size_t bytes) {
        if (sizing_) return log_->plan.record_alloc(bytes);
        check_order(bytes);
        return next_++;
    }
    // The block ends now (only the sizing pass keeps the time).
    void close(int id) {
        if (sizing_) log_->plan.record_release(id);
    }
    // The address of block `id` (recording pass); null while sizing.
    std::byte* data(int id, std::size_t bytes) const {
        if (sizing_) return nullptr;
        return static_cast<std::byte*>(memory_->data()) + log_->plan.offset(id, bytes);
    }

    // A tensor of the program (exec.make_tensor while recording): a block that ends with its last handle.
    tensor make_tensor(std::span<const index_t> shape, dtype t, memory_space space) {
        const dims d(shape.begin(), shape.end());
        const std::size_t bytes = static_cast<std::size_t>(checked_numel(d)) * size_of(t);
        const int id = open(bytes);
        std::shared_ptr<storage> st;
        if (sizing_) st = std::make_shared<block_storage>(nullptr, bytes, space, log_, id, nullptr);
        else st = std::make_shared<block_storage>(data(id, bytes), bytes, space, nullptr, id, memory_);
        return tensor(std::move(st), t, d, row_major_strides(d));
    }

    // Ends the sizing pass: places every block in one arena of the executor's memory.
    void place() {
        const std::size_t bytes = log_->plan.plan();
        memory_ = allocate_(bytes);
        sizing_ = false;
        blocks_ = log_->plan.buffer_count();
    }
    // After the recording pass: every block was asked for again, in the same order.
    void finish() const {
        if (static_cast<std::size_t>(next_) != blocks_)
            throw error("vl::program: the fragment allocated " + std::to_string(next_) + " buffers when recorded but " + std::to_string(blocks_) +
                        " when sized: it must make the same calls both times");
    }

    std::size_t arena_bytes() const { return memory_ ? memory_->bytes() : 0; }

    std::vector<std::function<void()>> launches;

private:
    struct sizing_log {
        arena_plan plan;
    };
    // A program tensor's bytes: a slice of the program's arena (recording) or nothing yet (sizing).
    class block_storage final : public storage {
    public:
        block_storage(std::byte* p, std::size_t bytes, memory_space space, std::shared_ptr<sizing_log> log, int id, std::shared_ptr<storage> arena)
            : storage(p, bytes, space, false), log_(std::move(log)), id_(id), arena_(std::move(arena)) {}
        ~block_storage() override {
            if (log_) log_->plan.record_release(id_);
        }

    private:
        std::shared_ptr<sizing_log> log_;  // sizing pass: where the end of the block is noted
        int id_;
        std::shared_ptr<storage> arena_;  // recording pass: keeps the arena alive as long as the tensor
    };

    void check_order(std::size_t bytes) const {
        if (static_cast<std::size_t>(next_) >= blocks_)
            throw error("vl::program: the fragment allocated more buffers when recorded than when sized: it must make the same calls both times");
        (void)log_->plan.offset(next_, bytes);  // throws if the sizes differ
    }

    std::function<std::shared_ptr<storage>(std::size_t)> allocate_;
    std::shared_ptr<sizing_log> log_;
    std::shared_ptr<storage> memory_;
    bool sizing_ = true;
    int next_ = 0;
    std::size_t blocks_ = 0;
};

}  // namespace vl
