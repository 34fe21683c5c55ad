// libFuzzer target: tokenizer.json bytes -> vl::text::bpe_tokenizer (vocab, merges, added tokens, normaliser,
// split regex, decoder validation), then a short encode/decode round when the file loads.
// Any input must end in a loaded tokenizer or a vl::error: never a crash, leak, hang or UB.
// Not built by CMake. Build and run from the repository root with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//       tests/fuzz/fuzz_tokenizer_load.cpp -lpcre2-8 -lutf8proc -o fuzz_tokenizer_load
//   ./fuzz_tokenizer_load -max_len=1000000 -timeout=10 corpus/
// Seed corpus/ with tests/data/tiny-qwen36/tokenizer.json and small hand-edited variants of it (the
// broken_files cases of tests/test_tokenizer.cpp).
#include <vlgraph/text/bpe_tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto tok = vl::text::bpe_tokenizer::from_json_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
        const auto ids = tok.encode("Hello <|im_start|>wörld 123 \xF0\x9F\x98\x80\r\n  x");
        (void)tok.decode(ids, true);
    } catch (const vl::error&) {
    }
    return 0;
}
