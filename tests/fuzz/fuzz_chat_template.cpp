// libFuzzer target: the chat template interpreter and the message parser (models/qwen36/chat.hpp).
// Input byte 0 picks the mode:
//   'T' — the rest is a template source, parsed and rendered on a fixed conversation (text, two images,
//         assistant reasoning), exercising the Jinja-subset lexer, parser and renderer;
//   else — the rest is OpenAI-style messages JSON, parsed and rendered with the real Qwen3.6 template, then
//         every <|image_pad|> expanded (the expansion must contain exactly sum(counts) placeholders).
// Any input must end in a rendered string or a vl::error (JSON syntax errors included): never a crash, leak,
// UB or hang (the interpreter has work, recursion, nesting, output and list budgets).
// Build and run: scripts/fuzz.sh chat_template SECONDS (seeds: corpus/chat_template/).
#include <vlgraph/io/json.hpp>
#include <vlgraph/models/qwen36/chat.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    namespace q = vl::qwen36;
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (data[0] == 'T') {
            const std::vector<q::message> msgs{
                {"system", {q::content_part::of_text(" sys ")}, std::nullopt},
                {"user", {q::content_part::of_image(), q::content_part::of_text("a</think>b"), q::content_part::of_image()}, std::nullopt},
                {"assistant", {q::content_part::of_text("<think>r</think>\n\nx")}, "why"},
                {"user", {q::content_part::of_text("q")}, std::nullopt},
            };
            (void)q::chat_template::from_source(std::string(rest)).render(msgs);
        } else {
            static const q::chat_template qwen = q::chat_template::load(VLGRAPH_FUZZ_TINY_MODEL);
            q::chat_options o;
            o.enable_thinking = (data[0] & 1) != 0;
            o.preserve_thinking = (data[0] & 2) != 0;
            o.add_vision_id = (data[0] & 4) != 0;
            o.add_generation_prompt = (data[0] & 8) != 0;
            const std::string out = qwen.render(q::parse_messages(vl::parse_json(rest, "fuzz")), o);
            std::vector<std::int64_t> counts;
            std::int64_t total = 0;
            for (std::size_t p = out.find(q::image_pad_token); p != std::string::npos; p = out.find(q::image_pad_token, p + 1)) {
                counts.push_back(static_cast<std::int64_t>(counts.size() % 3 + 1));
                total += counts.back();
            }
            const std::string expanded = q::expand_image_pads(out, counts);
            std::int64_t found = 0;
            for (std::size_t p = expanded.find(q::image_pad_token); p != std::string::npos; p = expanded.find(q::image_pad_token, p + 1)) ++found;
            if (found != total) __builtin_trap();
        }
    } catch (const vl::error&) {
    }
    return 0;
}
