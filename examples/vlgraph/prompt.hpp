// examples/vlgraph/prompt.hpp — the chat prompt of `vlgraph generate` and `vlgraph logits`.
//
// One user turn (the --image sources, then the --prompt text; an optional --system turn), rendered with the
// checkpoint's chat template (add_generation_prompt; thinking unless --no-think), each <|image_pad|>
// expanded to its image's token count, tokenised; the images go through the vision tower on the chosen
// backend.
#pragma once

#include "args.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace vlcli {

struct chat_prompt {
    vl::tensor input_ids;                     // i64 [L], image tokens expanded
    vl::tensor image_embeds;                  // f32 [N, D] host rows for the image tokens (undefined without images)
    std::vector<vl::qwen36::grid_thw> grids;  // one per image
    double vision_s = 0;                      // vision tower time (weights loading included)
};

inline chat_prompt build_chat_prompt(const args& a, const std::filesystem::path& dir, const vl::qwen36::model_config& cfg,
                                     const vl::qwen36::tokenizer& tok, const std::string& backend, int threads) {
    namespace q = vl::qwen36;
    std::vector<q::message> messages;
    if (a.has("system")) messages.push_back({"system", {q::content_part::of_text(a.one("system"))}, std::nullopt});
    q::message user{"user", {}, std::nullopt};
    for (const auto& src : a.all("image")) user.content.push_back(q::content_part::of_image(src));
    user.content.push_back(q::content_part::of_text(a.required("prompt")));
    messages.push_back(std::move(user));
    std::string rendered = q::chat_template::load(dir).render(messages, {.add_generation_prompt = true, .enable_thinking = !a.flag("no-think")});

    chat_prompt p;
    if (a.has("image")) {
        const q::preprocessor_config pre = q::load_preprocessor_config(dir, cfg.vision);
        std::vector<vl::image::rgb8_image> images;
        for (const auto& src : a.all("image")) images.push_back(vl::image::load_image(src));
        const q::preprocessed pixels = q::preprocess(images, pre);
        std::vector<std::int64_t> tokens;
        for (const q::image_info& m : pixels.per_image) tokens.push_back(m.tokens);
        rendered = q::expand_image_pads(rendered, tokens);
        p.grids = q::grids_from_tensor(pixels.image_grid_thw);
        const auto t0 = std::chrono::steady_clock::now();
        const q::vision_weights vw = q::vision_weights::load(vl::checkpoint::open(dir), cfg.vision, vl::dtype::f32);
#if VLGRAPH_CLI_CUDA
        if (backend == "cuda") p.image_embeds = vision_on_cuda(vw, pixels.pixel_values, p.grids).image_embeds;
#endif
        if (backend == "cpu") {
            vl::cpu::executor cpu{threads};
            p.image_embeds = q::vision_forward(vw, pixels.pixel_values, p.grids, cpu).image_embeds;
        }
        p.vision_s = seconds_since(t0);
    }
    const std::vector<std::int32_t> ids = tok.bpe.encode(rendered);
    p.input_ids = vl::tensor::from(std::vector<std::int64_t>(ids.begin(), ids.end()), {static_cast<vl::index_t>(ids.size())});
    return p;
}

}  // namespace vlcli
