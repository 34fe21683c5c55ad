// libFuzzer target: config.json bytes -> JSON -> vl::qwen36::parse_config (+ the expected tensor list).
// Any input must end in a parsed config, a vl::error or a JSON parse error: never a crash, leak or UB.
// Not built by CMake. Build and run from the repository root with clang:
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I<build>/vlgraph-include \
//       tests/fuzz/fuzz_config_json.cpp -o fuzz_config_json
//   ./fuzz_config_json -max_len=65536 corpus/     (seed corpus/ with tests/data/*/config.json)
// (<build>/vlgraph-include is the generated include dir that maps <vlgraph/models/...>; any configured build dir has it.)
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    try {
        const auto j = nlohmann::json::parse(data, data + size);
        const auto config = vl::qwen36::parse_config(j);
        // Only small configs: the list grows with the layer count, which may legitimately be 65536.
        if (config.text.num_hidden_layers + config.vision.depth <= 256) (void)vl::qwen36::expected_tensors(config, vl::qwen36::part::all);
    } catch (const vl::error&) {
    } catch (const nlohmann::json::exception&) {
    }
    return 0;
}
