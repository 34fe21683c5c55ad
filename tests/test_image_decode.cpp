// Image input: decoding, data URLs, refused URLs and the bad-input catalogue of
// ../shared/docs/bad-inputs.md (images, data URL and URL parts). Bad files are generated here at run
// time (stb_image_write for valid PNG/JPEG/BMP, byte surgery for the broken ones), so nothing binary
// is committed; every case asserts the exception type and a message fragment.
#define BOOST_TEST_MODULE image_decode
#include <boost/test/unit_test.hpp>

#include <vlgraph/image/decode.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

namespace {

using bytes = std::vector<std::uint8_t>;
namespace img = vl::image;

const std::string data_dir = VLGRAPH_TEST_DATA;

void sink(void* ctx, void* data, int size) {
    auto* out = static_cast<bytes*>(ctx);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
}

// A w×h RGB test pattern with `comp` channels.
bytes pattern(int w, int h, int comp) {
    bytes px(static_cast<std::size_t>(w) * h * comp);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>((i * 37 + i / 7) & 255);
    return px;
}
bytes png_of(int w, int h, int comp, const bytes& px) {
    bytes out;
    stbi_write_png_to_func(sink, &out, w, h, comp, px.data(), w * comp);
    return out;
}
bytes jpeg_of(int w, int h) {
    bytes out;
    const bytes px = pattern(w, h, 3);
    stbi_write_jpg_to_func(sink, &out, w, h, 3, px.data(), 90);
    return out;
}

std::uint32_t crc32(const std::uint8_t* p, std::size_t n) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
        c ^= p[i];
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}
void put_be32(std::uint8_t* p, std::uint32_t v) {
    for (int k = 0; k < 4; ++k) p[k] = static_cast<std::uint8_t>(v >> (24 - 8 * k));
}
// Offset of the first FF <marker> of a JPEG (past SOI).
std::size_t marker_at(const bytes& jpg, std::uint8_t marker) {
    for (std::size_t i = 2; i + 1 < jpg.size(); ++i)
        if (jpg[i] == 0xFF && jpg[i + 1] == marker) return i;
    BOOST_FAIL("no JPEG marker FF " << int{marker});
    return 0;
}

bytes png_chunk(const char* type, const bytes& data) {
    bytes c(12 + data.size());
    put_be32(c.data(), static_cast<std::uint32_t>(data.size()));
    std::memcpy(c.data() + 4, type, 4);
    std::copy(data.begin(), data.end(), c.begin() + 8);
    put_be32(c.data() + 8 + data.size(), crc32(c.data() + 4, data.size() + 4));
    return c;
}
// A PNG made of a signature, an IHDR declaring w×h (bit depth `depth`, colour type `ctype`), `extra`
// chunks and one IDAT.
bytes png_raw(std::uint32_t w, std::uint32_t h, std::uint8_t ctype, const bytes& idat, const bytes& extra = {},
              std::uint8_t depth = 8) {
    bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    bytes ihdr(13, 0);
    put_be32(ihdr.data(), w);
    put_be32(ihdr.data() + 4, h);
    ihdr[8] = depth;
    ihdr[9] = ctype;
    for (const bytes& c : {png_chunk("IHDR", ihdr), extra, png_chunk("IDAT", idat), png_chunk("IEND", {})})
        b.insert(b.end(), c.begin(), c.end());
    return b;
}
bytes zlib_of(const bytes& raw) {
    int n = 0;
    unsigned char* z = stbi_zlib_compress(const_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size()), &n, 8);
    bytes out(z, z + n);
    STBIW_FREE(z);
    return out;
}

// A GIF with a 4-colour global palette (red, green, blue, white) and one 2×2 frame per entry of
// `frames` (palette indices). LZW with a clear code before every pixel keeps every code 3 bits wide.
bytes gif_of(const std::vector<std::array<std::uint8_t, 4>>& frames) {
    bytes g = {'G', 'I', 'F', '8', '9', 'a', 2, 0, 2, 0, 0x81, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    for (const auto& f : frames) {
        g.insert(g.end(), {0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2});  // image descriptor, LZW minimum code size 2
        std::uint32_t acc = 0;
        int nbits = 0;
        bytes data;
        auto code = [&](std::uint32_t c) {
            acc |= c << nbits;
            nbits += 3;
            while (nbits >= 8) {
                data.push_back(static_cast<std::uint8_t>(acc));
                acc >>= 8;
                nbits -= 8;
            }
        };
        for (std::uint8_t p : f) {
            code(4);  // clear
            code(p);
        }
        code(5);  // end of information
        if (nbits) data.push_back(static_cast<std::uint8_t>(acc));
        g.push_back(static_cast<std::uint8_t>(data.size()));
        g.insert(g.end(), data.begin(), data.end());
        g.push_back(0);
    }
    g.push_back(0x3B);
    return g;
}

std::string base64(const bytes& b) { return img::base64_encode(b); }

// A temporary directory for files that must exist on disk.
struct temp_dir {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("vlgraph_image_test_" + std::to_string(std::hash<std::string>{}(__FILE__) ^ ::getpid()));
    temp_dir() { std::filesystem::create_directories(path); }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const bytes& b) const {
        const auto p = path / name;
        std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        return p.string();
    }
};

template <class E, class F>
void check_throws(F&& f, const std::string& fragment) {
    BOOST_CHECK_EXCEPTION(f(), E, [&](const E& e) {
        const bool ok = std::string(e.what()).find(fragment) != std::string::npos;
        if (!ok) BOOST_TEST_MESSAGE("message was: " << e.what());
        return ok;
    });
}

img::rgb8_image decode(const bytes& b, const img::decode_limits& l = {}) { return img::decode_image(b, l, "test"); }

}  // namespace

BOOST_AUTO_TEST_CASE(decodes_every_format) {
    const auto png = img::load_image(data_dir + "/images/img_b_96x64.png");
    BOOST_CHECK(png.width == 64 && png.height == 96 && png.pixels.size() == 64u * 96 * 3);
    BOOST_CHECK(img::load_image(data_dir + "/images/img_b_96x64.webp").pixels == png.pixels);
    const bytes px = pattern(5, 3, 3);
    bytes bmp;
    stbi_write_bmp_to_func(sink, &bmp, 5, 3, 3, px.data());
    BOOST_CHECK(decode(bmp).pixels == px);
    BOOST_CHECK(decode(png_of(5, 3, 3, px)).pixels == px);
    const auto j = decode(jpeg_of(16, 8));
    BOOST_CHECK(j.width == 16 && j.height == 8);
}

BOOST_AUTO_TEST_CASE(gray_and_alpha_promotion) {
    const bytes gray = {0, 100, 255, 7};
    BOOST_CHECK(decode(png_of(2, 2, 1, gray)).pixels == (bytes{0, 0, 0, 100, 100, 100, 255, 255, 255, 7, 7, 7}));
    // HF's PIL path: gray+alpha and RGBA composite on white (values from Pillow 13's alpha_composite)
    img::decode_limits pil;
    pil.hf_path = img::hf_image_path::pil;
    BOOST_CHECK(decode(png_of(2, 1, 2, {200, 128, 3, 77}), pil).pixels == (bytes{227, 227, 227, 179, 179, 179}));
    BOOST_CHECK(decode(png_of(1, 1, 4, {17, 0, 100, 254}), pil).pixels == (bytes{18, 1, 101}));
    // HF's string path (the default): load_image's convert("RGB") drops the alpha, keeping the stored colours
    BOOST_CHECK(decode(png_of(2, 1, 2, {200, 128, 3, 77})).pixels == (bytes{200, 200, 200, 3, 3, 3}));
    BOOST_CHECK(decode(png_of(1, 1, 4, {17, 0, 100, 0})).pixels == (bytes{17, 0, 100}));
}

// PIL opens a 16-bit gray PNG as I;16 and convert("RGB") clamps each sample to 255.
BOOST_AUTO_TEST_CASE(sixteen_bit_gray_clamps_like_pil) {
    const bytes raw = {0, 0, 0, 0, 200, 1000 >> 8, 1000 & 255};  // filter byte, then big-endian samples 0, 200, 1000
    const bytes b = png_raw(3, 1, 0, zlib_of(raw), {}, 16);
    BOOST_CHECK(decode(b).pixels == (bytes{0, 0, 0, 200, 200, 200, 255, 255, 255}));
}

BOOST_AUTO_TEST_CASE(gif_first_frame_of_many) {
    const auto im = decode(gif_of({{0, 1, 1, 0}, {2, 2, 2, 2}}));
    BOOST_CHECK(im.width == 2 && im.height == 2);
    BOOST_CHECK(im.pixels == (bytes{255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 0}));
}

// PNG eXIf orientation 6 (rotate 90° clockwise), as PIL's exif_transpose; off when disabled.
BOOST_AUTO_TEST_CASE(exif_orientation) {
    const bytes px = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6};  // 3 wide, 2 high
    bytes raw;
    for (int y = 0; y < 2; ++y) {
        raw.push_back(0);
        raw.insert(raw.end(), px.begin() + y * 9, px.begin() + y * 9 + 9);
    }
    const bytes exif = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0};
    const bytes file = png_raw(3, 2, 2, zlib_of(raw), png_chunk("eXIf", exif));
    const auto turned = decode(file);
    BOOST_CHECK(turned.width == 2 && turned.height == 3);
    // rows of the rotated image: (4 1), (5 2), (6 3)
    BOOST_CHECK(turned.pixels == (bytes{4, 4, 4, 1, 1, 1, 5, 5, 5, 2, 2, 2, 6, 6, 6, 3, 3, 3}));
    img::decode_limits as_stored;
    as_stored.hf_path = img::hf_image_path::pil;  // a PIL image handed to HF's processor is used as stored
    BOOST_CHECK(decode(file, as_stored).pixels == px);
}

BOOST_AUTO_TEST_CASE(empty_and_unrecognised) {
    temp_dir d;
    check_throws<vl::format_error>([&] { img::load_image(d.write("empty.png", {})); }, "empty image (0 bytes)");
    check_throws<vl::format_error>([&] { img::load_image(d.write("text.png", {'h', 'e', 'l', 'l', 'o'})); },
                                   "not a PNG, JPEG, GIF, BMP or WebP");
    check_throws<vl::io_error>([&] { img::load_image((d.path / "missing.png").string()); }, "no such file");
    check_throws<vl::io_error>([&] { img::load_image(d.path.string()); }, "not a regular file");
}

// The magic bytes decide: a PNG named .jpg decodes as the PNG it is.
BOOST_AUTO_TEST_CASE(extension_mismatch_decodes_by_magic) {
    temp_dir d;
    const bytes px = pattern(4, 4, 3);
    BOOST_CHECK(img::load_image(d.write("really_png.jpg", png_of(4, 4, 3, px))).pixels == px);
}

BOOST_AUTO_TEST_CASE(truncated_files) {
    const bytes png = png_of(32, 32, 3, pattern(32, 32, 3));
    check_throws<vl::format_error>([&] { decode(bytes(png.begin(), png.begin() + png.size() / 2)); }, "corrupt PNG");
    check_throws<vl::format_error>([&] { decode(bytes(png.begin(), png.begin() + 20)); }, "invalid PNG header");
    const bytes jpg = jpeg_of(32, 32);
    check_throws<vl::format_error>([&] { decode(bytes(jpg.begin(), jpg.begin() + jpg.size() * 2 / 3)); }, "truncated JPEG");
}

BOOST_AUTO_TEST_CASE(corrupt_huffman_table) {
    bytes jpg = jpeg_of(16, 16);
    const std::size_t dht = marker_at(jpg, 0xC4);
    for (int k = 0; k < 16; ++k) jpg[dht + 5 + k] = 0xFF;  // code counts: far more codes than 16 bits allow
    check_throws<vl::format_error>([&] { decode(jpg); }, "JPEG");
}

// Issue 13 B1: Debian's stb_image 2.27 does not check that a Huffman table's code counts sum to <= 256 and
// writes past its arrays (UBSan/ASan). 282 bytes reproduce it; the DHT is checked before stb sees it.
// B2: a zero-length first IDAT made stb memcpy into a null pointer (57 bytes). Both are refused up front;
// the reproducers are in the image fuzz corpus.
BOOST_AUTO_TEST_CASE(stb_undefined_behaviour_reproducers_are_refused) {
    const std::filesystem::path corpus = std::filesystem::path(VLGRAPH_SOURCE_DIR) / "tests/fuzz/corpus/image";
    const auto read = [](const std::filesystem::path& p) {
        std::ifstream in(p, std::ios::binary);
        return bytes(std::istreambuf_iterator<char>(in), {});
    };
    const bytes jpg = read(corpus / "bad_huffman_counts_over_256.jpg");
    BOOST_REQUIRE_EQUAL(jpg.size(), 282u);
    check_throws<vl::format_error>([&] { decode(jpg); }, "Huffman table has 257 codes (at most 256)");
    check_throws<vl::format_error>([&] { (void)img::read_header(jpg, {}); }, "Huffman table has 257 codes");
    const bytes png = read(corpus / "bad_empty_first_idat.png");
    BOOST_REQUIRE_EQUAL(png.size(), 57u);
    check_throws<vl::format_error>([&] { decode(png); }, "empty IDAT chunk before any image data");
    // Every bad_* file of the corpus is a clean vl::format_error.
    for (const auto& item : std::filesystem::directory_iterator(corpus))
        if (item.path().filename().string().starts_with("bad_"))
            BOOST_CHECK_THROW(decode(read(item.path())), vl::format_error);
    // Valid images keep decoding (their DHTs pass the check).
    BOOST_TEST(decode(jpeg_of(16, 16)).width == 16);
    BOOST_TEST(decode(png_of(3, 2, 3, pattern(3, 2, 3))).width == 3);
}

// JPEG goes through libjpeg-turbo: its fatal errors come back as vl::format_error (error manager, no exit()).
BOOST_AUTO_TEST_CASE(libjpeg_errors_are_format_errors) {
    const bytes jpg = jpeg_of(16, 16);
    const std::size_t sof = marker_at(jpg, 0xC0);
    bytes bad_precision = jpg;
    bad_precision[sof + 4] = 12;  // 12-bit samples: not in an 8-bit libjpeg
    check_throws<vl::format_error>([&] { decode(bad_precision); }, "JPEG");
    bytes bad_components = jpg;
    bad_components[sof + 9] = 0;  // no components
    check_throws<vl::format_error>([&] { decode(bad_components); }, "JPEG");
    bytes garbage_scan = jpg;
    for (std::size_t i = garbage_scan.size() - 40; i < garbage_scan.size() - 2; ++i) garbage_scan[i] = 0x00;  // corrupt entropy data
    BOOST_CHECK_NO_THROW(decode(garbage_scan));  // libjpeg decodes what it can: a warning, not an error
}

// Bytes of `im` that differ from a golden uint8 [H, W, 3] (the sizes must agree).
std::size_t differing_bytes(const img::rgb8_image& im, const vl::tensor& expected) {
    BOOST_TEST_REQUIRE(im.height == expected.extent(0));
    BOOST_TEST_REQUIRE(im.width == expected.extent(1));
    const auto* want = expected.data<std::uint8_t>();
    std::size_t differing = 0;
    for (std::size_t i = 0; i < im.pixels.size(); ++i) differing += im.pixels[i] != want[i];
    return differing;
}

// Every kind of JPEG HF meets decodes to exactly the pixels of transformers' load_image (Pillow: open,
// exif_transpose, convert("RGB")): 4:4:4, 4:2:2, 4:2:0 at an odd size (the upsamplers' right and bottom
// edges), progressive, optimised tables with restart markers, gray, CMYK (Adobe polarity, PIL's
// conversion) and three EXIF orientations. Goldens: tools/reference/dump_jpeg_goldens.py.
BOOST_AUTO_TEST_CASE(jpeg_kinds_match_pil_exactly) {
    const std::filesystem::path data(VLGRAPH_TEST_DATA);
    const vl::safetensors_file golden = vl::safetensors_file::open(data / "golden/jpeg_pil.safetensors");
    std::size_t checked = 0;
    for (const auto& info : golden.tensors()) {
        BOOST_TEST_CONTEXT("jpeg " << info.name) {
            std::ifstream in(data / "images/jpeg" / (info.name + ".jpg"), std::ios::binary);
            const bytes file(std::istreambuf_iterator<char>(in), {});
            BOOST_TEST(differing_bytes(decode(file), golden.get(info.name)) == 0u);
            ++checked;
        }
    }
    BOOST_TEST(checked == 10u);
}

// HF's two image paths disagree (image.hpp: hf_image_path): load_image on a path applies the EXIF orientation
// and drops alpha; a PIL image given to the processor composites alpha on white and ignores EXIF. Each mode
// reproduces its path exactly, on images with alpha and orientation together (RGBA, LA, palette + tRNS, and
// EXIF JPEGs). Goldens from transformers itself: tools/reference/dump_image_paths.py.
BOOST_AUTO_TEST_CASE(hf_string_and_pil_paths_match_transformers_exactly) {
    const std::filesystem::path data(VLGRAPH_TEST_DATA);
    const vl::safetensors_file golden = vl::safetensors_file::open(data / "golden/image_paths.safetensors");
    std::size_t checked = 0;
    for (const auto& info : golden.tensors()) {
        BOOST_TEST_CONTEXT(info.name) {
            const bool pil = info.name.starts_with("pil.");
            img::decode_limits limits;
            limits.hf_path = pil ? img::hf_image_path::pil : img::hf_image_path::string;
            const img::rgb8_image im = img::load_image((data / "images" / info.name.substr(info.name.find('.') + 1)).string(), limits);
            BOOST_TEST(differing_bytes(im, golden.get(info.name)) == 0u);
            ++checked;
        }
    }
    BOOST_TEST(checked == 12u);
}

// Found by fuzz_image: a CMYK JPEG whose error comes after the last row (in jpeg_finish_decompress) freed
// the CMYK row buffer twice (ASan: double free). Now a clean vl::format_error.
BOOST_AUTO_TEST_CASE(cmyk_error_after_the_last_row) {
    std::ifstream in(std::filesystem::path(VLGRAPH_SOURCE_DIR) / "tests/fuzz/corpus/image/bad_cmyk_error_after_last_row.jpg", std::ios::binary);
    const bytes file(std::istreambuf_iterator<char>(in), {});
    BOOST_REQUIRE_EQUAL(file.size(), 985u);
    BOOST_CHECK_THROW(decode(file), vl::format_error);
}

BOOST_AUTO_TEST_CASE(jpeg_scan_cap) {
    img::decode_limits l;
    l.max_jpeg_scans = 0;
    check_throws<img::image_limit_error>([&] { decode(jpeg_of(8, 8), l); }, "scans, over the limit of 0");
}

BOOST_AUTO_TEST_CASE(degenerate_sizes) {
    // 1x1 decodes and preprocesses (HF upscales it to the minimum area)
    const auto dot = decode(png_of(1, 1, 3, {9, 8, 7}));
    BOOST_CHECK(dot.width == 1 && dot.height == 1);
    const auto p = vl::qwen36::preprocess({dot}, vl::qwen36::load_preprocessor_config(data_dir + "/tiny-qwen36"));
    BOOST_CHECK_EQUAL(p.per_image.at(0).tokens, 4);
    // 1x200 is HF's limit; 1x201 is refused before decoding
    BOOST_CHECK_EQUAL(decode(png_of(200, 1, 3, pattern(200, 1, 3))).width, 200);
    check_throws<img::image_limit_error>([&] { decode(png_of(201, 1, 3, pattern(201, 1, 3))); }, "aspect ratio");
}

// Headers declaring huge rasters are refused from the header alone (no IDAT / pixel data needed).
BOOST_AUTO_TEST_CASE(huge_declared_dimensions) {
    check_throws<img::image_limit_error>([&] { decode(png_raw(65535, 65535, 2, {})); },
                                         "65535x65535 = 4294836225 pixels, over the limit");
    bytes bmp = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0,
                 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    check_throws<img::image_limit_error>([&] { decode(bmp); }, "over the limit");
}

BOOST_AUTO_TEST_CASE(zlib_bombs) {
    // a few KB declaring 20000x20000: refused by the pixel cap
    const bytes zeros(8u << 20, 0);
    const bytes z = zlib_of(zeros);
    BOOST_REQUIRE_LT(z.size(), 128u * 1024);
    check_throws<img::image_limit_error>([&] { decode(png_raw(20000, 20000, 2, z)); }, "pixels, over the limit");
    // a 64x64 header over 8 MiB of zlib output: the allocation budget stops stb long before
    check_throws<vl::format_error>([&] { decode(png_raw(64, 64, 2, z)); }, "corrupt PNG");
}

BOOST_AUTO_TEST_CASE(file_size_cap) {
    temp_dir d;
    img::decode_limits l;
    l.max_file_bytes = 100;
    const std::string f = d.write("big.png", png_of(32, 32, 3, pattern(32, 32, 3)));
    check_throws<img::image_limit_error>([&] { img::load_image(f, l); }, "exceeds the limit of 100 bytes");
}

BOOST_AUTO_TEST_CASE(data_urls) {
    const bytes px = pattern(3, 2, 3);
    const bytes png = png_of(3, 2, 3, px);
    BOOST_CHECK(img::load_image("data:image/png;base64," + base64(png)).pixels == px);
    BOOST_CHECK(img::load_image("DATA:Image/PNG;BASE64," + base64(png)).pixels == px);
    // the payload's magic decides, the MIME type only has to be an image type we decode
    BOOST_CHECK(img::load_image("data:image/jpeg;base64," + base64(png)).pixels == px);
    const std::string good = base64(png);
    check_throws<vl::format_error>([&] { img::load_image("data:image/svg+xml;base64," + good); }, "media type \"image/svg+xml\"");
    check_throws<vl::format_error>([&] { img::load_image("data:text/plain;base64," + good); }, "is not one of image/png");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png," + good); }, "not base64-encoded");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;charset=x;base64," + good); }, "media type");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64"); }, "no ','");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,"); }, "empty base64");
    std::string bad = good;
    bad[5] = '*';
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64," + bad); }, "invalid base64 character '*' at offset 5");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64," + good.substr(0, good.size() - 1)); }, "not a multiple of 4");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,QQ=A"); }, "padding before the end");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,Q==="); }, "too much base64 padding");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,QR=="); }, "non-canonical");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,iVBO\nRw0"); }, "byte 10");
    check_throws<vl::format_error>([&] { img::load_image("data:image/png;base64,aGVsbG8h"); }, "not a PNG, JPEG");
    img::decode_limits l;
    l.max_file_bytes = 10;
    check_throws<img::image_limit_error>([&] { img::load_image("data:image/png;base64," + good, l); }, "limit");
}

BOOST_AUTO_TEST_CASE(urls_are_refused) {
    for (const char* url : {"http://127.0.0.1/x.png", "https://example.com/a.jpg", "file:///etc/passwd", "gopher://[::1]/",
                            "http://169.254.169.254/latest", "HTTP://2130706433/", "ftp://x/y.png", "file:/etc/passwd"})
        check_throws<vl::format_error>([&] { img::load_image(url); }, "URLs are not fetched");
}
