// libFuzzer target: bytes -> decode -> pixel cap -> smart_resize -> resize -> normalise -> patchify ->
// grid_thw, with the tiny checkpoint's preprocessor settings (min 64x64, max 512x512 pixels).
// Not built by CMake. Build and run (clang, from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I/usr/include/stb \
//     -Ibuild-img/vlgraph-include tests/fuzz/fuzz_image_pipeline.cpp -lwebp -o fuzz_image_pipeline
//   ./fuzz_image_pipeline -rss_limit_mb=2048 -timeout=10 corpus_dir/
// (build-img/vlgraph-include is the configured build tree's <vlgraph/models/...> link.)
#include <vlgraph/image/decode.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    vl::qwen36::preprocessor_config cfg;
    cfg.patch_size = 16;
    cfg.min_pixels = 64 * 64;
    cfg.max_pixels = 512 * 512;
    vl::image::decode_limits limits;
    limits.max_pixels = std::uint64_t{1} << 22;
    try {
        const vl::image::rgb8_image im = vl::image::decode_image({data, size}, limits, "fuzz");
        const vl::qwen36::preprocessed p = vl::qwen36::preprocess({im}, cfg);
        const auto& info = p.per_image.at(0);
        // invariants: the grid covers the resized image and pixel_values has one row per patch
        if (info.grid_thw[1] * 16 != info.resized_height || info.grid_thw[2] * 16 != info.resized_width ||
            p.pixel_values.extent(0) != info.patches || info.resized_height * info.resized_width > cfg.max_pixels)
            __builtin_trap();
    } catch (const vl::error&) {
    }
    return 0;
}
