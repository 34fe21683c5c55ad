// libFuzzer target: arbitrary bytes as a model.safetensors.index.json ->
// vl::parse_checkpoint_index (JSON shape, duplicate keys, tensor names, shard
// names: "../", absolute paths, separators, unicode). Rejections must be
// vl::error. Not built by CMake. To build and run:
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I include \
//       tests/fuzz/fuzz_safetensors_index.cpp -o fuzz_safetensors_index
//   ./fuzz_safetensors_index -dict=tests/fuzz/safetensors.dict new_corpus/ tests/fuzz/corpus/index/
//
// tests/test_safetensors.cpp replays tests/fuzz/corpus/index/ in CI.
#include <vlgraph/io/checkpoint.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        vl::parse_checkpoint_index(std::string_view(reinterpret_cast<const char*>(data), size), "<fuzz>");
    } catch (const vl::error&) {
    }
    return 0;
}
