// backends/cpu/executor.hpp — the Eigen reference backend's executor.
//
//     vl::cpu::executor cpu{2};            // 2 threads (0: all hardware threads)
//     vl::tensor y = vl::eval(expr, cpu);
//
// Computes in f32 (f64 accumulation in reductions and norms), on host memory.
// Deterministic: results are bit-identical whatever the thread count. Not
// thread-safe: use one executor per calling thread.
#pragma once

#include <vlgraph/eval.hpp>
#include <vlgraph/backends/cpu/thread_pool.hpp>

#include <cstring>
#include <memory>

namespace vl::cpu {

struct executor {
    using compute_type = float;
    static constexpr memory_space space = memory_space::host;

    explicit executor(int threads = 0) : pool(std::make_unique<thread_pool>(threads)) {}

    std::unique_ptr<thread_pool> pool;
    trace_fn trace;  // optional: receives every named intermediate
    vl::recording* recording = nullptr;  // set while a program is recorded (vlgraph/program.hpp)
    work_counters counters;

    int threads() const { return pool->size(); }

    // Intermediates live in one arena that only grows; see vlgraph/arena.hpp.
    std::byte* arena(std::size_t bytes) {
        if (!arena_ || arena_->bytes() < bytes) {
            arena_ = std::make_unique<host_storage>(bytes);
            count_allocation(bytes);
        }
        return static_cast<std::byte*>(arena_->data());
    }
    std::size_t arena_bytes() const { return arena_ ? arena_->bytes() : 0; }
    // A tensor in this executor's memory (while recording: in the program's arena).
    tensor make_tensor(std::span<const index_t> shape, dtype t) {
        if (recording) return recording->make_tensor(shape, t, space);
        tensor out = tensor::empty(dims(shape.begin(), shape.end()), t);
        count_allocation(out.nbytes());
        return out;
    }
    // Sets a contiguous tensor to zeros.
    void fill_zeros(const tensor& t) {
        if (t.space() != memory_space::host || !t.is_contiguous())
            throw backend_error("cpu::executor::fill_zeros: " + vl::to_string(t.shape()) + " is not a contiguous host tensor");
        if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
    }
    // A host tensor a program reads at every run: on the CPU any host tensor.
    tensor make_staging(std::span<const index_t> shape, dtype t) { return make_tensor(shape, t); }
    std::shared_ptr<storage> allocate(std::size_t bytes) {
        count_allocation(bytes);
        return std::make_shared<host_storage>(bytes);
    }
    // Results already live on the host (the CUDA executor copies them back here).
    tensor to_host(const tensor& t) const { return t; }
    void finish() {}

    // A recorded program's launches, in order (vlgraph/program.hpp).
    struct replay_state {};
    void replay(const std::vector<std::function<void()>>& launches, replay_state&) {
        for (const auto& work : launches) work();
        counters.launches += static_cast<std::int64_t>(launches.size());
    }

private:
    void count_allocation(std::size_t bytes) {
        ++counters.allocations;
        counters.allocated_bytes += static_cast<std::int64_t>(bytes);
    }
    std::unique_ptr<host_storage> arena_;
};

// Elements per parallel task for row-wise kernels: large enough to amortise
// scheduling, fixed so that the split never depends on the thread count.
inline constexpr index_t grain_elements = 16384;
inline index_t rows_per_task(index_t row_length) { return std::max<index_t>(1, grain_elements / std::max<index_t>(row_length, 1)); }

}  // namespace vl::cpu
