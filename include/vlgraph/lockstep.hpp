// vlgraph/lockstep.hpp — N long-lived threads that run the same call together: the ranks of a
// tensor-parallel group, whose collectives need every rank inside the call at once.
//
//     vl::lockstep ranks(2);
//     ranks.run([&](int rank) { step(models[rank]); });   // both at once; returns when both are done
//
// run() rethrows the lowest rank's error after every rank has returned. A call that throws on one rank must
// throw on all before their first collective (validation that depends only on the shared inputs), or the
// others would wait in it for ever.
#pragma once

#include <vlgraph/error.hpp>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vl {

class lockstep {
public:
    explicit lockstep(int ranks) : errors_(static_cast<std::size_t>(ranks)) {
        if (ranks < 1) throw config_error("lockstep: at least one rank, got " + std::to_string(ranks));
        for (int r = 0; r < ranks; ++r) threads_.emplace_back([this, r] { serve(r); });
    }
    ~lockstep() {
        {
            std::lock_guard lock(mutex_);
            quit_ = true;
        }
        start_.notify_all();
        for (auto& t : threads_) t.join();
    }
    lockstep(const lockstep&) = delete;
    lockstep& operator=(const lockstep&) = delete;

    int size() const { return static_cast<int>(threads_.size()); }

    void run(const std::function<void(int)>& fn) {
        std::unique_lock lock(mutex_);
        job_ = &fn;
        busy_ = size();
        ++generation_;
        start_.notify_all();
        done_.wait(lock, [&] { return busy_ == 0; });
        job_ = nullptr;
        for (std::exception_ptr& e : errors_)
            if (e) {
                std::exception_ptr first = e;
                for (std::exception_ptr& x : errors_) x = nullptr;
                std::rethrow_exception(first);
            }
    }

private:
    void serve(int rank) {
        std::uint64_t seen = 0;
        for (;;) {
            const std::function<void(int)>* job;
            {
                std::unique_lock lock(mutex_);
                start_.wait(lock, [&] { return quit_ || generation_ != seen; });
                if (quit_) return;
                seen = generation_;
                job = job_;
            }
            try {
                (*job)(rank);
            } catch (...) {
                errors_[static_cast<std::size_t>(rank)] = std::current_exception();
            }
            std::lock_guard lock(mutex_);
            if (--busy_ == 0) done_.notify_all();
        }
    }

    std::mutex mutex_;
    std::condition_variable start_, done_;
    const std::function<void(int)>* job_ = nullptr;
    std::uint64_t generation_ = 0;
    int busy_ = 0;
    bool quit_ = false;
    std::vector<std::exception_ptr> errors_;
    std::vector<std::thread> threads_;
};

}  // namespace vl
