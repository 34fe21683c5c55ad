// examples/vlgraph/on_cuda.cu — see on_cuda.hpp.
#include "on_cuda.hpp"
#include "prefill_trace.hpp"
#include "weight_bytes.hpp"

#include <vlgraph/backends/cuda/cuda.cuh>
#if VLGRAPH_HAVE_NCCL  // defined by vlgraph::cuda when CMake found NCCL
#include <vlgraph/backends/cuda/comm.cuh>
#endif
#include <vlgraph/models/qwen36/sharding.hpp>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <exception>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

namespace vlcli {

namespace {
vl::tensor bf16_on_device(const vl::tensor& t) { return vl::cuda::to_device(t, vl::dtype::bf16); }

#if VLGRAPH_HAVE_NCCL
// fn(rank's device weights, rank's executor, rank) on one thread per GPU; see on_cuda.hpp. The ranks meet
// after uploading, so that one rank's failed start (out of memory) stops all before any collective; a rank
// failing later leaves the others waiting in their next collective, as NCCL has no way to cancel one.
template <class F>
auto on_cuda_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, F&& fn) {
    namespace q = vl::qwen36;
    using result = decltype(fn(std::declval<const q::language_weights&>(), std::declval<vl::cuda::executor<vl::bf16>&>(), 0));
    check_cuda_ranks(ranks);
    std::vector<int> ids(static_cast<std::size_t>(ranks));
    std::iota(ids.begin(), ids.end(), 0);
    vl::cuda::nccl_group group = vl::cuda::nccl_group::init_all(ids);
    std::vector<q::language_weights> host;
    for (int r = 0; r < ranks; ++r)
        host.push_back(q::language_weights::load_shard(ck, cfg, vl::dtype::bf16, q::matrix_storage::as_stored, q::plan_shards(cfg, r, ranks), group.rank(r)));
    std::vector<std::optional<result>> out(static_cast<std::size_t>(ranks));
    std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
    std::atomic<bool> failed{false};
    std::barrier<> uploaded(ranks);
    std::vector<std::thread> threads;
    for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
            const auto i = static_cast<std::size_t>(r);
            try {
                std::optional<vl::cuda::executor<vl::bf16>> gpu;
                std::optional<q::language_weights> w;
                try {
                    VL_CUDA_CHECK(cudaSetDevice(r));
                    gpu.emplace(group.rank(r).stream());
                    w = host[i].map(bf16_on_device);
                    std::fprintf(stderr, "tensor parallel: rank %d of %d on GPU %d: a shard of %.1f MiB of bf16 weights on the device\n", r, ranks, r,
                                 static_cast<double>(shard_bytes(*w)) / (1 << 20));
                } catch (...) {
                    failed = true;
                    uploaded.arrive_and_wait();
                    throw;
                }
                uploaded.arrive_and_wait();
                if (failed) return;
                out[i] = fn(*w, *gpu, r);
            } catch (...) {
                errors[i] = std::current_exception();
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    return std::move(*out[0]);
}
#else
// A program built without NCCL cannot make GPU ranks.
template <class F>
auto on_cuda_ranks(const vl::checkpoint&, const vl::qwen36::model_config&, int ranks, F&& fn)
    -> decltype(fn(std::declval<const vl::qwen36::language_weights&>(), std::declval<vl::cuda::executor<vl::bf16>&>(), 0)) {
    (void)fn;
    check_cuda_ranks(ranks);
    throw vl::config_error("unreachable: check_cuda_ranks refuses every size without NCCL");
}
#endif
}  // namespace

void check_cuda_ranks(int ranks) {
#if !VLGRAPH_HAVE_NCCL
    throw vl::config_error("--tensor-parallel " + std::to_string(ranks) + " --backend cuda needs NCCL, and this vlgraph was built without it (nccl.h and libnccl not found)");
#endif
    const int devices = vl::cuda::device_count();
    if (ranks > devices)
        throw vl::config_error("--tensor-parallel " + std::to_string(ranks) + " --backend cuda needs " + std::to_string(ranks) +
                               " GPUs (one rank per GPU), this machine has " + std::to_string(devices));
}

vl::qwen36::vision_output vision_on_cuda(const vl::qwen36::vision_weights& host_weights, const vl::tensor& pixel_values,
                                         std::span<const vl::qwen36::grid_thw> grids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    vl::qwen36::vision_output out = vl::qwen36::vision_forward(w, vl::cuda::to_device(pixel_values), grids, gpu);
    out.image_embeds = gpu.to_host(out.image_embeds).to(vl::dtype::f32);
    out.last_hidden_state = gpu.to_host(out.last_hidden_state).to(vl::dtype::f32);
    return out;
}

vl::tensor prompt_logits_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids, const vl::tensor& image_embeds,
                                 const vl::tensor& position_ids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    return gpu.to_host(vl::qwen36::prompt_logits(w, input_ids, image_embeds, position_ids, gpu)).to(vl::dtype::f32);
}

vl::trace_recorder prefill_trace_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::qwen36::vision_weights* host_vision,
                                         const vl::tensor& pixel_values, std::span<const vl::qwen36::grid_thw> grids, const vl::tensor& input_ids,
                                         const vl::tensor& position_ids) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    vl::qwen36::vision_weights vw;
    if (host_vision) vw = host_vision->map(bf16_on_device);
    const vl::tensor pixels = host_vision ? vl::cuda::to_device(pixel_values) : vl::tensor();
    return prefill_trace(w, host_vision ? &vw : nullptr, pixels, grids, input_ids, position_ids, gpu,
                         [&gpu](const vl::tensor& t) { return gpu.to_host(t); });
}

vl::qwen36::generation_result generate_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids,
                                               const vl::tensor& image_embeds, std::span<const vl::qwen36::grid_thw> grids,
                                               const vl::qwen36::generate_options& options, const vl::qwen36::token_callback& on_token) {
    vl::cuda::executor<vl::bf16> gpu;
    const auto w = host_weights.map(bf16_on_device);
    return vl::qwen36::generate(w, input_ids, image_embeds, grids, options, gpu, on_token);
}

std::unique_ptr<vl::qwen36::serving_engine> serving_engine_on_cuda(const vl::checkpoint& ck, const vl::qwen36::model_config& config, bool vision,
                                                                   const vl::qwen36::tokenizer& tok, std::vector<std::int64_t> eos_token_ids,
                                                                   vl::serve::scheduler_options options, std::size_t prefix_cache_bytes) {
    vl::qwen36::language_weights w = vl::qwen36::language_weights::load(ck, config, vl::dtype::bf16).map(bf16_on_device);
    std::optional<vl::qwen36::vision_weights> vw;
    if (vision) vw = vl::qwen36::vision_weights::load(ck, config.vision, vl::dtype::f32).map(bf16_on_device);
    return std::make_unique<vl::qwen36::serving_engine_on<vl::cuda::executor<vl::bf16>>>(std::move(w), std::move(vw), tok, std::move(eos_token_ids), options, prefix_cache_bytes);
}

vl::tensor prompt_logits_on_cuda_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, const vl::tensor& input_ids,
                                       const vl::tensor& image_embeds, const vl::tensor& position_ids) {
    return on_cuda_ranks(ck, cfg, ranks, [&](const vl::qwen36::language_weights& w, vl::cuda::executor<vl::bf16>& gpu, int) {
        return gpu.to_host(vl::qwen36::prompt_logits(w, input_ids, image_embeds, position_ids, gpu)).to(vl::dtype::f32);
    });
}

vl::qwen36::generation_result generate_on_cuda_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, const vl::tensor& input_ids,
                                                     const vl::tensor& image_embeds, std::span<const vl::qwen36::grid_thw> grids,
                                                     const vl::qwen36::generate_options& options, const vl::qwen36::token_callback& on_token) {
    return on_cuda_ranks(ck, cfg, ranks, [&](const vl::qwen36::language_weights& w, vl::cuda::executor<vl::bf16>& gpu, int rank) {
        return vl::qwen36::generate(w, input_ids, image_embeds, grids, options, gpu, rank == 0 ? on_token : vl::qwen36::token_callback{});
    });
}

}  // namespace vlcli
