// examples/vlgraph/on_cuda.hpp — the model on the CUDA backend, for `--backend cuda` of `vlgraph encode`,
// `generate`, `logits`, `diff` and `serve`. Defined in on_cuda.cu, which is compiled (by nvcc) into the program only when
// the CUDA backend is built; the rest of the program stays plain C++.
//
// bf16 weights and intermediates on the GPU, f32 arithmetic (and an f32 delta-rule state); results come
// back as host tensors.
//
// The *_on_cuda_ranks functions are --tensor-parallel N (tensor_parallel.hpp) on N GPUs of this machine:
// one thread per GPU, rank r on device r, an NCCL communicator per rank (ncclCommInitAll); N greater than
// the number of CUDA devices is a vl::config_error naming both (check_cuda_ranks). Each rank's shard is loaded on the host
// first (a bad checkpoint fails before any rank waits in a collective), uploaded by its thread, and its
// device bytes printed (stderr). Rank 0's result is returned.
#pragma once

#include <vlgraph/compare.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/language_weights.hpp>
#include <vlgraph/models/qwen36/serving.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#include <memory>
#include <vector>

namespace vlcli {

// The vision tower; image_embeds and last_hidden_state come back as f32.
vl::qwen36::vision_output vision_on_cuda(const vl::qwen36::vision_weights& host_weights, const vl::tensor& pixel_values,
                                         std::span<const vl::qwen36::grid_thw> grids);

// qwen36::prompt_logits; the logits come back as f32 [L, V].
vl::tensor prompt_logits_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids, const vl::tensor& image_embeds,
                                 const vl::tensor& position_ids);

// The traced prefill of `vlgraph diff` (prefill_trace.hpp) on executor<bf16>: the host weights (and the
// vision weights, null for a text prompt) uploaded as bf16; every traced node comes back as an f32 host copy.
vl::trace_recorder prefill_trace_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::qwen36::vision_weights* host_vision,
                                         const vl::tensor& pixel_values, std::span<const vl::qwen36::grid_thw> grids, const vl::tensor& input_ids,
                                         const vl::tensor& position_ids);

// qwen36::generate.
vl::qwen36::generation_result generate_on_cuda(const vl::qwen36::language_weights& host_weights, const vl::tensor& input_ids,
                                               const vl::tensor& image_embeds, std::span<const vl::qwen36::grid_thw> grids,
                                               const vl::qwen36::generate_options& options, const vl::qwen36::token_callback& on_token);

// The serving engine of `vlgraph serve --backend cuda`: bf16 weights on the GPU, continuous batching.
std::unique_ptr<vl::qwen36::serving_engine> serving_engine_on_cuda(const vl::checkpoint& ck, const vl::qwen36::model_config& config, bool vision,
                                                                   const vl::qwen36::tokenizer& tok, std::vector<std::int64_t> eos_token_ids,
                                                                   vl::serve::scheduler_options options, std::size_t prefix_cache_bytes);

// A vl::config_error unless this machine has `ranks` CUDA devices and the program was built with NCCL.
void check_cuda_ranks(int ranks);

// qwen36::prompt_logits over `ranks` GPUs; the logits come back as f32 [L, V].
vl::tensor prompt_logits_on_cuda_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, const vl::tensor& input_ids,
                                       const vl::tensor& image_embeds, const vl::tensor& position_ids);

// qwen36::generate over `ranks` GPUs; on_token is called by rank 0.
vl::qwen36::generation_result generate_on_cuda_ranks(const vl::checkpoint& ck, const vl::qwen36::model_config& cfg, int ranks, const vl::tensor& input_ids,
                                                     const vl::tensor& image_embeds, std::span<const vl::qwen36::grid_thw> grids,
                                                     const vl::qwen36::generate_options& options, const vl::qwen36::token_callback& on_token);

}  // namespace vlcli
