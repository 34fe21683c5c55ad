// examples/vlgraph/prompt.hpp — the chat prompt of `vlgraph generate`, `logits` and `diff`.
//
// One user turn (the --image sources, then the --prompt text; an optional --system turn), rendered with the
// checkpoint's chat template (add_generation_prompt; thinking unless --no-think), each <|image_pad|>
// expanded to its image's token count, tokenised (render_chat_prompt); build_chat_prompt also runs the
// images through the vision tower on the chosen backend. `logits` and `diff` take either such a prompt or
// the token ids of a file (--input-ids, read_input_ids).
#pragma once

#include "args.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/prompt.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace vlcli {

struct chat_prompt {
    vl::tensor input_ids;                     // i64 [L], image tokens expanded
    vl::tensor pixel_values;                  // f32 [N, C·T·p·p], the images' patches (undefined without images)
    vl::tensor image_embeds;                  // f32 [N, D] host rows for the image tokens (undefined without images or before the vision tower)
    std::vector<vl::qwen36::grid_thw> grids;  // one per image
    double vision_s = 0;                      // vision tower time (weights loading included)
};

// The chat prompt's token ids, and the images preprocessed (pixel_values, grids); the vision tower does not run.
// The prompt's length (text and image tokens, the latter planned from the decoded sizes) plus `reserve` (the
// tokens to be generated) is checked against max_position_embeddings before any image is resized or encoded.
inline chat_prompt render_chat_prompt(const args& a, const std::filesystem::path& dir, const vl::qwen36::model_config& cfg,
                                      const vl::qwen36::tokenizer& tok, std::int64_t reserve = 0) {
    namespace q = vl::qwen36;
    std::vector<q::message> messages;
    if (a.has("system")) messages.push_back({"system", {q::content_part::of_text(a.one("system"))}, std::nullopt});
    q::message user{"user", {}, std::nullopt};
    for (const auto& src : a.all("image")) user.content.push_back(q::content_part::of_image(src));
    user.content.push_back(q::content_part::of_text(a.required("prompt")));
    messages.push_back(std::move(user));
    const q::chat_template chat = q::chat_template::load(dir);
    std::optional<q::preprocessor_config> pre;
    if (a.has("image")) pre = q::load_preprocessor_config(dir, cfg.vision);
    q::prompt_limits limits;
    limits.reserve = reserve;
    limits.max_images = std::numeric_limits<std::size_t>::max();
    limits.decode.hf_path = a.hf_image_path();
    const q::prepared_prompt prepared =
        q::prepare_prompt(messages, {.add_generation_prompt = true, .enable_thinking = !a.flag("no-think")}, {&cfg, &chat, &tok, pre ? &*pre : nullptr}, limits);
    chat_prompt p;
    p.input_ids = prepared.input_ids;
    p.pixel_values = prepared.pixel_values;
    p.grids = prepared.grids;
    return p;
}

// render_chat_prompt (with `reserve` new tokens), then the images through the vision tower on `backend` (image_embeds).
inline chat_prompt build_chat_prompt(const args& a, const std::filesystem::path& dir, const vl::qwen36::model_config& cfg,
                                     const vl::qwen36::tokenizer& tok, const std::string& backend, int threads, std::int64_t reserve = 0) {
    namespace q = vl::qwen36;
    chat_prompt p = render_chat_prompt(a, dir, cfg, tok, reserve);
    if (p.pixel_values.defined()) {
        const auto t0 = std::chrono::steady_clock::now();
        const q::vision_weights vw = q::vision_weights::load(vl::checkpoint::open(dir), cfg.vision, vl::dtype::f32,
                                                            backend == "cpu" ? q::matrix_storage::as_stored : q::matrix_storage::converted);
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") p.image_embeds = vision_on_cuda(vw, p.pixel_values, p.grids).image_embeds;
#endif
        if (backend == "cpu") {
            vl::cpu::executor cpu{threads};
            p.image_embeds = q::vision_forward(vw, p.pixel_values, p.grids, cpu).image_embeds;
        }
        p.vision_s = seconds_since(t0);
    }
    return p;
}

// The prompt options of `logits` and `diff`: either --prompt (with --image, --system, --no-think) or --input-ids.
inline void check_prompt_or_input_ids(const args& a) {
    if (a.has("prompt") == a.has("input-ids")) throw usage_error("give either --prompt or --input-ids");
    if (a.has("input-ids") && (a.has("image") || a.has("system") || a.flag("no-think")))
        throw usage_error("--image, --system and --no-think go with --prompt, not --input-ids");
}

// The "input_ids" tensor of a safetensors file (--input-ids) as i64 [L]: an integer tensor, [L] or [1, L].
inline vl::tensor read_input_ids(const std::string& path) {
    const auto f = vl::safetensors_file::open(path);
    if (!f.contains("input_ids")) throw vl::format_error(path + ": no tensor named input_ids");
    const vl::tensor ids = f.get("input_ids");
    if (vl::is_floating(ids.type())) throw vl::dtype_error(path + ": input_ids must be an integer tensor, got " + std::string(vl::name_of(ids.type())));
    const bool batch_of_one = ids.rank() == 2 && ids.extent(0) == 1;
    if ((ids.rank() != 1 && !batch_of_one) || ids.numel() == 0)
        throw vl::shape_error(path + ": input_ids must be [L] or [1, L] with L >= 1, got " + vl::to_string(ids.shape()));
    return ids.to(vl::dtype::i64).reshape({ids.numel()});
}

}  // namespace vlcli
