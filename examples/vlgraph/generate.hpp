// examples/vlgraph/generate.hpp — `vlgraph generate`: chat-prompted text generation (CPU, f32).
//
//   vlgraph generate --model DIR [--image PATH_OR_DATA_URI ...] --prompt TEXT [--system TEXT]
//                    [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
//                    [--greedy] [--no-think] [--threads N]
//
// Builds one user turn (the images, then the prompt text; optional system turn), renders it with the
// checkpoint's chat template (add_generation_prompt, thinking unless --no-think), expands each image's
// <|image_pad|> to its token count, runs the vision tower, then generates. Sampling defaults come from
// generation_config.json (do_sample false → greedy); --temperature 0 or --greedy forces greedy. Stops at
// any eos id of generation_config.json or after --max-new-tokens (default: generation_config's
// max_new_tokens, else 512). Text streams to stdout; counts and timings go to stderr.
#pragma once

#include "args.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/tokenizer.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace vlcli {

namespace gen_detail {
inline long long integer(const args& a, const std::string& name, long long lo, long long hi) {
    const std::string t = a.one(name);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(t.c_str(), &end, 10);
    if (t.empty() || *end || errno || v < lo || v > hi)
        throw usage_error("--" + name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + t + "'");
    return v;
}
inline double real(const args& a, const std::string& name) {
    const std::string t = a.one(name);
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (t.empty() || *end || !std::isfinite(v)) throw usage_error("--" + name + " must be a finite number, got '" + t + "'");
    return v;
}
inline double since(std::chrono::steady_clock::time_point t0) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
}  // namespace gen_detail

inline int generate(const args& a) {
    namespace q = vl::qwen36;
    using clock = std::chrono::steady_clock;
    const std::filesystem::path dir = a.required("model");
    const std::string prompt = a.required("prompt");
    const int threads = a.has("threads") ? static_cast<int>(gen_detail::integer(a, "threads", 1, 1024)) : 0;

    auto t0 = clock::now();
    const q::model_config cfg = q::load_config(dir);
    const q::generation_config gcfg = q::load_generation_config(dir, cfg);
    const q::tokenizer tok = q::load_tokenizer(dir);
    const q::chat_template tmpl = q::chat_template::load(dir);

    q::generate_options opt;
    opt.sampling = q::sampling_options::from(gcfg);
    if (a.has("temperature")) opt.sampling.temperature = gen_detail::real(a, "temperature");
    if (a.has("top-k")) opt.sampling.top_k = gen_detail::integer(a, "top-k", 0, 1LL << 40);
    if (a.has("top-p")) opt.sampling.top_p = gen_detail::real(a, "top-p");
    if (a.has("seed")) opt.sampling.seed = static_cast<std::uint64_t>(gen_detail::integer(a, "seed", 0, (1LL << 62)));
    if (a.flag("greedy") || opt.sampling.temperature == 0) opt.sampling.greedy = true;
    try {
        opt.sampling.validate();
    } catch (const vl::config_error& e) {
        throw usage_error(e.what());
    }
    opt.max_new_tokens = a.has("max-new-tokens") ? gen_detail::integer(a, "max-new-tokens", 0, 1LL << 40) : gcfg.max_new_tokens.value_or(512);
    opt.eos_token_ids = gcfg.eos_token_ids;
    opt.tokenizer = &tok.bpe;

    std::vector<q::message> messages;
    if (a.has("system")) messages.push_back({"system", {q::content_part::of_text(a.one("system"))}, std::nullopt});
    q::message user{"user", {}, std::nullopt};
    for (const auto& src : a.all("image")) user.content.push_back(q::content_part::of_image(src));
    user.content.push_back(q::content_part::of_text(prompt));
    messages.push_back(std::move(user));
    std::string rendered = tmpl.render(messages, {.add_generation_prompt = true, .enable_thinking = !a.flag("no-think")});

    vl::cpu::executor cpu{threads};
    vl::tensor image_embeds;
    std::vector<q::grid_thw> grids;
    double t_vision = 0;
    if (a.has("image")) {
        const q::preprocessor_config pre = q::load_preprocessor_config(dir, cfg.vision);
        std::vector<vl::image::rgb8_image> images;
        for (const auto& src : a.all("image")) images.push_back(vl::image::load_image(src));
        const q::preprocessed p = q::preprocess(images, pre);
        std::vector<std::int64_t> tokens;
        for (const q::image_info& m : p.per_image) tokens.push_back(m.tokens);
        rendered = q::expand_image_pads(rendered, tokens);
        grids = q::grids_from_tensor(p.image_grid_thw);
        const auto tv = clock::now();
        const q::vision_weights vw = q::vision_weights::load(vl::checkpoint::open(dir), cfg.vision, vl::dtype::f32);
        image_embeds = q::vision_forward(vw, p.pixel_values, grids, cpu).image_embeds;
        t_vision = gen_detail::since(tv);
    }
    const std::vector<std::int32_t> ids32 = tok.bpe.encode(rendered);
    const std::vector<std::int64_t> ids(ids32.begin(), ids32.end());
    const vl::tensor input_ids = vl::tensor::from(ids, {static_cast<vl::index_t>(ids.size())});
    const q::language_weights w = q::language_weights::load(vl::checkpoint::open(dir), cfg, vl::dtype::f32);
    const double t_setup = gen_detail::since(t0) - t_vision;

    const q::generation_result r = q::generate(w, input_ids, image_embeds, grids, opt, cpu, [](const q::token_event& e) {
        std::fwrite(e.piece.data(), 1, e.piece.size(), stdout);
        std::fflush(stdout);
    });
    std::fwrite(r.text_tail.data(), 1, r.text_tail.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);

    const q::generation_stats& s = r.stats;
    std::fprintf(stderr, "prompt %ld tokens (%ld image), generated %ld tokens (%s)\n", long(s.prompt_tokens), long(s.image_tokens),
                 long(s.generated_tokens), r.stopped_at_eos ? "stopped at eos" : "max-new-tokens reached");
    std::fprintf(stderr, "timings: load + tokenize %.3f s, vision %.3f s, prefill %.3f s (%.1f tok/s), decode %.3f s (%.1f tok/s), cpu %d threads\n",
                 t_setup, t_vision, s.prefill_s, s.prefill_s > 0 ? s.prompt_tokens / s.prefill_s : 0.0, s.decode_s,
                 s.decode_s > 0 && s.generated_tokens > 1 ? (s.generated_tokens - 1) / s.decode_s : 0.0, cpu.threads());
    return 0;
}

}  // namespace vlcli
