// vlgraph/comm.hpp — a communicator: a group of ranks that sum, broadcast and gather tensors together,
// the collectives tensor parallelism needs (an all-reduce after each row-parallel projection, the logits
// gathered by vocabulary).
//
//     vl::cpu::local_group group(2);                 // ranks as threads of this process (backends/cpu/comm.hpp)
//     std::thread([&] { vl::communicator& c = group.rank(1); c.all_reduce_sum(partial); ... });
//
// Every rank calls the same collectives in the same order with tensors of the same shape and dtype (the
// shapes are checked; a mismatch is a vl::shape_error on every rank). Sums are taken in rank order, so
// every rank gets the same bits, and the same bits on every run.
#pragma once

#include <vlgraph/tensor.hpp>

namespace vl {

class communicator {
public:
    virtual ~communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // t (f32 or bf16, the same shape on every rank) becomes the elementwise sum over the ranks, accumulated
    // in f32 in rank order (bf16 rounded once, at the end).
    virtual void all_reduce_sum(const tensor& t) = 0;
    // t becomes root's t on every rank.
    virtual void broadcast(const tensor& t, int root) = 0;
    // out (on every rank, [size · rows, ...]) becomes the ranks' parts ([rows, ...]) stacked along axis 0 in
    // rank order.
    virtual void all_gather(const tensor& part, const tensor& out) = 0;
};

}  // namespace vl
