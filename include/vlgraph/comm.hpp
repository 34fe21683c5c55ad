// vlgraph/comm.hpp — a communicator: a group of ranks that sum, broadcast and gather buffers together,
// the collectives tensor parallelism needs (an all-reduce after each row-parallel projection, the logits
// gathered by vocabulary). The model reaches them through the ops vl::all_reduce_sum and
// vl::all_gather_columns (ops/), so a recorded program runs them in order like any other launch.
//
//     vl::cpu::local_group group(2);                 // ranks as threads of this process (backends/cpu/comm.hpp)
//     std::thread([&] { vl::communicator& c = group.rank(1); c.all_reduce_sum(partial); ... });
//
// Every rank calls the same collectives in the same order with buffers of the same size and dtype (a
// mismatch is a vl::shape_error on every rank). Every rank gets the same bits; the in-process group sums in
// rank order (the same bits on every run too), NCCL in its ring's order. Buffers live where space() says:
// host memory for vl::cpu::local_group, device memory for vl::cuda::nccl_communicator
// (backends/cuda/comm.cuh), and an executor refuses a communicator whose buffers live elsewhere.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/tensor.hpp>

#include <cstddef>
#include <string>

namespace vl {

class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // Where the buffers passed to the collectives live (the memory of the executor the rank runs on).
    virtual memory_space space() const = 0;

    // data (count elements, f32 or bf16) becomes the elementwise sum over the ranks, accumulated in f32
    // (bf16 rounded once, at the end).
    virtual void all_reduce_sum(void* data, std::size_t count, dtype type) = 0;
    // data becomes root's data on every rank.
    virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
    // out (size · bytes) becomes the ranks' parts (bytes each) one after another in rank order.
    virtual void all_gather(const void* part, void* out, std::size_t bytes) = 0;

    // The same on whole contiguous tensors.
    void all_reduce_sum(const tensor& t) { all_reduce_sum(contiguous_data(t, "all_reduce_sum"), static_cast<std::size_t>(t.numel()), t.type()); }
    void broadcast(const tensor& t, int root) { broadcast(contiguous_data(t, "broadcast"), bytes_of(t), root); }
    // out ([size · rows, ...]) becomes the ranks' parts ([rows, ...]) stacked along axis 0 in rank order.
    void all_gather(const tensor& part, const tensor& out) {
        if (out.type() != part.type() || out.rank() != part.rank() || out.rank() == 0 || out.extent(0) != part.extent(0) * size())
            throw shape_error("all_gather: out " + vl::to_string(out.shape()) + " cannot hold " + std::to_string(size()) + " parts of " +
                              vl::to_string(part.shape()));
        all_gather(contiguous_data(part, "all_gather"), contiguous_data(out, "all_gather"), bytes_of(part));
    }

private:
    static void* contiguous_data(const tensor& t, const char* what) {
        if (!t.defined() || !t.is_contiguous()) throw shape_error(std::string(what) + ": needs a contiguous tensor");
        return t.raw_data();
    }
    static std::size_t bytes_of(const tensor& t) { return static_cast<std::size_t>(t.numel()) * size_of(t.type()); }
};

}  // namespace vl
