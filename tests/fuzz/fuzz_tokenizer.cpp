// libFuzzer target: the tokenizer — a tokenizer.json, or text through the tiny checkpoint's tokenizer.
//
// Input: the first byte says what the rest is —
//   'L'  a tokenizer.json -> bpe_tokenizer::from_json_text, then encode and decode a fixed mixed text
//   'E'  text (invalid UTF-8, long runs, special-token look-alikes, combining marks) -> encode with the
//        tiny checkpoint's tokenizer -> decode -> streaming decode
// Checks for 'E' beyond "no crash": ill-formed input is refused with vl::text::utf8_error; for well-formed
// input the streaming decoder's pieces are well-formed UTF-8 and add up to decode(), and
// decode(encode(x)) == NFC(x) when x holds no '<' (every added token of that tokenizer starts with '<';
// they are cut out before NFC, so e.g. "<|im_end|>" + U+0338 keeps its '>' where NFC of the whole text
// would make "≯"). Any other exception than vl::error is a finding.
// Build and run: scripts/fuzz.sh tokenizer SECONDS (seeds: corpus/tokenizer/).
#include <vlgraph/text/bpe_tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void load(std::string_view json) {
    const auto tok = vl::text::bpe_tokenizer::from_json_text(json, "fuzz");
    const auto ids = tok.encode("Hello <|im_start|>wörld 123 \xF0\x9F\x98\x80\r\n  x");
    (void)tok.decode(ids, true);
}

void encode(std::string_view text) {
    static const auto tok = vl::text::bpe_tokenizer::from_file(VLGRAPH_FUZZ_TINY_MODEL "/tokenizer.json");
    const bool valid = vl::text::utf8::find_invalid(text) == std::string_view::npos;
    try {
        const auto ids = tok.encode(text);
        if (!valid) std::abort();  // ill-formed input must be refused
        const std::string decoded = tok.decode(ids);
        if (text.find('<') == std::string_view::npos && decoded != vl::text::utf8::nfc(text)) std::abort();
        vl::text::bpe_tokenizer::stream_decoder stream(tok);
        std::string streamed;
        for (const auto id : ids) {
            const std::string piece = stream.push(id);
            if (vl::text::utf8::find_invalid(piece) != std::string_view::npos) std::abort();
            streamed += piece;
        }
        streamed += stream.finish();
        if (streamed != decoded) std::abort();
    } catch (const vl::text::utf8_error&) {
        if (valid) std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        if (data[0] == 'L') load(rest);
        else if (data[0] == 'E') encode(rest);
    } catch (const vl::error&) {
    }
    return 0;
}
