// vlgraph/models/qwen36/prompt.hpp — a chat's messages as the model's input: rendered with the checkpoint's
// chat template, each <|image_pad|> expanded to its image's token count, tokenised, the images decoded and
// preprocessed exactly as HF's processor does (the vision tower does not run here). What `vlgraph generate`
// and `vlgraph serve` both do with a conversation.
//
//     auto p = vl::qwen36::prepare_prompt(messages, {.enable_thinking = true}, assets, {.reserve = 256});
//     // p.input_ids: i64 [L]; p.pixel_values, p.grids: the images' patches (undefined / empty without images)
//
// The prompt's length — text and image tokens, the latter planned from the images' decoded sizes — plus
// `reserve` (tokens to be generated) is checked against the context before any image is resized.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vl::qwen36 {

// What rendering a prompt needs of a checkpoint (loaded once, shared by every prompt).
struct prompt_assets {
    const model_config* config;
    const chat_template* chat;
    const tokenizer* tok;
    const preprocessor_config* preprocessor;  // null: the checkpoint has no vision tower, images are refused
};

struct prompt_limits {
    std::int64_t reserve = 0;      // tokens to be generated after the prompt
    std::int64_t max_context = 0;  // 0: the model's max_position_embeddings
    std::size_t max_images = 64;
    image::decode_limits decode;   // per image (bytes, pixels, aspect ratio)
    bool files = true;             // image sources may be file paths (false: data: URLs only, as a server takes them)
    bool stable_prefix = false;    // compute prepared_prompt::stable_prefix (a second render and tokenisation of the head)
};

struct prepared_prompt {
    tensor input_ids;          // i64 [L], image tokens expanded
    tensor pixel_values;       // f32 [N, C·T·p·p], the images' patches (undefined without images)
    std::vector<grid_thw> grids;  // one per image
    std::int64_t image_tokens = 0;
    std::string rendered;          // the template's text (image pads not expanded): e.g. whether it leaves <think> open
    // Tokens of the messages up to the last user message: the part a later turn's prompt repeats (once a new
    // user message comes, the template renders the assistant turns after this one without their reasoning,
    // unless preserve_thinking). 0 without a user message or unless prompt_limits::stable_prefix. A prefix
    // cache keeps the state after it.
    std::int64_t stable_prefix = 0;
};

// continuation: text the answer is made to begin with, appended to the rendered prompt (e.g. the opening of
// a tool call the request insists on).
inline prepared_prompt prepare_prompt(std::span<const message> messages, const chat_options& options, const prompt_assets& assets,
                                      const prompt_limits& limits = {}, std::string_view continuation = {}) {
    std::vector<std::string> sources;
    for (const message& m : messages)
        for (const content_part& part : m.content)
            if (part.kind == part_kind::image) sources.push_back(part.image);
    if (!sources.empty() && !assets.preprocessor) throw config_error("this checkpoint has no vision tower: images cannot be given to it");
    if (sources.size() > limits.max_images)
        throw image::image_limit_error(std::to_string(sources.size()) + " images, over the limit of " + std::to_string(limits.max_images));
    for (std::size_t i = 0; i < sources.size(); ++i)
        if (!limits.files && !sources[i].starts_with("data:"))
            throw format_error("image " + std::to_string(i) + ": only data: URLs are accepted (files and http(s) URLs are never read)");

    std::string rendered = assets.chat->render(messages, options);
    rendered += continuation;
    prepared_prompt p;
    p.rendered = rendered;
    std::vector<image::rgb8_image> images;
    if (!sources.empty()) {
        std::vector<std::int64_t> tokens;
        for (std::size_t i = 0; i < sources.size(); ++i) {
            images.push_back(image::load_image(sources[i], limits.decode));
            tokens.push_back(plan_image(images[i].height, images[i].width, *assets.preprocessor, i).tokens);
            p.image_tokens += tokens.back();
        }
        rendered = expand_image_pads(rendered, tokens);
    }
    const std::vector<std::int32_t> ids = assets.tok->bpe.encode(rendered);
    const auto n = static_cast<std::int64_t>(ids.size());
    const std::int64_t context = limits.max_context > 0 ? limits.max_context : assets.config->text.max_position_embeddings;
    if (n + limits.reserve > context)
        throw config_error("prompt of " + std::to_string(n) + " tokens (" + std::to_string(p.image_tokens) + " of them for " + std::to_string(images.size()) +
                           " image(s))" + (limits.reserve > 0 ? " + " + std::to_string(limits.reserve) + " new tokens" : std::string()) + " exceeds " +
                           (limits.max_context > 0 ? "the context limit" : "max_position_embeddings") + " (" + std::to_string(context) +
                           "); refused before the images are resized or encoded");
    if (!images.empty()) {
        const preprocessed pixels = preprocess(images, *assets.preprocessor);
        p.grids = grids_from_tensor(pixels.image_grid_thw);
        p.pixel_values = pixels.pixel_values;
    }
    p.input_ids = tensor::from(std::vector<std::int64_t>(ids.begin(), ids.end()), {static_cast<index_t>(ids.size())});
    std::size_t last_user = messages.size();
    for (std::size_t i = 0; i < messages.size(); ++i)
        if (messages[i].role == "user") last_user = i;
    if (limits.stable_prefix && last_user < messages.size()) {
        chat_options head = options;
        head.add_generation_prompt = false;
        std::vector<std::int64_t> head_tokens;  // the image token counts of the images in messages [0, last_user]
        for (std::size_t i = 0, k = 0; i <= last_user; ++i)
            for (const content_part& part : messages[i].content)
                if (part.kind == part_kind::image) head_tokens.push_back(plan_image(images[k].height, images[k].width, *assets.preprocessor, k).tokens), ++k;
        const std::string text = expand_image_pads(assets.chat->render(messages.first(last_user + 1), head), head_tokens);
        p.stable_prefix = std::min<std::int64_t>(static_cast<std::int64_t>(assets.tok->bpe.encode(text).size()), n);
    }
    return p;
}

}  // namespace vl::qwen36
