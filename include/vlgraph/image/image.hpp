// vlgraph/image/image.hpp — the decoded image type and the limits every image input is checked against.
//
// Images come from untrusted requests, so every cap is applied to what the file *declares* (its header)
// before any pixel is decoded: a few-KB file that declares a 65535×65535 raster is refused without
// allocating the raster.
#pragma once

#include <vlgraph/error.hpp>

#include <cstdint>
#include <vector>

namespace vl::image {

// 8-bit RGB, row-major HWC: pixel (x, y) channel c is pixels[(y * width + x) * 3 + c].
struct rgb8_image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> pixels;
};

// HF turns an image into RGB in two ways that disagree with each other (transformers 5.x):
//  * string: a file path, URL or base64 string goes through image_utils.load_image — PIL's
//    ImageOps.exif_transpose, then convert("RGB"): the EXIF orientation is applied and an alpha channel is
//    dropped (the stored colours of transparent pixels are kept, a palette's transparency is ignored);
//  * pil: a PIL image handed to the processor goes through image_transforms.convert_to_rgb: alpha (an A
//    band or a transparency key) is composited on opaque white, and the EXIF orientation is ignored.
// vlgraph's inputs are paths and data URLs, so `string` is the default: the pixels HF gets from the same
// source. `pil` reproduces a caller that opened the file with PIL and passed the image object (HF's own
// test fixtures, our goldens).
enum class hf_image_path { string, pil };

// Caps checked before decoding. The defaults admit every image a Qwen3.6 checkpoint can use (its
// max_pixels is 2^24 after resizing; inputs up to 2^26 px = e.g. 8192×8192 are resized down).
struct decode_limits {
    std::uint64_t max_file_bytes = std::uint64_t{64} << 20;  // encoded size (file or decoded data URL)
    std::uint64_t max_pixels = std::uint64_t{1} << 26;       // declared width × height
    double max_aspect_ratio = 200.0;                          // HF smart_resize raises above 200
    // A progressive JPEG costs one pass over the coefficients per scan; libjpeg-turbo's advice for
    // untrusted input is to cap scans (files with thousands of tiny scans are a known CPU DoS).
    int max_jpeg_scans = 1000;
    // Which of HF's two image paths to reproduce: they disagree on EXIF and alpha (see hf_image_path).
    hf_image_path hf_path = hf_image_path::string;
};

// A well-formed image (or request) refused by a configured cap: too many pixels, too many bytes, too
// extreme an aspect ratio, too many JPEG scans. A format_error, so callers that only tell "bad input"
// from other failures need not know it; servers can map it to "payload too large" instead.
struct image_limit_error : format_error {
    using format_error::format_error;
};

}  // namespace vl::image
