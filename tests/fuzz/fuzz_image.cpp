// libFuzzer target: an image as it reaches the model — file bytes, or a data URL as the CLI and a chat
// message carry it — through decode (every format, picked by magic bytes), the pixel cap, smart_resize,
// resize, normalise and patchify, with the tiny checkpoint's preprocessor settings.
//
// Input: bytes starting with "data:" are a data URL (parse_data_url, base64_decode, url_scheme), whose
// payload then goes on as image bytes; anything else is image bytes. The input's length parity picks
// HF's string path (EXIF applied, alpha dropped) or its PIL path (alpha on white, EXIF ignored).
// Invariants beyond "no crash, no leak, no UB": strict base64 re-encodes to the exact payload; the pixel
// buffer matches the header; the patch grid covers the resized image, which is within max_pixels.
// Anything thrown other than vl::error is a finding.
// Build and run: scripts/fuzz.sh image SECONDS (seeds: corpus/image/).
#include <vlgraph/image/data_url.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

// The data URL's payload, or nothing when it is refused (a vl::error).
std::vector<std::uint8_t> from_data_url(std::string_view text) {
    (void)vl::image::url_scheme(text);
    std::vector<std::uint8_t> payload;
    try {
        vl::image::data_url u = vl::image::parse_data_url(text, 1 << 20);
        if (vl::image::base64_encode(u.bytes) != text.substr(text.find(',') + 1)) __builtin_trap();
        payload = std::move(u.bytes);
    } catch (const vl::error&) {
    }
    return payload;
}

void decode_and_preprocess(std::span<const std::uint8_t> bytes, bool hf_string_path) {
    vl::qwen36::preprocessor_config cfg;
    cfg.patch_size = 16;
    cfg.min_pixels = 64 * 64;
    cfg.max_pixels = 512 * 512;
    vl::image::decode_limits limits;
    limits.max_pixels = std::uint64_t{1} << 22;  // keeps one input well under the RSS limit
    limits.hf_path = hf_string_path ? vl::image::hf_image_path::string : vl::image::hf_image_path::pil;
    try {
        const vl::image::rgb8_image im = vl::image::decode_image(bytes, limits, "fuzz");
        if (im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * 3) __builtin_trap();
        const vl::qwen36::preprocessed p = vl::qwen36::preprocess({im}, cfg);
        const auto& info = p.per_image.at(0);
        if (info.grid_thw[1] * 16 != info.resized_height || info.grid_thw[2] * 16 != info.resized_width ||
            p.pixel_values.extent(0) != info.patches || info.resized_height * info.resized_width > cfg.max_pixels)
            __builtin_trap();
    } catch (const vl::error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const bool hf_string_path = size % 2 == 1;
    if (text.starts_with("data:")) {
        const std::vector<std::uint8_t> payload = from_data_url(text);
        if (!payload.empty()) decode_and_preprocess(payload, hf_string_path);
        return 0;
    }
    decode_and_preprocess({data, size}, hf_string_path);
    return 0;
}
