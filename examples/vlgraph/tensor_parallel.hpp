// examples/vlgraph/tensor_parallel.hpp — `--tensor-parallel N` of generate and logits: N ranks, each a
// thread of this process with its own executor and its shard of the language model (qwen36/sharding.hpp,
// language_weights::load_shard). On the CPU (on_cpu_ranks below) the ranks reduce over an in-process group
// (backends/cpu/comm.hpp); with --backend cuda rank r runs on GPU r over NCCL (on_cuda.cu,
// on_cuda_ranks). The prompt and the image embeddings are made once and shared: the vision tower is
// replicated, and ranks of one process share memory, so nothing is broadcast. Rank 0's result is returned
// (every rank computes the same). Each rank's memory is printed at load (stderr).
#pragma once

#include "args.hpp"
#include "weight_bytes.hpp"

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <vlgraph/backends/cpu/comm.hpp>
#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/models/qwen36/language_weights.hpp>
#include <vlgraph/models/qwen36/sharding.hpp>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

namespace vlcli {

// --tensor-parallel N (default 1), checked against the model, and on CUDA against the GPUs, before anything
// loads.
inline int tensor_parallel_size(const args& a, const std::string& backend, const vl::qwen36::model_config& cfg) {
    const int n = a.has("tensor-parallel") ? static_cast<int>(a.integer("tensor-parallel", 1, 64)) : 1;
#if VLGRAPH_CLI_CUDA
    if (n > 1 && backend == "cuda") check_cuda_ranks(n);  // vl::config_error naming both numbers
#else
    (void)backend;
#endif
    if (n > 1) (void)vl::qwen36::plan_shards(cfg, 0, n);  // vl::config_error naming the dimension and the sizes that work
    return n;
}

// fn(rank's weights, rank's executor, rank) on `ranks` threads of threads_total / ranks threads each; returns
// rank 0's result and rethrows the first rank's error. The shards are loaded first, on this thread, so a
// bad checkpoint fails before any rank waits in a collective for another.
template <class F>
auto on_cpu_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, int threads_total, F&& fn) {
    namespace q = vl::qwen36;
    using result = decltype(fn(std::declval<const q::language_weights&>(), std::declval<vl::cpu::executor&>(), 0));
    vl::cpu::local_group group(ranks);
    const int per_rank = std::max(1, (threads_total > 0 ? threads_total : static_cast<int>(std::thread::hardware_concurrency())) / ranks);
    std::vector<q::language_weights> shards;
    for (int r = 0; r < ranks; ++r) {
        shards.push_back(q::language_weights::load_shard(ck, cfg, vl::dtype::f32, q::matrix_storage::as_stored, q::plan_shards(cfg, r, ranks), group.rank(r)));
        std::fprintf(stderr, "tensor parallel: rank %d of %d: a shard of %.1f MiB, %.1f MiB of it in its own memory (bf16 matrices and the embedding are read from the mmap), %d thread(s)\n",
                     r, ranks, static_cast<double>(shard_bytes(shards.back())) / (1 << 20), static_cast<double>(owned_weight_bytes(shards.back())) / (1 << 20), per_rank);
    }
    std::vector<std::optional<result>> out(static_cast<std::size_t>(ranks));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            try {
                vl::cpu::executor exec{per_rank};
                out[static_cast<std::size_t>(r)] = fn(shards[static_cast<std::size_t>(r)], exec, r);
            } catch (...) {
                errors[static_cast<std::size_t>(r)] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    return std::move(*out[0]);
}

}  // namespace vlcli
