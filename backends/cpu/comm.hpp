// backends/cpu/comm.hpp — an in-process communicator (vlgraph/comm.hpp): the ranks are threads of one
// process, each with its own CPU executor. It exists to prove a sharded model against the unsharded one
// and to run it without GPUs; NCCL is the engine on GPUs.
//
//     vl::cpu::local_group group(n);
//     for (int r = 0; r < n; ++r) threads.emplace_back([&, r] { run_rank(group.rank(r)); });
//
// A collective waits until every rank has called it (std::barrier), reads all the ranks' buffers, and
// writes each rank's own result only after every rank has read (a second barrier). The sum of an element
// is ((x₀ + x₁) + x₂) + … in rank order, in f32: the same on every rank and every run.
#pragma once

#include <vlgraph/comm.hpp>
#include <vlgraph/error.hpp>

#include <barrier>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace vl::cpu {

class local_group {
public:
    explicit local_group(int size) : size_(size < 1 ? 1 : size), sync_(size_), slots_(static_cast<std::size_t>(size_)) {
        if (size < 1) throw config_error("local_group: size must be at least 1, got " + std::to_string(size));
        for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<member>(*this, r));
    }
    int size() const { return size_; }
    // Rank r's communicator (use it from one thread).
    communicator& rank(int r) { return *ranks_.at(static_cast<std::size_t>(r)); }

private:
    struct slot {
        const void* data = nullptr;
        std::size_t count = 0;  // elements (all_reduce) or bytes
        dtype type = dtype::u8;
    };

    class member final : public communicator {
    public:
        member(local_group& g, int r) : group_(g), rank_(r) {}
        int rank() const override { return rank_; }
        int size() const override { return group_.size_; }
        memory_space space() const override { return memory_space::host; }
        using communicator::all_gather;
        using communicator::all_reduce_sum;
        using communicator::broadcast;

        void all_reduce_sum(void* data, std::size_t count, dtype type) override {
            if (type != dtype::f32 && type != dtype::bf16) throw dtype_error("all_reduce_sum: f32 or bf16 buffers, got " + std::string(name_of(type)));
            arrive({data, count, type}, "all_reduce_sum");
            std::vector<float> sum(count, 0.0f), part(count);
            for (const slot& s : group_.slots_) {
                convert(s.data, s.type, part.data(), dtype::f32, count);
                for (std::size_t i = 0; i < count; ++i) sum[i] += part[i];
            }
            group_.sync_.arrive_and_wait();  // every rank has read every input
            convert(sum.data(), dtype::f32, data, type, count);
            group_.sync_.arrive_and_wait();
        }

        void broadcast(void* data, std::size_t bytes, int root) override {
            if (root < 0 || root >= group_.size_) throw config_error("broadcast: root " + std::to_string(root) + " is not a rank");
            arrive({data, bytes, dtype::u8}, "broadcast");
            if (rank_ != root) std::memcpy(data, group_.slots_[static_cast<std::size_t>(root)].data, bytes);
            group_.sync_.arrive_and_wait();
        }

        void all_gather(const void* part, void* out, std::size_t bytes) override {
            arrive({part, bytes, dtype::u8}, "all_gather");
            for (std::size_t r = 0; r < group_.slots_.size(); ++r) std::memcpy(static_cast<char*>(out) + r * bytes, group_.slots_[r].data, bytes);
            group_.sync_.arrive_and_wait();
        }

    private:
        // Publishes this rank's buffer and waits for all; then every rank checks that all agree (they see the
        // same slots, so a mismatch throws on every rank alike, after releasing the others).
        void arrive(slot s, const char* what) {
            group_.slots_[static_cast<std::size_t>(rank_)] = s;
            group_.sync_.arrive_and_wait();
            for (const slot& t : group_.slots_)
                if (t.count != group_.slots_[0].count || t.type != group_.slots_[0].type) {
                    std::string sizes;
                    for (const slot& u : group_.slots_) sizes += (sizes.empty() ? "" : ", ") + std::to_string(u.count) + " " + std::string(name_of(u.type));
                    group_.sync_.arrive_and_wait();  // no rank leaves while another still reads the slots
                    throw shape_error(std::string(what) + ": the ranks passed different buffers (" + sizes + ")");
                }
        }

        local_group& group_;
        int rank_;
    };

    int size_;
    std::barrier<> sync_;
    std::vector<slot> slots_;
    std::vector<std::unique_ptr<member>> ranks_;
};

}  // namespace vl::cpu
