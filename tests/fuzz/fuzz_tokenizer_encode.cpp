// libFuzzer target: arbitrary bytes (invalid UTF-8, long runs, special-token look-alikes, combining marks)
// -> encode with the tiny checkpoint's tokenizer -> decode -> streaming decode.
// Checks beyond "no crash": ill-formed input is refused with vl::text::utf8_error; for well-formed input the
// streaming decoder's pieces are well-formed UTF-8 and add up to decode(), and decode(encode(x)) == NFC(x)
// when x holds no '<' (every added token of that tokenizer starts with '<'; they are cut out before NFC, so
// e.g. "<|im_end|>" + U+0338 keeps its '>' where NFC of the whole text would make "≯").
// Not built by CMake. Build and run from the repository root with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       -DTOKENIZER_JSON="\"$PWD/tests/data/tiny-qwen36/tokenizer.json\"" \
//       tests/fuzz/fuzz_tokenizer_encode.cpp -lpcre2-8 -lutf8proc -o fuzz_tokenizer_encode
//   ./fuzz_tokenizer_encode -max_len=65536 -timeout=10 corpus/
// Seed corpus/ with the "text" strings of tests/data/golden/tokenizer_cases.json, one per file.
#include <vlgraph/text/bpe_tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto tok = vl::text::bpe_tokenizer::from_file(TOKENIZER_JSON);
    const std::string_view text(reinterpret_cast<const char*>(data), size);
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
    return 0;
}
