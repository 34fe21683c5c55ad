// backends/cpu/comm.hpp — an in-process communicator (vlgraph/comm.hpp): the ranks are threads of one
// process, each with its own CPU executor. It exists to prove a sharded model against the unsharded one
// and to run it without GPUs; NCCL is the engine on GPUs.
//
//     vl::cpu::local_group group(n);
//     for (int r = 0; r < n; ++r) threads.emplace_back([&, r] { run_rank(group.rank(r)); });
//
// A collective waits until every rank has called it (std::barrier), reads all the ranks' tensors, and
// writes each rank's own result only after every rank has read (a second barrier). The sum of an element
// is ((x₀ + x₁) + x₂) + … in rank order, in f32: the same on every rank and every run.
#pragma once

#include <vlgraph/comm.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/tensor.hpp>

#include <barrier>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace vl::cpu {

class local_group {
public:
    explicit local_group(int size) : size_(size), sync_(size), slots_(static_cast<std::size_t>(size)) {
        if (size < 1) throw config_error("local_group: size must be at least 1, got " + std::to_string(size));
        for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<member>(*this, r));
    }
    int size() const { return size_; }
    // Rank r's communicator (use it from one thread).
    communicator& rank(int r) { return *ranks_.at(static_cast<std::size_t>(r)); }

private:
    class member final : public communicator {
    public:
        member(local_group& g, int r) : group_(g), rank_(r) {}
        int rank() const override { return rank_; }
        int size() const override { return group_.size_; }

        void all_reduce_sum(const tensor& t) override {
            check_dtype(t, "all_reduce_sum");
            arrive(t);
            group_.check_same_shapes("all_reduce_sum");
            const std::size_t n = static_cast<std::size_t>(t.numel());
            std::vector<float> sum(n, 0.0f), row(n);
            for (const tensor* x : group_.slots_) {
                read_f32(*x, row);
                for (std::size_t i = 0; i < n; ++i) sum[i] += row[i];
            }
            group_.sync_.arrive_and_wait();  // every rank has read every input
            write_f32(sum, t);
            group_.sync_.arrive_and_wait();
        }

        void broadcast(const tensor& t, int root) override {
            if (root < 0 || root >= group_.size_) throw config_error("broadcast: root " + std::to_string(root) + " is not a rank");
            arrive(t);
            group_.check_same_shapes("broadcast");
            if (rank_ != root) {
                const tensor& src = *group_.slots_[static_cast<std::size_t>(root)];
                std::memcpy(t.raw_data(), src.raw_data(), static_cast<std::size_t>(t.numel()) * size_of(t.type()));
            }
            group_.sync_.arrive_and_wait();
        }

        void all_gather(const tensor& part, const tensor& out) override {
            require_contiguous_host(out, "all_gather");
            if (out.type() != part.type() || out.rank() != part.rank() || out.rank() == 0 || out.extent(0) != part.extent(0) * group_.size_)
                throw shape_error("all_gather: out " + vl::to_string(out.shape()) + " cannot hold " + std::to_string(group_.size_) + " parts of " +
                                  vl::to_string(part.shape()));
            arrive(part);
            group_.check_same_shapes("all_gather");
            const std::size_t bytes = static_cast<std::size_t>(part.numel()) * size_of(part.type());
            for (std::size_t r = 0; r < group_.slots_.size(); ++r)
                std::memcpy(static_cast<char*>(out.raw_data()) + r * bytes, group_.slots_[r]->raw_data(), bytes);
            group_.sync_.arrive_and_wait();
        }

    private:
        void arrive(const tensor& t) {
            require_contiguous_host(t, "a collective");
            group_.slots_[static_cast<std::size_t>(rank_)] = &t;
            group_.sync_.arrive_and_wait();
        }
        static void require_contiguous_host(const tensor& t, const char* what) {
            if (!t.defined() || t.space() != memory_space::host || !t.is_contiguous())
                throw shape_error(std::string("local_group: ") + what + " needs contiguous host tensors");
        }
        static void check_dtype(const tensor& t, const char* what) {
            if (t.type() != dtype::f32 && t.type() != dtype::bf16)
                throw dtype_error(std::string(what) + ": f32 or bf16 tensors, got " + std::string(name_of(t.type())));
        }
        static void read_f32(const tensor& t, std::vector<float>& out) { convert(t.raw_data(), t.type(), out.data(), dtype::f32, out.size()); }
        static void write_f32(const std::vector<float>& v, const tensor& t) { convert(v.data(), dtype::f32, t.raw_data(), t.type(), v.size()); }

        local_group& group_;
        int rank_;
    };

    // Called by every rank between the arrival barrier and the next: all see the same slots, so a mismatch
    // throws on every rank alike (after releasing the others, who throw too).
    void check_same_shapes(const char* what) {
        for (const tensor* t : slots_)
            if (t->shape() != slots_[0]->shape() || t->type() != slots_[0]->type()) {
                std::string shapes;
                for (const tensor* s : slots_) shapes += (shapes.empty() ? "" : ", ") + vl::to_string(s->shape()) + " " + std::string(name_of(s->type()));
                sync_.arrive_and_wait();  // no rank leaves while another still reads the slots
                throw shape_error(std::string(what) + ": the ranks passed different tensors (" + shapes + ")");
            }
    }

    int size_;
    std::barrier<> sync_;
    std::vector<const tensor*> slots_;
    std::vector<std::unique_ptr<member>> ranks_;
};

}  // namespace vl::cpu
