// libFuzzer target: arbitrary bytes as a whole safetensors file -> header
// parsing and validation (vl::parse_safetensors_header). Rejections must be
// vl::error; anything else (a crash, a sanitizer report, another exception
// type) is a bug. Not built by CMake. To build and run:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include \
//       tests/fuzz/fuzz_safetensors_header.cpp -o fuzz_safetensors_header
//   ./fuzz_safetensors_header -dict=tests/fuzz/safetensors.dict -max_len=4096 \
//       new_corpus/ tests/fuzz/corpus/safetensors/
//
// tests/test_safetensors.cpp replays tests/fuzz/corpus/safetensors/ in CI.
#include <vlgraph/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        vl::parse_safetensors_header(std::string_view(reinterpret_cast<const char*>(data), size), size, "<fuzz>");
    } catch (const vl::error&) {
    }
    return 0;
}
