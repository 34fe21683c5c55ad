// libFuzzer target: arbitrary text -> vl::image::parse_data_url / base64_decode / url_scheme.
// Not built by CMake. Build and run (clang, from the repository root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_data_url.cpp \
//     -o fuzz_data_url
//   ./fuzz_data_url -timeout=10 corpus_dir/
// Checks the round trip too: whatever decodes must re-encode to the exact payload (strict base64 has
// one spelling per byte string).
#include <vlgraph/image/data_url.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

std::string encode(const std::vector<std::uint8_t>& b) {
    static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    for (std::size_t i = 0; i < b.size(); i += 3) {
        const std::uint32_t v = b[i] << 16 | (i + 1 < b.size() ? b[i + 1] << 8 : 0) | (i + 2 < b.size() ? b[i + 2] : 0);
        s += abc[v >> 18 & 63];
        s += abc[v >> 12 & 63];
        s += i + 1 < b.size() ? abc[v >> 6 & 63] : '=';
        s += i + 2 < b.size() ? abc[v & 63] : '=';
    }
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)vl::image::url_scheme(text);
    try {
        const vl::image::data_url u = vl::image::parse_data_url(text, 1 << 20);
        if (encode(u.bytes) != text.substr(text.find(',') + 1)) __builtin_trap();
    } catch (const vl::error&) {
    }
    try {
        const auto b = vl::image::base64_decode(text, 1 << 20);
        if (encode(b) != text) __builtin_trap();
    } catch (const vl::error&) {
    }
    return 0;
}
