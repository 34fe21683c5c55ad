// libFuzzer target: arbitrary bytes -> vl::image::decode_image (every format, picked by magic bytes).
// Not built by CMake. Build and run (clang, from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -I/usr/include/stb \
//     tests/fuzz/fuzz_image_decode.cpp -lwebp -o fuzz_image_decode
//   ./fuzz_image_decode -rss_limit_mb=2048 -timeout=10 corpus_dir/
// Seeds: tests/data/images/*. Any exception other than vl::error is a finding; so is any crash.
#include <vlgraph/image/decode.hpp>

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    vl::image::decode_limits limits;
    limits.max_pixels = std::uint64_t{1} << 22;  // keep single inputs well under the RSS limit
    try {
        const vl::image::rgb8_image im = vl::image::decode_image({data, size}, limits, "fuzz");
        if (im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * 3) __builtin_trap();
    } catch (const vl::error&) {
    }
    return 0;
}
