// vlgraph/serve/scheduler.hpp — continuous batching: requests join and leave a running batch between
// decode steps, and one model step serves every running sequence. General machinery: what a step does is
// the Model's (e.g. vl::qwen36::serving_model); this file decides which sequences run when.
//
//     vl::qwen36::serving_model<vl::cpu::executor> model(...);
//     vl::serve::scheduler<decltype(model)> s(model, {.max_batch = 8, .max_queue = 64});
//     std::shared_ptr<vl::serve::token_stream> out = s.submit(std::move(request));   // throws queue_full
//     while (auto e = out->next(std::chrono::seconds(1))) { ... e->text ...; if (e->done) break; }
//
// The loop (one thread, the only one that touches the model):
//   1. admit queued requests while fewer than max_batch sequences run (FIFO);
//   2. drop sequences whose consumer cancelled (a client gone, a stop string seen);
//   3. one prefill chunk of the oldest sequence still prefilling (at most prefill_chunk positions), so a
//      new prompt never stalls the running streams for longer than one chunk;
//   4. one decode step of every sequence past its prefill, all in one model step.
// A sequence's output does not depend on the others: its prefill is chunked by its own length alone, and the
// Model's batched step computes each row as it would alone (the CPU: bit for bit).
//
// The Model provides:
//   request                                   what submit takes (moved in)
//   sequence                                  a running sequence's state
//   std::unique_ptr<sequence> start(request&&)                 setup: may throw (reported to the stream)
//   std::optional<step_result> prefill(sequence&, index_t n)   the next ≤ n prompt positions; the first token once done
//   std::vector<step_result> decode(std::span<sequence* const>) one token for each
//   usage usage_of(const sequence&)
#pragma once

#include <vlgraph/config.hpp>
#include <vlgraph/error.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace vl::serve {

enum class finish_reason { stop, length, cancelled, error };

inline const char* name_of(finish_reason r) {
    switch (r) {
        case finish_reason::stop: return "stop";
        case finish_reason::length: return "length";
        case finish_reason::cancelled: return "cancelled";
        case finish_reason::error: return "error";
    }
    return "error";
}

struct usage {
    std::int64_t prompt_tokens = 0;  // image tokens included
    std::int64_t completion_tokens = 0;
    std::int64_t cached_tokens = 0;  // prompt tokens not computed again (a prefix cache)
};

// One generated token, as the Model reports it.
struct step_result {
    std::int32_t token = -1;
    std::string text;                     // the text it completes (may be empty: an unfinished character, a special token)
    std::optional<finish_reason> finish;  // set when the sequence ends with this token
};

// What a consumer reads: tokens, then one final event.
struct stream_event {
    std::int32_t token = -1;  // -1 on the final event
    std::string text;
    bool done = false;
    finish_reason reason = finish_reason::stop;  // final event
    std::string error;                           // final event with finish_reason::error: what went wrong
    serve::usage usage;                          // final event
};

// A request's events, from the scheduler's thread to its consumer (an HTTP handler). Thread-safe.
class token_stream {
public:
    // The next event, or nullopt after `timeout` without one (so a consumer can notice its client left).
    std::optional<stream_event> next(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!ready_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return std::nullopt;
        stream_event e = std::move(events_.front());
        events_.pop_front();
        return e;
    }
    // The consumer is gone or has seen enough: the scheduler drops the sequence before its next step and
    // ends the stream with finish_reason::cancelled (unless it had already ended).
    void cancel() { cancelled_.store(true); }
    bool cancelled() const { return cancelled_.load(); }

    void push(stream_event e) {
        {
            std::lock_guard lock(mutex_);
            events_.push_back(std::move(e));
        }
        ready_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<stream_event> events_;
    std::atomic<bool> cancelled_{false};
};

// submit() refusals: the queue is full (HTTP 429), or the scheduler is stopping (503).
struct queue_full : error {
    using error::error;
};
struct not_accepting : error {
    using error::error;
};

struct scheduler_options {
    int max_batch = 8;            // sequences in the running batch
    int max_queue = 64;           // requests waiting to join it
    index_t prefill_chunk = 256;  // prompt positions per prefill step
};

struct scheduler_stats {
    int running = 0, queued = 0;
    std::uint64_t decode_steps = 0, decode_rows = 0, prefill_chunks = 0, completed = 0, cancelled = 0, failed = 0;
};

template <class Model>
class scheduler {
public:
    using request = typename Model::request;
    using sequence = typename Model::sequence;

    scheduler(Model& model, scheduler_options options) : model_(&model), options_(options) {
        if (options_.max_batch < 1) throw config_error("scheduler: max_batch must be >= 1, got " + std::to_string(options_.max_batch));
        if (options_.max_queue < 0) throw config_error("scheduler: max_queue must be >= 0, got " + std::to_string(options_.max_queue));
        if (options_.prefill_chunk < 1) throw config_error("scheduler: prefill_chunk must be >= 1, got " + std::to_string(options_.prefill_chunk));
        thread_ = std::thread([this] { loop(); });
    }
    ~scheduler() {
        stop(std::chrono::milliseconds(0));
    }
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    // Queues a request; its events arrive on the returned stream.
    std::shared_ptr<token_stream> submit(request r) {
        auto out = std::make_shared<token_stream>();
        {
            std::lock_guard lock(mutex_);
            if (!accepting_) throw not_accepting("the server is shutting down");
            if (static_cast<int>(queue_.size()) >= options_.max_queue && running_ + static_cast<int>(queue_.size()) >= options_.max_batch)
                throw queue_full("the request queue is full (" + std::to_string(options_.max_queue) + " waiting, " + std::to_string(running_) + " running)");
            queue_.push_back({std::move(r), out});
        }
        wake_.notify_all();
        return out;
    }

    // Stops accepting; running and queued requests may finish for `grace`, then the rest are cancelled and
    // the loop ends. Idempotent.
    void stop(std::chrono::milliseconds grace) {
        {
            std::lock_guard lock(mutex_);
            accepting_ = false;
            if (!deadline_ || std::chrono::steady_clock::now() + grace < *deadline_) deadline_ = std::chrono::steady_clock::now() + grace;
        }
        wake_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    scheduler_stats stats() const {
        std::lock_guard lock(mutex_);
        scheduler_stats s = stats_;
        s.running = running_;
        s.queued = static_cast<int>(queue_.size());
        return s;
    }

private:
    struct queued {
        request req;
        std::shared_ptr<token_stream> out;
    };
    struct running {
        std::shared_ptr<token_stream> out;
        std::optional<request> req;     // until started
        std::unique_ptr<sequence> seq;  // after
        bool decoding = false;          // prefill done
        std::int64_t completion_tokens = 0;
    };

    void loop() {
        std::vector<running> batch;
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return !batch.empty() || !queue_.empty() || (deadline_ && !accepting_); });
                const bool past_deadline = deadline_ && std::chrono::steady_clock::now() >= *deadline_;
                if (past_deadline) {  // shutting down: whatever is left is cancelled
                    for (queued& q : queue_) finish(q.out, finish_reason::cancelled, {}, {});
                    stats_.cancelled += queue_.size();
                    queue_.clear();
                    for (running& r : batch) r.out->cancel();
                }
                while (static_cast<int>(batch.size()) < options_.max_batch && !queue_.empty()) {
                    batch.push_back({std::move(queue_.front().out), std::move(queue_.front().req), nullptr, false, 0});
                    queue_.pop_front();
                }
                running_ = static_cast<int>(batch.size());
                if (batch.empty() && !accepting_ && queue_.empty()) return;
            }
            drop_cancelled(batch);
            prefill_one(batch);
            decode_all(batch);
            std::lock_guard lock(mutex_);
            running_ = static_cast<int>(batch.size());
        }
    }

    void drop_cancelled(std::vector<running>& batch) {
        std::erase_if(batch, [&](running& r) {
            if (!r.out->cancelled()) return false;
            finish(r.out, finish_reason::cancelled, {}, r.seq ? model_->usage_of(*r.seq) : usage{});
            count(&scheduler_stats::cancelled);
            return true;
        });
    }

    // One chunk of the oldest sequence still in its prefill (starting it first).
    void prefill_one(std::vector<running>& batch) {
        const auto it = std::find_if(batch.begin(), batch.end(), [](const running& r) { return !r.decoding; });
        if (it == batch.end()) return;
        running& r = *it;
        try {
            if (!r.seq) {
                r.seq = model_->start(std::move(*r.req));
                r.req.reset();
            }
            std::optional<step_result> first = model_->prefill(*r.seq, options_.prefill_chunk);
            count(&scheduler_stats::prefill_chunks);
            if (first) {
                r.decoding = true;
                if (deliver(r, std::move(*first))) batch.erase(it);
            }
        } catch (const std::exception& e) {
            finish(r.out, finish_reason::error, e.what(), r.seq ? model_->usage_of(*r.seq) : usage{});
            count(&scheduler_stats::failed);
            batch.erase(it);
        }
    }

    void decode_all(std::vector<running>& batch) {
        std::vector<sequence*> seqs;
        std::vector<std::size_t> at;
        for (std::size_t i = 0; i < batch.size(); ++i)
            if (batch[i].decoding) {
                seqs.push_back(batch[i].seq.get());
                at.push_back(i);
            }
        if (seqs.empty()) return;
        std::vector<bool> ended(batch.size(), false);
        try {
            std::vector<step_result> tokens = model_->decode(seqs);
            {
                std::lock_guard lock(mutex_);
                ++stats_.decode_steps;
                stats_.decode_rows += seqs.size();
            }
            for (std::size_t k = 0; k < at.size(); ++k) ended[at[k]] = deliver(batch[at[k]], std::move(tokens[k]));
        } catch (const std::exception& e) {  // a failed step fails every sequence in it
            for (const std::size_t i : at) {
                finish(batch[i].out, finish_reason::error, e.what(), model_->usage_of(*batch[i].seq));
                count(&scheduler_stats::failed);
                ended[i] = true;
            }
        }
        std::size_t i = 0;
        std::erase_if(batch, [&](const running&) { return ended[i++]; });
    }

    // Pushes a token; true when the sequence has ended.
    bool deliver(running& r, step_result t) {
        ++r.completion_tokens;
        r.out->push({t.token, std::move(t.text), false, finish_reason::stop, {}, {}});
        if (!t.finish) return false;
        finish(r.out, *t.finish, {}, model_->usage_of(*r.seq));
        count(&scheduler_stats::completed);
        return true;
    }

    static void finish(const std::shared_ptr<token_stream>& out, finish_reason reason, std::string error, usage u) {
        out->push({-1, {}, true, reason, std::move(error), u});
    }
    void count(std::uint64_t scheduler_stats::*field) {
        std::lock_guard lock(mutex_);
        ++(stats_.*field);
    }

    Model* model_;
    scheduler_options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<queued> queue_;
    bool accepting_ = true;
    std::optional<std::chrono::steady_clock::time_point> deadline_;
    int running_ = 0;
    scheduler_stats stats_;
    std::thread thread_;
};

}  // namespace vl::serve
