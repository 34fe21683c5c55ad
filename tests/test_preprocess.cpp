// Qwen3.6 image preprocessing against HF transformers 5.23 / torchvision 0.29 goldens
// (tests/data/golden/preprocess.safetensors, tools/reference/README.md).
//
// Agreement reached: every PNG / WebP golden (single, multi-image, upscale 125x94 -> 128x96 and the
// antialiased downscales) is bit-exact — the resize reproduces torch's fixed-point uint8 kernel
// (resize.hpp) and the normalisation its f32 operations. The JPEG golden differs only through the
// decoder: stb_image's IDCT/colour conversion vs PIL's libjpeg-turbo, measured and bounded below.
#define BOOST_TEST_MODULE preprocess
#include <boost/test/unit_test.hpp>

#include <vlgraph/image/decode.hpp>
#include <vlgraph/image/resize.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

const std::string data_dir = VLGRAPH_TEST_DATA;

const vl::safetensors_file& golden() {
    static const vl::safetensors_file f = vl::safetensors_file::open(data_dir + "/golden/preprocess.safetensors");
    return f;
}

vl::qwen36::preprocessor_config tiny_config() {
    return vl::qwen36::load_preprocessor_config(data_dir + "/tiny-qwen36");
}

// The goldens are from PIL images handed to HF's processor (tools/reference/dump_goldens.py opens them with
// Image.open), so they decode the PIL way: alpha composited on white (image.hpp: hf_image_path).
vl::image::rgb8_image load(const std::string& name) {
    vl::image::decode_limits pil;
    pil.hf_path = vl::image::hf_image_path::pil;
    return vl::image::load_image(data_dir + "/images/" + name, pil);
}

std::vector<std::int64_t> i64s(const vl::tensor& t) {
    const std::int64_t* p = t.data<std::int64_t>();
    return {p, p + t.numel()};
}

// Max |code difference| between our f32 pixel values and a golden u8 tensor, requiring every value
// of ours to be exactly an HF code value (u8 − 127.5) / 127.5.
int max_code_diff(const vl::tensor& pv, const std::string& golden_name) {
    const vl::tensor g = golden().load(golden_name, vl::dtype::u8);
    BOOST_REQUIRE(pv.shape() == g.shape());
    const float* ours = pv.data<float>();
    const std::uint8_t* ref = g.data<std::uint8_t>();
    int worst = 0;
    for (vl::index_t i = 0; i < pv.numel(); ++i) {
        const double code = std::round(static_cast<double>(ours[i]) * 127.5 + 127.5);
        BOOST_REQUIRE(code >= 0 && code <= 255);
        BOOST_REQUIRE_EQUAL(ours[i], (static_cast<float>(code) - 127.5f) / 127.5f);
        worst = std::max(worst, std::abs(static_cast<int>(code) - static_cast<int>(ref[i])));
    }
    return worst;
}

std::uint64_t fnv1a(const std::vector<std::uint8_t>& b) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::uint8_t v : b) h = (h ^ v) * 0x100000001b3ull;
    return h;
}

}  // namespace

BOOST_AUTO_TEST_CASE(smart_resize_matches_hf_tables) {
    const struct { const char* name; std::int64_t min, max; } bounds[] = {{"tiny", 4096, 262144}, {"qwen", 65536, 16777216}};
    for (const auto& b : bounds) {
        const auto in = i64s(golden().load(std::string("smart_resize.") + b.name + ".in_hw", vl::dtype::i64));
        const auto out = i64s(golden().load(std::string("smart_resize.") + b.name + ".out_hw", vl::dtype::i64));
        BOOST_REQUIRE_EQUAL(in.size(), 110u);
        int refused = 0;
        for (std::size_t r = 0; r < in.size(); r += 2) {
            BOOST_TEST_CONTEXT(b.name << " " << in[r] << "x" << in[r + 1]) {
                if (out[r] == -1) {
                    ++refused;
                    BOOST_CHECK_EXCEPTION(vl::qwen36::smart_resize(in[r], in[r + 1], 32, b.min, b.max),
                                          vl::image::image_limit_error, [](const vl::error& e) {
                                              return std::string(e.what()).find("aspect ratio must be smaller than 200") != std::string::npos;
                                          });
                } else {
                    const auto s = vl::qwen36::smart_resize(in[r], in[r + 1], 32, b.min, b.max);
                    BOOST_CHECK_EQUAL(s.height, out[r]);
                    BOOST_CHECK_EQUAL(s.width, out[r + 1]);
                }
            }
        }
        BOOST_CHECK_GT(refused, 0);  // the tables exercise the aspect-ratio rule
    }
    // spec §3 examples: banker's rounding (720/32 = 22.5 -> 22) and the clamps
    const auto s = vl::qwen36::smart_resize(720, 1280, 32, 65536, 16777216);
    BOOST_CHECK(s.height == 704 && s.width == 1280);
    const auto t = vl::qwen36::smart_resize(4000, 3000, 32, 65536, 16777216);
    BOOST_CHECK(t.height == 4000 && t.width == 3008);
}

BOOST_AUTO_TEST_CASE(golden_single_images_exact) {
    const auto cfg = tiny_config();
    const char* files[] = {"img_a_128x160.png", "img_b_96x64.png", "img_c_125x94.png", "img_d_rgba_64x96.png",
                           "img_e_gray_96x96.png"};
    for (const char* f : files) {
        BOOST_TEST_CONTEXT(f) {
            std::string key = f;
            key[key.size() - 4] = '_';
            const auto p = vl::qwen36::preprocess({load(f)}, cfg);
            BOOST_CHECK(i64s(p.image_grid_thw) == i64s(golden().load(key + ".image_grid_thw", vl::dtype::i64)));
            const int diff = max_code_diff(p.pixel_values, key + ".pixel_values_u8");
            BOOST_TEST_MESSAGE(f << ": max |u8 code difference| vs HF = " << diff);
            BOOST_CHECK_EQUAL(diff, 0);
            const auto& info = p.per_image.at(0);
            BOOST_CHECK_EQUAL(info.tokens, info.grid_thw[1] * info.grid_thw[2] / 4);
        }
    }
    // img_c needs the resize: 125x94 -> 128x96, 8x6 grid, 12 tokens
    const auto c = vl::qwen36::preprocess({load("img_c_125x94.png")}, cfg).per_image.at(0);
    BOOST_CHECK(c.height == 125 && c.width == 94 && c.resized_height == 128 && c.resized_width == 96 && c.tokens == 12);
}

BOOST_AUTO_TEST_CASE(webp_lossless_equals_png) {
    const auto cfg = tiny_config();
    const auto png = load("img_b_96x64.png");
    const auto webp = load("img_b_96x64.webp");
    BOOST_CHECK(webp.pixels == png.pixels);
    const auto p = vl::qwen36::preprocess({webp}, cfg);
    BOOST_CHECK(i64s(p.image_grid_thw) == i64s(golden().load("img_b_96x64_webp.image_grid_thw", vl::dtype::i64)));
    BOOST_CHECK_EQUAL(max_code_diff(p.pixel_values, "img_b_96x64_png.pixel_values_u8"), 0);
}

BOOST_AUTO_TEST_CASE(multi_image_calls) {
    const auto cfg = tiny_config();
    const auto ab = vl::qwen36::preprocess({load("img_a_128x160.png"), load("img_b_96x64.png")}, cfg);
    BOOST_CHECK(i64s(ab.image_grid_thw) == i64s(golden().load("multi_ab.image_grid_thw", vl::dtype::i64)));
    BOOST_CHECK_EQUAL(max_code_diff(ab.pixel_values.slice(0, 0, 80), "img_a_128x160_png.pixel_values_u8"), 0);
    BOOST_CHECK_EQUAL(max_code_diff(ab.pixel_values.slice(0, 80, 104).contiguous(), "img_b_96x64_png.pixel_values_u8"), 0);
    const auto cde = vl::qwen36::preprocess(
        {load("img_c_125x94.png"), load("img_d_rgba_64x96.png"), load("img_e_gray_96x96.png")}, cfg);
    BOOST_CHECK(i64s(cde.image_grid_thw) == i64s(golden().load("multi_cde.image_grid_thw", vl::dtype::i64)));
    BOOST_CHECK_EQUAL(max_code_diff(cde.pixel_values.slice(0, 48, 72).contiguous(), "img_d_rgba_64x96_png.pixel_values_u8"), 0);
    BOOST_REQUIRE_EQUAL(cde.per_image.size(), 3u);
    BOOST_CHECK_EQUAL(cde.pixel_values.extent(0), 48 + 24 + 36);
}

BOOST_AUTO_TEST_CASE(antialiased_downscale_exact) {
    auto cfg = tiny_config();
    cfg.min_pixels = 1024;  // the golden's call-time size override
    cfg.max_pixels = 8192;
    for (const char* f : {"img_a_128x160.png", "img_c_125x94.png"}) {
        BOOST_TEST_CONTEXT(f) {
            std::string key = std::string("down_") + f;
            key[key.size() - 4] = '_';
            const auto p = vl::qwen36::preprocess({load(f)}, cfg);
            BOOST_CHECK(i64s(p.image_grid_thw) == i64s(golden().load(key + ".image_grid_thw", vl::dtype::i64)));
            BOOST_CHECK_EQUAL(max_code_diff(p.pixel_values, key + ".pixel_values_u8"), 0);
        }
    }
}

// FNV-1a of torch's output (tvF.resize(uint8 CHW, BICUBIC, antialias=True), torch 2.15) for a
// procedural pattern, so up/downscales beyond the goldens (1x1 up, 2-wide, 10x shrink) are pinned too.
BOOST_AUTO_TEST_CASE(resize_matches_torch_uint8_kernel) {
    auto pattern = [](int h, int w) {
        vl::image::rgb8_image im{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3)};
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int c = 0; c < 3; ++c)
                    im.pixels[(static_cast<std::size_t>(y) * w + x) * 3 + c] =
                        static_cast<std::uint8_t>((x * 7 + y * 13 + c * 50 + (x * y) % 31 + ((x / 3 + y / 5) % 2) * 90) & 255);
        return im;
    };
    const struct { int H, W, h, w; std::uint64_t hash; } cases[] = {
        {37, 53, 64, 96, 0x2d09f616c640a64cull},   {300, 17, 32, 32, 0x44ba2fcc46819f16ull},
        {1, 1, 64, 64, 0x7d8cedb672eb6325ull},     {513, 511, 256, 256, 0xd7a5d5167e719209ull},
        {125, 94, 128, 96, 0x74835e561792cb04ull}, {97, 1000, 32, 320, 0x0e36c96928b293d4ull},
        {64, 64, 64, 128, 0x576b2566de714bbcull},  {200, 2, 100, 1, 0xda42c28ffb762e64ull}};
    for (const auto& c : cases) {
        BOOST_TEST_CONTEXT(c.H << "x" << c.W << " -> " << c.h << "x" << c.w) {
            const auto out = vl::image::resize_bicubic_aa(pattern(c.H, c.W), c.w, c.h);
            BOOST_CHECK(out.width == c.w && out.height == c.h);
            BOOST_CHECK_EQUAL(fnv1a(out.pixels), c.hash);
        }
    }
}

// JPEG: stb_image vs PIL (libjpeg-turbo) decode the same file slightly differently (IDCT rounding,
// YCbCr->RGB fixed-point); the golden's own decode of it bounds the gap, and preprocessing adds none.
BOOST_AUTO_TEST_CASE(jpeg_decode_vs_pil) {
    const auto ours = load("img_b_96x64.jpg");
    const vl::tensor pil = golden().load("img_b_96x64_jpg.decoded_rgb_u8", vl::dtype::u8);
    BOOST_REQUIRE_EQUAL(pil.numel(), static_cast<vl::index_t>(ours.pixels.size()));
    int worst = 0;
    std::size_t differing = 0;
    for (std::size_t i = 0; i < ours.pixels.size(); ++i) {
        const int d = std::abs(static_cast<int>(ours.pixels[i]) - static_cast<int>(pil.data<std::uint8_t>()[i]));
        worst = std::max(worst, d);
        differing += d != 0;
    }
    BOOST_TEST_MESSAGE("JPEG libjpeg-turbo vs PIL: max |diff| = " << worst << ", " << differing << " of " << ours.pixels.size()
                                                                  << " samples differ");
    BOOST_CHECK_EQUAL(worst, 0);  // the decoder PIL uses, with PIL's settings: exact (stb_image was within ±2)
    const auto p = vl::qwen36::preprocess({ours}, tiny_config());
    BOOST_CHECK_LE(max_code_diff(p.pixel_values, "img_b_96x64_jpg.pixel_values_u8"), worst);
}

// PIL alpha_composite on white (values printed by Pillow 13).
BOOST_AUTO_TEST_CASE(alpha_composite_like_pil) {
    const struct { int c, a, out; } cases[] = {{0, 1, 254}, {200, 128, 227}, {17, 254, 18}, {255, 0, 255},
                                               {100, 255, 100}, {3, 77, 179}, {250, 3, 255}};
    for (const auto& c : cases)
        BOOST_CHECK_EQUAL(static_cast<int>(vl::image::detail::composite_on_white(c.c, c.a)), c.out);
}

// torchvision's fused rescale+normalise with the HF class defaults (CLIP mean/std, 1/255): exact f32
// values printed by transformers for u8 codes 0, 1, 128, 255.
BOOST_AUTO_TEST_CASE(normalisation_is_torchvision_f32) {
    vl::qwen36::preprocessor_config cfg;  // HF defaults
    const auto lut = vl::qwen36::detail::normalisation_table(cfg);
    const float expect[3][4] = {{-0x1.cad1b8p+0f, -0x1.c715p+0f, 0x1.38ac1cp-4f, 0x1.ee2a84p+0f},
                                {-0x1.c0896ep+0f, -0x1.bcb1e2p+0f, 0x1.59e6cp-3f, 0x1.0995c8p+1f},
                                {-0x1.7aefbp+0f, -0x1.774bc4p+0f, 0x1.5c1b82p-2f, 0x1.12acc2p+1f}};
    const int codes[4] = {0, 1, 128, 255};
    for (int c = 0; c < 3; ++c)
        for (int k = 0; k < 4; ++k) BOOST_CHECK_EQUAL(lut[c][codes[k]], expect[c][k]);
}

// Patch layout with the normalisation off (values are the raw codes): row r of image patch
// (2bh+mh, 2bw+mw) in merge-window-major order, element c·2·P² + t·P² + py·P + px, both frames equal.
BOOST_AUTO_TEST_CASE(patch_order_and_temporal_duplication) {
    auto cfg = tiny_config();
    cfg.do_rescale = cfg.do_normalize = false;
    const int H = 64, W = 96, P = 16;
    vl::image::rgb8_image im{W, H, std::vector<std::uint8_t>(static_cast<std::size_t>(W) * H * 3)};
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint8_t>(i * 2654435761u >> 24);
    const auto p = vl::qwen36::preprocess({im}, cfg);
    BOOST_REQUIRE(p.pixel_values.shape() == (vl::dims{24, 1536}));
    const float* pv = p.pixel_values.data<float>();
    const int gw = W / P;
    for (int r = 0; r < 24; ++r) {
        const int block = r / 4, bh = block / (gw / 2), bw = block % (gw / 2), mh = r % 4 / 2, mw = r % 2;
        const int row = 2 * bh + mh, col = 2 * bw + mw;
        for (int c = 0; c < 3; ++c)
            for (int t = 0; t < 2; ++t)
                for (int py = 0; py < P; ++py)
                    for (int px = 0; px < P; ++px) {
                        const float want = im.pixels[(static_cast<std::size_t>(row * P + py) * W + col * P + px) * 3 + c];
                        BOOST_REQUIRE_EQUAL(pv[r * 1536 + c * 512 + t * 256 + py * 16 + px], want);
                    }
    }
}

// Sizes come from the config: patch 14, merge 2 (factor 28), the HF class defaults.
BOOST_AUTO_TEST_CASE(config_driven_sizes) {
    vl::qwen36::preprocessor_config cfg;
    const auto p = vl::qwen36::preprocess({load("img_a_128x160.png")}, cfg);
    const auto& info = p.per_image.at(0);
    BOOST_CHECK(info.resized_height == 140 && info.resized_width == 168);  // round(128/28)=5 -> 140, 6 -> 168
    BOOST_CHECK(p.pixel_values.shape() == (vl::dims{10 * 12, 3 * 2 * 14 * 14}));
    BOOST_CHECK_EQUAL(info.tokens, 30);
}

// Issue 13 B8: the area that reaches the vision tower is capped whatever the config says: do_resize false
// with a big image, or a hand-built config whose max_pixels is far above anything the parser accepts.
BOOST_AUTO_TEST_CASE(vision_area_cap_holds_whatever_the_config_says) {
    vl::qwen36::preprocessor_config cfg = tiny_config();
    cfg.do_resize = false;
    const vl::image::rgb8_image big{6016, 6016, std::vector<std::uint8_t>(std::size_t{6016} * 6016 * 3)};  // 188 × 32 per side
    BOOST_CHECK_THROW(vl::qwen36::preprocess({big}, cfg), vl::image::image_limit_error);
    cfg.do_resize = true;
    cfg.max_pixels = std::int64_t{1} << 40;
    BOOST_CHECK_THROW(vl::qwen36::plan_image(8192, 8192, cfg), vl::image::image_limit_error);
    BOOST_CHECK_THROW(vl::qwen36::preprocess({big}, cfg), vl::image::image_limit_error);
    // Within the cap: planned exactly as preprocess does it.
    const auto plan = vl::qwen36::plan_image(125, 94, tiny_config());
    const auto p = vl::qwen36::preprocess({load("img_c_125x94.png")}, tiny_config());
    BOOST_CHECK_EQUAL(plan.tokens, p.per_image.at(0).tokens);
    BOOST_CHECK(plan.grid_thw == p.per_image.at(0).grid_thw);
}

// A 1x1 image is valid (HF upscales it to the minimum area); 1x201 is refused by the aspect rule.
BOOST_AUTO_TEST_CASE(degenerate_sizes) {
    const auto cfg = tiny_config();
    const vl::image::rgb8_image dot{1, 1, {10, 20, 30}};
    const auto p = vl::qwen36::preprocess({dot}, cfg);
    BOOST_CHECK(p.per_image.at(0).resized_height == 64 && p.per_image.at(0).resized_width == 64);
    const vl::image::rgb8_image line{201, 1, std::vector<std::uint8_t>(603, 7)};
    BOOST_CHECK_THROW(vl::qwen36::preprocess({line}, cfg), vl::image::image_limit_error);
}
