// backends/cpu/thread_pool.hpp — a fixed set of worker threads running
// parallel_for(n, task). Tasks are independent and each writes its own part of
// the output, and the split into tasks never depends on the thread count: that
// is what makes every CPU result bit-identical for any number of threads.
#pragma once

#include <vlgraph/config.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vl::cpu {

class thread_pool {
public:
    // threads <= 0: one per hardware thread.
    explicit thread_pool(int threads = 0) {
        const int n = threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
        for (int i = 1; i < n; ++i) workers_.emplace_back([this] { work(); });
    }
    ~thread_pool() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        for (auto& w : workers_) w.join();
    }
    thread_pool(const thread_pool&) = delete;
    thread_pool& operator=(const thread_pool&) = delete;

    int size() const { return static_cast<int>(workers_.size()) + 1; }

    // Runs task(i) for i in [0, n); the calling thread takes part. Rethrows the
    // first exception a task threw.
    void parallel_for(index_t n, const std::function<void(index_t)>& task) {
        if (n <= 0) return;
        if (workers_.empty() || n == 1) {
            for (index_t i = 0; i < n; ++i) task(i);
            return;
        }
        {
            std::lock_guard lock(mutex_);
            task_ = &task;
            count_ = n;
            next_.store(0);
            pending_ = static_cast<int>(workers_.size());
            error_ = nullptr;
            ++generation_;
        }
        wake_.notify_all();
        run_tasks();
        std::unique_lock lock(mutex_);
        done_.wait(lock, [this] { return pending_ == 0; });
        task_ = nullptr;
        if (error_) std::rethrow_exception(error_);
    }

private:
    void run_tasks() {
        for (index_t i; (i = next_.fetch_add(1)) < count_;) {
            try {
                (*task_)(i);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!error_) error_ = std::current_exception();
            }
        }
    }
    void work() {
        std::uint64_t seen = 0;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
                if (stop_) return;
                seen = generation_;
            }
            run_tasks();
            std::lock_guard lock(mutex_);
            if (--pending_ == 0) done_.notify_one();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    const std::function<void(index_t)>* task_ = nullptr;
    index_t count_ = 0;
    std::atomic<index_t> next_{0};
    int pending_ = 0;
    std::uint64_t generation_ = 0;
    bool stop_ = false;
    std::exception_ptr error_;
};

// Splits [0, n) into fixed blocks of `grain` (never depending on the thread
// count) and runs f(begin, end) for each block on the pool.
template <class F>
void parallel_blocks(thread_pool& pool, index_t n, index_t grain, F&& f) {
    grain = std::max<index_t>(grain, 1);
    const index_t blocks = (n + grain - 1) / grain;
    pool.parallel_for(blocks, [&](index_t b) { f(b * grain, std::min(n, (b + 1) * grain)); });
}

}  // namespace vl::cpu
