// examples/vlgraph/prefill_trace.hpp — the traced prefill of `vlgraph diff`: the vision tower (when the
// prompt has images) and then the language model's prefill (qwen36::prompt_logits) on one executor, every
// named intermediate recorded (vision nodes, then language nodes). Used for the CPU oracle and the CPU
// backend (diff.hpp) and, in on_cuda.cu, for executor<bf16>.
#pragma once

#include <vlgraph/compare.hpp>
#include <vlgraph/models/qwen36/language.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <span>

namespace vlcli {

// vision: null for a text prompt; pixel_values and the tower's output then unused. to_host copies a traced
// device tensor to the host (needed by device executors only).
template <class Executor>
vl::trace_recorder prefill_trace(const vl::qwen36::language_weights& language, const vl::qwen36::vision_weights* vision, const vl::tensor& pixel_values,
                                 std::span<const vl::qwen36::grid_thw> grids, const vl::tensor& input_ids, const vl::tensor& position_ids, Executor& exec,
                                 vl::trace_recorder::to_host_fn to_host = {}) {
    vl::trace_recorder rec;
    exec.trace = rec.callback(std::move(to_host));
    vl::tensor image_embeds;
    if (vision) image_embeds = vl::qwen36::vision_forward(*vision, pixel_values, grids, exec).image_embeds;
    vl::qwen36::prompt_logits(language, input_ids, image_embeds, position_ids, exec);
    exec.finish();
    exec.trace = nullptr;  // the callback holds a pointer to rec
    return rec;
}

}  // namespace vlcli
