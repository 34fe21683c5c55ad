// examples/vlgraph/weight_bytes.hpp — the memory a rank's weights take, printed at load by
// --tensor-parallel (tensor_parallel.hpp on the CPU, on_cuda.cu on GPUs).
#pragma once

#include <vlgraph/models/qwen36/language_weights.hpp>

#include <cstddef>

namespace vlcli {

// Bytes of the weights a rank holds in memory it owns (views of the mmap'd file excluded: the OS pages them).
inline std::size_t owned_weight_bytes(const vl::qwen36::language_weights& w) {
    std::size_t bytes = 0;
    w.map([&](const vl::tensor& t) {
        if (!t.storage_ptr()->read_only()) bytes += static_cast<std::size_t>(t.numel()) * vl::size_of(t.type());
        return t;
    });
    return bytes;
}

// Bytes of all the weights a rank holds (its shard, the replicated tensors included).
inline std::size_t shard_bytes(const vl::qwen36::language_weights& w) {
    std::size_t bytes = 0;
    w.map([&](const vl::tensor& t) {
        bytes += static_cast<std::size_t>(t.numel()) * vl::size_of(t.type());
        return t;
    });
    return bytes;
}

}  // namespace vlcli
