// vlgraph/image/decode.hpp — PNG, JPEG, GIF (first frame), BMP and WebP to 8-bit RGB, the way HF
// transformers sees an image that PIL opened.
//
//   vl::image::rgb8_image im = vl::image::load_image("photo.jpg");            // a file path
//   vl::image::rgb8_image im = vl::image::load_image("data:image/png;base64,..."); // a data URL
//   vl::image::rgb8_image im = vl::image::decode_image(bytes, limits, "upload");   // bytes in memory
//
// Sources: a file path or a `data:` URL (data_url.hpp). Anything that looks like a URL (http, https,
// file, gopher, ...) is refused: vlgraph never fetches (SSRF), callers download and pass the bytes.
// Unlike HF's load_image, a bare base64 string is not accepted (it cannot be told from a file name).
//
// Format: chosen by the magic bytes, never by the file extension or the data URL's MIME type (PIL
// does the same), so a PNG named x.jpg decodes as a PNG; bytes that match no supported magic are a
// vl::format_error naming the formats tried.
//
// Pixel conversion, matching transformers' convert_to_rgb for PIL inputs (spec §3.1), checked against
// Pillow 13:
//  * images with alpha (RGBA, LA, palette or gray/RGB with a tRNS colour key, GIF transparency,
//    WebP alpha): with decode_limits::hf_path = pil composited on opaque white with PIL's integer
//    alpha_composite (out = ((t >> 8) + t) >> 8 >> 7 with t = 128·(c·a + 255·(255 − a)) + 2^14; exhaustive
//    match); with `string` (the default, HF's load_image) the alpha is dropped and the stored colours kept
//    (one known difference: a GIF's transparent pixels come out black where PIL keeps the palette colour
//    of the transparent index);
//  * gray, palette and low-bit-depth images expand to RGB as PIL's convert("RGB") does;
//  * 16-bit RGB(A) / gray+alpha PNGs keep the high byte of each sample (PIL's RGB;16B rawmodes);
//  * 16-bit *gray* PNGs open in PIL as mode I;16, whose convert("RGB") clamps each sample to 255
//    rather than scaling it (and ignores a tRNS key): reproduced here for parity, so such an image
//    is mostly white exactly as it is for HF;
//  * EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF) is applied as PIL's ImageOps.exif_transpose
//    with hf_path = string (HF's load_image does), ignored with `pil` (see image.hpp).
// JPEG is decoded by libjpeg-turbo, as in PIL (exact on the goldens: 4:4:4, 4:2:2, 4:2:0, progressive,
// restart markers, gray, CMYK, EXIF-rotated; tests/test_image_decode.cpp, tests/test_preprocess.cpp); PNG, GIF
// and BMP by stb_image, WebP by libwebp. Known divergences from PIL: 32-bit BI_RGB BMPs whose 4th byte is
// non-zero (stb reads it as alpha, PIL ignores it), animated WebP (refused),
// and inputs refused because stb_image 2.27 would misbehave on them (a PNG whose first IDAT is empty).
//
// Limits (decode_limits, image.hpp) are checked on the declared header before decoding, libjpeg's
// working memory is capped (max_memory_to_use), and stb's allocations are additionally metered against a budget derived from the declared size, so a
// malformed stream cannot make the decoder allocate more than a small multiple of the raster it
// declared (a PNG with a 1×1 header and gigabytes of zlib data fails at the budget).
//
// stb_image in a header-only library: this header compiles a private copy of stb_image into every
// translation unit that includes it (STB_IMAGE_STATIC gives every stb function and global internal
// linkage). No two TUs share a definition, so there is no ODR violation and no "implementation TU"
// for users to designate; the price is object code per including TU, paid only by TUs that decode
// images. Consequently a TU must not include stb_image.h itself before this header (its extern
// declarations would conflict with the static definitions; that is diagnosed with #error) nor define
// STB_IMAGE_IMPLEMENTATION for a second copy after it.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/data_url.hpp>
#include <vlgraph/image/image.hpp>
#include <vlgraph/io/mmap.hpp>

#include <webp/decode.h>

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE and size_t first
#include <jpeglib.h>

#include <algorithm>
#include <cassert>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace vl::image::detail {

// Live bytes stb may still allocate in the current decode on this thread (see stb_budget below).
inline thread_local std::size_t stb_bytes_left = std::numeric_limits<std::size_t>::max();

// Each block carries its size in a header (aligned like malloc's) so that free and realloc can
// return it to the budget.
inline constexpr std::size_t stb_header = alignof(std::max_align_t);

inline void* stb_malloc(std::size_t n) {
    if (n > stb_bytes_left || n > std::numeric_limits<std::size_t>::max() - stb_header) return nullptr;
    auto* block = static_cast<unsigned char*>(std::malloc(n + stb_header));
    if (!block) return nullptr;
    std::memcpy(block, &n, sizeof n);
    stb_bytes_left -= n;
    return block + stb_header;
}

inline void stb_free(void* p) {
    if (!p) return;
    unsigned char* block = static_cast<unsigned char*>(p) - stb_header;
    std::size_t n;
    std::memcpy(&n, block, sizeof n);
    stb_bytes_left += std::min(n, std::numeric_limits<std::size_t>::max() - stb_bytes_left);
    std::free(block);
}

inline void* stb_realloc(void* p, std::size_t n) {
    if (!p) return stb_malloc(n);
    unsigned char* block = static_cast<unsigned char*>(p) - stb_header;
    std::size_t old;
    std::memcpy(&old, block, sizeof old);
    if ((n > old && n - old > stb_bytes_left) || n > std::numeric_limits<std::size_t>::max() - stb_header)
        return nullptr;
    auto* grown = static_cast<unsigned char*>(std::realloc(block, n + stb_header));
    if (!grown) return nullptr;
    std::memcpy(grown, &n, sizeof n);
    stb_bytes_left = stb_bytes_left + old - n;
    return grown + stb_header;
}

}  // namespace vl::image::detail

#ifdef STBI_INCLUDE_STB_IMAGE_H
#error "vlgraph/image/decode.hpp compiles its own static copy of stb_image: include it before (or instead of) stb_image.h"
#endif
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO      // files are read (with a size cap) by load_image, never by stb
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_ONLY_PNG      // the formats stb decodes for vlgraph (JPEG: libjpeg-turbo); PSD, TGA, PIC, PNM stay out of the attack surface
#define STBI_ONLY_GIF
#define STBI_ONLY_BMP
#define STBI_MAX_DIMENSIONS (1 << 24)
#define STBI_MALLOC(n) ::vl::image::detail::stb_malloc(n)
#define STBI_REALLOC(p, n) ::vl::image::detail::stb_realloc(p, n)
#define STBI_FREE(p) ::vl::image::detail::stb_free(p)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#undef STB_IMAGE_STATIC
#undef STB_IMAGE_IMPLEMENTATION
#undef STBI_NO_STDIO
#undef STBI_NO_LINEAR
#undef STBI_NO_HDR
#undef STBI_ONLY_PNG
#undef STBI_ONLY_GIF
#undef STBI_ONLY_BMP
#undef STBI_MAX_DIMENSIONS
#undef STBI_MALLOC
#undef STBI_REALLOC
#undef STBI_FREE

namespace vl::image {

enum class image_format { png, jpeg, gif, bmp, webp };

constexpr std::string_view name_of(image_format f) {
    switch (f) {
        case image_format::png: return "PNG";
        case image_format::jpeg: return "JPEG";
        case image_format::gif: return "GIF";
        case image_format::bmp: return "BMP";
        case image_format::webp: return "WebP";
    }
    return "?";
}

// The format named by the leading magic bytes, or nullopt.
inline std::optional<image_format> sniff_format(std::span<const std::uint8_t> b) {
    auto starts = [&](std::string_view magic, std::size_t at = 0) {
        return b.size() >= at + magic.size() && std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
    };
    if (starts("\x89PNG\r\n\x1a\n")) return image_format::png;
    if (starts("\xff\xd8\xff")) return image_format::jpeg;
    if (starts("GIF87a") || starts("GIF89a")) return image_format::gif;
    if (starts("BM")) return image_format::bmp;
    if (starts("RIFF") && starts("WEBP", 8)) return image_format::webp;
    return std::nullopt;
}

namespace detail {

inline std::uint32_t be32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
inline std::uint32_t le32(const std::uint8_t* p) {
    return std::uint32_t{p[3]} << 24 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[1]} << 8 | p[0];
}

// What a walk over the JPEG marker segments finds before decoding: the number of scans (SOS
// markers), the first APP1 "Exif" payload and whether the end-of-image marker was reached. stb_image
// pads a truncated entropy stream with zeros and "succeeds" with a grey tail; PIL raises "image file
// is truncated", so a stream that never reaches EOI is refused here.
struct jpeg_markers {
    int scans = 0;
    std::span<const std::uint8_t> exif;
    bool complete = false;
    std::string bad_huffman;  // why a DHT segment is malformed, or empty
};

// Why a DHT (define Huffman table) segment's payload is malformed, or "". stb_image 2.27 (Debian 12) never
// checks that a table's 16 code counts sum to at most 256 (stbi__build_huffman writes past its 257-entry
// arrays), so every table is checked here before stb sees the bytes: class 0/1, id 0..3, counts summing to
// at most 256 and forming a valid prefix code, and the symbol values inside the segment.
inline std::string dht_problem(std::span<const std::uint8_t> seg) {
    std::size_t at = 0;
    if (seg.empty()) return "empty DHT segment";
    while (at < seg.size()) {
        const std::uint8_t tc = seg[at] >> 4, th = seg[at] & 15;
        if (tc > 1 || th > 3) return "Huffman table class " + std::to_string(tc) + " / id " + std::to_string(th) + " is invalid";
        if (seg.size() - at < 17) return "DHT segment ends inside its code counts";
        std::size_t total = 0;
        std::uint64_t codes = 0;  // codes available at the current length
        for (int len = 1; len <= 16; ++len) {
            const std::size_t count = seg[at + static_cast<std::size_t>(len)];
            total += count;
            codes = codes * 2;
            if (len == 1) codes = 2;
            if (count > codes) return "Huffman code counts overflow the " + std::to_string(len) + "-bit codes";
            codes -= count;
        }
        if (total > 256) return "Huffman table has " + std::to_string(total) + " codes (at most 256)";
        at += 17;
        if (seg.size() - at < total) return "DHT segment ends inside its symbol values";
        at += total;
    }
    return "";
}

inline jpeg_markers scan_jpeg(std::span<const std::uint8_t> b) {
    jpeg_markers out;
    std::size_t i = 2;  // after SOI
    while (i + 1 < b.size()) {
        if (b[i] != 0xFF) return out;
        while (i < b.size() && b[i] == 0xFF) ++i;  // fill bytes
        if (i >= b.size()) return out;
        const std::uint8_t m = b[i++];
        if (m == 0xD9) {  // EOI
            out.complete = true;
            return out;
        }
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01) continue;  // RSTn, TEM: no length
        if (i + 2 > b.size()) return out;
        const std::size_t len = std::size_t{b[i]} << 8 | b[i + 1];
        if (len < 2 || i + len > b.size()) return out;
        const auto seg = b.subspan(i + 2, len - 2);
        if (m == 0xC4 && out.bad_huffman.empty()) out.bad_huffman = dht_problem(seg);
        if (m == 0xE1 && out.exif.empty() && seg.size() >= 6 && std::memcmp(seg.data(), "Exif\0\0", 6) == 0)
            out.exif = seg.subspan(6);
        i += len;
        if (m == 0xDA) {  // SOS: entropy-coded data runs to the next marker that is not a stuffed 0 or RSTn
            ++out.scans;
            while (i + 1 < b.size() && !(b[i] == 0xFF && b[i + 1] != 0x00 && !(b[i + 1] >= 0xD0 && b[i + 1] <= 0xD7)))
                ++i;
        }
    }
    return out;
}

// Why stb_image must not see this PNG, or "": a zero-length IDAT before any image data makes stb_image 2.27
// memcpy into a null buffer (undefined behaviour). Such a file carries no pixels in that chunk; it is refused.
inline std::string png_problem(std::span<const std::uint8_t> b) {
    std::size_t i = 8;
    while (i + 12 <= b.size()) {
        const std::uint64_t len = be32(b.data() + i);
        if (len > b.size() - i - 12) break;
        const auto type = b.subspan(i + 4, 4);
        if (std::memcmp(type.data(), "IDAT", 4) == 0) {
            if (len == 0) return "an empty IDAT chunk before any image data";
            return "";
        }
        if (std::memcmp(type.data(), "IEND", 4) == 0) break;
        i += 12 + static_cast<std::size_t>(len);
    }
    return "";
}

// The payload of the first PNG eXIf chunk.
inline std::span<const std::uint8_t> png_exif(std::span<const std::uint8_t> b) {
    std::size_t i = 8;
    while (i + 12 <= b.size()) {
        const std::uint64_t len = be32(b.data() + i);
        if (len > b.size() - i - 12) break;
        const auto type = b.subspan(i + 4, 4);
        if (std::memcmp(type.data(), "eXIf", 4) == 0) return b.subspan(i + 8, static_cast<std::size_t>(len));
        if (std::memcmp(type.data(), "IEND", 4) == 0) break;
        i += 12 + static_cast<std::size_t>(len);
    }
    return {};
}

// The payload of the first WebP EXIF chunk (some writers keep JPEG's "Exif\0\0" prefix; PIL accepts both).
inline std::span<const std::uint8_t> webp_exif(std::span<const std::uint8_t> b) {
    std::size_t i = 12;
    while (i + 8 <= b.size()) {
        const std::uint64_t len = le32(b.data() + i + 4);
        if (len > b.size() - i - 8) break;
        if (std::memcmp(b.data() + i, "EXIF", 4) == 0) {
            auto blob = b.subspan(i + 8, static_cast<std::size_t>(len));
            if (blob.size() >= 6 && std::memcmp(blob.data(), "Exif\0\0", 6) == 0) blob = blob.subspan(6);
            return blob;
        }
        i += 8 + static_cast<std::size_t>(len) + (len & 1);
    }
    return {};
}

// The Orientation tag (0x0112) of IFD0 of a TIFF-structured EXIF blob: 1..8, or 1 when absent or invalid.
inline int exif_orientation(std::span<const std::uint8_t> t) {
    if (t.size() < 8) return 1;
    const bool little = t[0] == 'I' && t[1] == 'I';
    if (!little && !(t[0] == 'M' && t[1] == 'M')) return 1;
    auto u16 = [&](std::size_t at) -> std::uint32_t {
        return little ? (t[at] | t[at + 1] << 8) : (t[at] << 8 | t[at + 1]);
    };
    auto u32 = [&](std::size_t at) -> std::uint64_t { return little ? le32(t.data() + at) : be32(t.data() + at); };
    if (u16(2) != 42) return 1;
    const std::uint64_t ifd = u32(4);
    if (ifd > t.size() - 2) return 1;
    const std::uint64_t count = u16(static_cast<std::size_t>(ifd));
    for (std::uint64_t k = 0; k < count; ++k) {
        const std::uint64_t e = ifd + 2 + 12 * k;
        if (e + 12 > t.size()) return 1;
        const auto at = static_cast<std::size_t>(e);
        if (u16(at) == 0x0112) {
            const std::uint32_t v = u16(at + 8);
            return u16(at + 2) == 3 && u32(at + 4) == 1 && v >= 1 && v <= 8 ? static_cast<int>(v) : 1;
        }
    }
    return 1;
}

// PIL's ImageOps.exif_transpose for orientation o (2: mirror, 3: rotate 180, 4: flip, 5: transpose,
// 6: rotate 90° clockwise, 7: transverse, 8: rotate 90° counter-clockwise).
inline rgb8_image apply_orientation(const rgb8_image& in, int o) {
    if (o <= 1 || o > 8) return in;
    const int W = in.width, H = in.height;
    const bool swap = o >= 5;
    rgb8_image out{swap ? H : W, swap ? W : H, std::vector<std::uint8_t>(in.pixels.size())};
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x) {
            int sx = x, sy = y;  // source pixel of output (x, y)
            switch (o) {
                case 2: sx = W - 1 - x; break;
                case 3: sx = W - 1 - x; sy = H - 1 - y; break;
                case 4: sy = H - 1 - y; break;
                case 5: sx = y; sy = x; break;
                case 6: sx = y; sy = H - 1 - x; break;
                case 7: sx = W - 1 - y; sy = H - 1 - x; break;
                case 8: sx = W - 1 - y; sy = x; break;
            }
            std::memcpy(&out.pixels[(static_cast<std::size_t>(y) * out.width + x) * 3],
                        &in.pixels[(static_cast<std::size_t>(sy) * W + sx) * 3], 3);
        }
    return out;
}

// One RGBA pixel composited on opaque white, bit-exact with PIL's ImagingAlphaComposite (7 extra bits
// of precision, rounded divisions by 255); with a white background its coefficients reduce to 128·a
// and 128·(255 − a).
inline std::uint8_t composite_on_white(std::uint32_t c, std::uint32_t a) {
    if (a == 0) return 255;
    const std::uint32_t t = c * a * 128 + 255 * (255 - a) * 128 + (0x80u << 7);
    return static_cast<std::uint8_t>((((t >> 8) + t) >> 8) >> 7);
}

// RGBA to RGB as the chosen HF path does it: alpha composited on white (pil) or dropped (string).
inline rgb8_image rgba_to_rgb(const std::uint8_t* rgba, int w, int h, hf_image_path path) {
    rgb8_image out{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3)};
    const std::size_t n = static_cast<std::size_t>(w) * h;
    for (std::size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c)
            out.pixels[i * 3 + c] = path == hf_image_path::pil ? composite_on_white(rgba[i * 4 + c], rgba[i * 4 + 3]) : rgba[i * 4 + c];
    return out;
}

// Meters stb's allocations for one decode: a generous multiple of the declared raster (the largest
// decoder, 16-bit interlaced PNG, needs about 30 bytes per pixel at peak) plus twice the input.
class stb_budget {
public:
    stb_budget(std::uint64_t pixels, std::size_t input_bytes) {
        detail::stb_bytes_left = static_cast<std::size_t>(40 * pixels) + 2 * input_bytes + (std::size_t{1} << 20);
    }
    ~stb_budget() { detail::stb_bytes_left = std::numeric_limits<std::size_t>::max(); }
    stb_budget(const stb_budget&) = delete;
    stb_budget& operator=(const stb_budget&) = delete;
};

// JPEG through libjpeg-turbo, the decoder PIL uses, with PIL's settings (accurate integer IDCT, fancy
// upsampling; gray expands to RGB as convert("RGB") does). libjpeg reports fatal errors through
// error_exit, which must not return: it longjmps back here (no C++ object with a destructor lives in this
// frame between setjmp and longjmp), so a corrupt file is an error message, never exit(). Warnings
// (corrupt-data notices PIL also ignores) are not printed. libjpeg's own allocations are capped by
// max_memory_to_use (no backing store: over the cap is an error), the output buffer is ours.
struct jpeg_error_handler {
    jpeg_error_mgr pub;
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};
inline void jpeg_error_exit(j_common_ptr c) {
    auto* e = reinterpret_cast<jpeg_error_handler*>(c->err);
    (*c->err->format_message)(c, e->message);
    std::longjmp(e->jump, 1);
}
inline void jpeg_quiet(j_common_ptr, int) {}

struct jpeg_raw {
    int width = 0, height = 0;
    unsigned char* rgb = nullptr;  // std::malloc'd width × height × 3, or null for a header read
    char error[JMSG_LENGTH_MAX] = {};
};

// One row of libjpeg's CMYK output to RGB as PIL gives it: PIL reads four-channel JPEGs with Adobe's inverted
// polarity ("CMYK;I": c = 255 − stored), then convert("RGB") computes nk − c·nk/255 per channel with
// nk = 255 − k and its rounded division MULDIV255 (checked against Pillow on every pixel of the golden).
inline void cmyk_to_rgb_as_pil(const unsigned char* stored, unsigned char* rgb, std::size_t width) {
    const auto muldiv255 = [](int a, int b) {
        const int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    };
    for (std::size_t x = 0; x < width; ++x, stored += 4, rgb += 3) {
        const int nk = stored[3];  // 255 − (255 − stored k)
        for (int c = 0; c < 3; ++c) rgb[c] = static_cast<unsigned char>(nk - muldiv255(255 - stored[c], nk));
    }
}

// Reads the header (header_only) or decodes to RGB8; false with r.error set on any failure.
inline bool jpeg_decode_raw(const std::uint8_t* data, std::size_t n, bool header_only, std::size_t max_memory, jpeg_raw& r) {
    jpeg_decompress_struct cinfo;
    jpeg_error_handler err;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_error_exit;
    err.pub.emit_message = jpeg_quiet;
    unsigned char* volatile out = nullptr;
    unsigned char* volatile cmyk_row = nullptr;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        std::free(out);
        std::free(cmyk_row);
        std::snprintf(r.error, sizeof r.error, "%s", err.message);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = static_cast<long>(std::min<std::size_t>(max_memory, LONG_MAX));
    jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(n));
    jpeg_read_header(&cinfo, TRUE);
    r.width = static_cast<int>(std::min<JDIMENSION>(cinfo.image_width, INT_MAX));
    r.height = static_cast<int>(std::min<JDIMENSION>(cinfo.image_height, INT_MAX));
    if (header_only) {
        jpeg_destroy_decompress(&cinfo);
        return true;
    }
    // Four-channel JPEGs come out as CMYK (libjpeg turns YCCK into CMYK) and are converted as PIL does.
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (!cmyk && cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_RGB) {
        jpeg_destroy_decompress(&cinfo);
        std::snprintf(r.error, sizeof r.error, "colour space %d is not supported", static_cast<int>(cinfo.jpeg_color_space));
        return false;
    }
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    const std::size_t stride = static_cast<std::size_t>(cinfo.output_width) * 3;
    const bool sizes_as_declared = cinfo.output_components == (cmyk ? 4 : 3) && cinfo.output_width == cinfo.image_width &&
                                   cinfo.output_height == cinfo.image_height;
    if (sizes_as_declared) out = static_cast<unsigned char*>(std::malloc(stride * cinfo.output_height));
    if (out && cmyk) cmyk_row = static_cast<unsigned char*>(std::malloc(static_cast<std::size_t>(cinfo.output_width) * 4));
    if (!out || (cmyk && !cmyk_row)) {
        jpeg_destroy_decompress(&cinfo);
        std::free(out);
        std::snprintf(r.error, sizeof r.error, "cannot decode to %u x %u RGB", cinfo.output_width, cinfo.output_height);
        return false;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char* rgb = out + static_cast<std::size_t>(cinfo.output_scanline) * stride;
        JSAMPROW row = cmyk ? cmyk_row : rgb;
        jpeg_read_scanlines(&cinfo, &row, 1);
        if (cmyk) cmyk_to_rgb_as_pil(cmyk_row, rgb, cinfo.output_width);
    }
    jpeg_finish_decompress(&cinfo);  // may still longjmp to the handler above, which frees both buffers
    jpeg_destroy_decompress(&cinfo);
    std::free(cmyk_row);
    r.rgb = out;
    return true;
}

struct stbi_deleter {
    void operator()(void* p) const { stbi_image_free(p); }
};

}  // namespace detail

// The declared size of an image, and checks it against the limits. Throws vl::format_error for an
// unrecognised or unreadable header, vl::image::image_limit_error for a refused size.
struct image_header {
    image_format format;
    int width = 0;
    int height = 0;
};

// Throws unless the declared size is non-empty and within the pixel and aspect-ratio caps.
inline void check_declared_size(const image_header& h, const decode_limits& limits, const std::string& where) {
    if (h.width <= 0 || h.height <= 0)
        throw format_error(where + ": declares an empty " + std::to_string(h.width) + "x" + std::to_string(h.height) +
                           " image");
    const std::uint64_t pixels = static_cast<std::uint64_t>(h.width) * static_cast<std::uint64_t>(h.height);
    const std::string dims = std::to_string(h.width) + "x" + std::to_string(h.height);
    if (pixels > limits.max_pixels)
        throw image_limit_error(where + ": declares " + dims + " = " + std::to_string(pixels) +
                                " pixels, over the limit of " + std::to_string(limits.max_pixels));
    const double aspect = static_cast<double>(std::max(h.width, h.height)) / std::min(h.width, h.height);
    if (aspect > limits.max_aspect_ratio)
        throw image_limit_error(where + ": " + dims + " has aspect ratio " + std::to_string(aspect) +
                                ", over the limit of " + std::to_string(limits.max_aspect_ratio));
}

inline image_header read_header(std::span<const std::uint8_t> bytes, const decode_limits& limits,
                                std::string_view origin = "image") {
    const std::string where(origin);
    if (bytes.empty()) throw format_error(where + ": empty image (0 bytes)");
    if (bytes.size() > limits.max_file_bytes)
        throw image_limit_error(where + ": " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                                std::to_string(limits.max_file_bytes) + " bytes");
    if (bytes.size() > static_cast<std::size_t>(INT_MAX))
        throw image_limit_error(where + ": images over 2 GiB are not supported");
    const auto fmt = sniff_format(bytes);
    if (!fmt)
        throw format_error(where + ": not a PNG, JPEG, GIF, BMP or WebP image (unrecognised leading bytes; the file "
                                   "extension and MIME type are not used)");
    image_header h{*fmt};
    if (*fmt == image_format::png && bytes.size() >= 24 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0 &&
        detail::be32(bytes.data() + 16) <= INT_MAX && detail::be32(bytes.data() + 20) <= INT_MAX) {
        // Read the size from IHDR directly: stb_image refuses rasters over 2^30 bytes with a vague
        // "unknown image type", and the pixel cap should be the one to say why.
        h.width = static_cast<int>(detail::be32(bytes.data() + 16));
        h.height = static_cast<int>(detail::be32(bytes.data() + 20));
        check_declared_size(h, limits, where);
    }
    // Inputs that would drive stb_image into undefined behaviour are refused before any stb call.
    if (*fmt == image_format::jpeg) {
        if (const std::string bad = detail::scan_jpeg(bytes).bad_huffman; !bad.empty())
            throw format_error(where + ": corrupt JPEG (" + bad + ")");
    } else if (*fmt == image_format::png) {
        if (const std::string bad = detail::png_problem(bytes); !bad.empty()) throw format_error(where + ": corrupt PNG (" + bad + ")");
    }
    if (*fmt == image_format::webp) {
        if (!WebPGetInfo(bytes.data(), bytes.size(), &h.width, &h.height))
            throw format_error(where + ": invalid WebP header");
    } else if (*fmt == image_format::jpeg) {
        detail::jpeg_raw r;
        if (!detail::jpeg_decode_raw(bytes.data(), bytes.size(), true, std::size_t{1} << 26, r))
            throw format_error(where + ": invalid JPEG header (" + r.error + ")");
        h.width = r.width;
        h.height = r.height;
    } else {
        int comp = 0;
        if (!stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &h.width, &h.height, &comp))
            throw format_error(where + ": invalid " + std::string(name_of(*fmt)) + " header (" +
                               stbi_failure_reason() + ")");
    }
    check_declared_size(h, limits, where);
    return h;
}

// Decodes an in-memory image to RGB8 (see the file comment for the conversions). `origin` names the
// image in error messages.
inline rgb8_image decode_image(std::span<const std::uint8_t> bytes, const decode_limits& limits = {},
                               std::string_view origin = "image") {
    const std::string where(origin);
    const image_header h = read_header(bytes, limits, origin);
    const std::uint64_t pixels = static_cast<std::uint64_t>(h.width) * static_cast<std::uint64_t>(h.height);
    std::span<const std::uint8_t> exif;
    rgb8_image out;
    if (h.format == image_format::webp) {
        WebPBitstreamFeatures features;
        if (WebPGetFeatures(bytes.data(), bytes.size(), &features) != VP8_STATUS_OK)
            throw format_error(where + ": invalid WebP bitstream");
        if (features.has_animation) throw format_error(where + ": animated WebP is not supported");
        std::vector<std::uint8_t> rgba(static_cast<std::size_t>(pixels) * 4);
        if (!WebPDecodeRGBAInto(bytes.data(), bytes.size(), rgba.data(), rgba.size(), h.width * 4))
            throw format_error(where + ": corrupt WebP image data");
        out = detail::rgba_to_rgb(rgba.data(), h.width, h.height, limits.hf_path);
        exif = detail::webp_exif(bytes);
    } else if (h.format == image_format::jpeg) {
        const detail::jpeg_markers m = detail::scan_jpeg(bytes);
        if (m.scans > limits.max_jpeg_scans)
            throw image_limit_error(where + ": JPEG has " + std::to_string(m.scans) + " scans, over the limit of " +
                                    std::to_string(limits.max_jpeg_scans));
        if (!m.complete) throw format_error(where + ": truncated JPEG (no end-of-image marker)");
        exif = m.exif;
        detail::jpeg_raw r;
        // libjpeg's working memory (a progressive image keeps all its coefficients): as stb's budget.
        const std::size_t budget = static_cast<std::size_t>(40 * pixels) + 2 * bytes.size() + (std::size_t{1} << 20);
        if (!detail::jpeg_decode_raw(bytes.data(), bytes.size(), false, budget, r))
            throw format_error(where + ": corrupt JPEG image data (" + r.error + ")");
        const std::unique_ptr<unsigned char, decltype(&std::free)> rgb(r.rgb, &std::free);
        if (r.width != h.width || r.height != h.height)
            throw format_error(where + ": decoded size differs from the declared one");
        const std::size_t n = static_cast<std::size_t>(r.width) * static_cast<std::size_t>(r.height) * 3;
        out = rgb8_image{r.width, r.height, std::vector<std::uint8_t>(rgb.get(), rgb.get() + n)};
    } else {
        if (h.format == image_format::png) exif = detail::png_exif(bytes);
        const detail::stb_budget budget(pixels, bytes.size());
        const int len = static_cast<int>(bytes.size());
        int w = 0, h2 = 0, comp = 0;
        if (h.format == image_format::png && stbi_is_16_bit_from_memory(bytes.data(), len) &&
            stbi_info_from_memory(bytes.data(), len, &w, &h2, &comp) && comp == 1) {
            // 16-bit gray: PIL's I;16 -> RGB clamps (see the file comment).
            std::unique_ptr<stbi_us, detail::stbi_deleter> g(stbi_load_16_from_memory(bytes.data(), len, &w, &h2, &comp, 1));
            if (!g) throw format_error(where + ": corrupt PNG image data (" + stbi_failure_reason() + ")");
            out = rgb8_image{w, h2, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h2 * 3)};
            for (std::size_t i = 0; i < static_cast<std::size_t>(w) * h2; ++i)
                std::memset(&out.pixels[i * 3], std::min<int>(g.get()[i], 255), 3);
        } else {
            std::unique_ptr<stbi_uc, detail::stbi_deleter> rgba(stbi_load_from_memory(bytes.data(), len, &w, &h2, &comp, 4));
            if (!rgba)
                throw format_error(where + ": corrupt " + std::string(name_of(h.format)) + " image data (" +
                                   stbi_failure_reason() + ")");
            out = detail::rgba_to_rgb(rgba.get(), w, h2, limits.hf_path);
        }
        if (w != h.width || h2 != h.height)
            throw format_error(where + ": decoded size " + std::to_string(w) + "x" + std::to_string(h2) +
                               " differs from the declared " + std::to_string(h.width) + "x" + std::to_string(h.height));
    }
    if (limits.hf_path == hf_image_path::string) out = detail::apply_orientation(out, detail::exif_orientation(exif));
    return out;
}

// The encoded bytes of a source: a `data:` URL's payload or a file's contents (at most
// limits.max_file_bytes, checked before reading). URLs of any other scheme are refused.
inline std::vector<std::uint8_t> read_image_source(std::string_view source, const decode_limits& limits = {}) {
    if (source.empty()) throw format_error("empty image source");
    if (const auto scheme = url_scheme(source)) {
        if (*scheme == "data") return parse_data_url(source, limits.max_file_bytes).bytes;
        throw format_error("image source \"" + detail::excerpt(source) + "\": " + *scheme +
                           ": URLs are not fetched (only file paths and data:image/...;base64 URLs are accepted)");
    }
    const std::filesystem::path path(source);
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::status(path, ec))) throw io_error(path.string() + ": cannot open image file (no such file)");
    // Opened once (O_NONBLOCK: a FIFO cannot block), checked on the descriptor (a regular file, its size
    // within the cap), read from that descriptor: vlgraph/io/file.hpp's rules, with the image limit's error type.
    const file_descriptor fd(path);
    if (fd.size() > limits.max_file_bytes)
        throw image_limit_error(path.string() + ": " + std::to_string(fd.size()) + " bytes exceeds the limit of " +
                                std::to_string(limits.max_file_bytes) + " bytes");
    std::vector<std::uint8_t> bytes(static_cast<std::size_t>(fd.size()));
    fd.read_exact(bytes.data(), bytes.size(), 0);
    return bytes;
}

// Reads and decodes a file path or data URL.
inline rgb8_image load_image(std::string_view source, const decode_limits& limits = {}) {
    const std::vector<std::uint8_t> bytes = read_image_source(source, limits);
    return decode_image(bytes, limits, url_scheme(source) ? std::string_view("data URL") : source);
}

}  // namespace vl::image
