// vlgraph/models/qwen36/preprocess.hpp — Qwen3.6 image preprocessing, identical to HF transformers'
// Qwen2VLImageProcessor (torchvision backend, the default for `Qwen2VLImageProcessorFast`), spec §3.
//
//   auto cfg = vl::qwen36::load_preprocessor_config(model_dir);
//   vl::qwen36::preprocessed p = vl::qwen36::preprocess({vl::image::load_image("a.png")}, cfg);
//   // p.pixel_values: f32 [N, 3·T·P·P], p.image_grid_thw: i64 [n_images, 3], p.per_image[i].tokens
//
// Per image, with every size from preprocessor_config.json (nothing hard-coded):
//  1. smart_resize → (H', W'), multiples of factor = patch_size·merge_size (bit-exact with HF, below);
//  2. antialiased bicubic resize of the RGB8 image to (H', W'): vl::image::resize_bicubic_aa,
//     bit-exact with torchvision's uint8 output (see resize.hpp); skipped when the size is unchanged;
//  3. rescale + normalise in f32 exactly as the torchvision backend's fused path: mean' =
//     f32(f32(mean)·f32(1/rescale_factor)), std' likewise, x = (f32(u8) − mean') / std' (for the
//     Qwen config: (u8 − 127.5) / 127.5, every value exact);
//  4. the still image becomes temporal_patch_size identical frames (grid_t = 1);
//  5. patchify: rows in merge-window-major order (block row, block col, row in window, col in window),
//     each row the (C, T, py, px) flattening of one patch — the Conv3d weight layout.
// Several images are concatenated in order, their grids stacked.
//
// do_convert_rgb is implied (decoded images are always RGB); do_resize = false requires sizes that are
// already multiples of the factor (HF's reshape would fail otherwise).
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/image.hpp>
#include <vlgraph/image/resize.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/tensor.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

namespace vl::qwen36 {

struct resized_size {
    std::int64_t height = 0;
    std::int64_t width = 0;
};

namespace detail {

// Python's round() of a double: to nearest, ties to even (round(22.5) == 22), independent of the
// floating-point environment's rounding mode.
inline double round_half_even(double x) {
    const double r = std::floor(x);
    const double d = x - r;  // exact for the magnitudes smart_resize sees
    if (d > 0.5) return r + 1;
    if (d < 0.5) return r;
    return std::fmod(r, 2.0) == 0.0 ? r : r + 1;
}

}  // namespace detail

// HF's smart_resize (transformers 5.x, image_processing_qwen2_vl.py) in the same double operations:
//   reject max/min > 200; h̄ = round(H/F)·F, w̄ = round(W/F)·F (round half to even);
//   if h̄·w̄ > max: β = sqrt(H·W/max), h̄ = max(F, floor(H/β/F)·F), w̄ likewise;
//   elif h̄·w̄ < min: β = sqrt(min/(H·W)), h̄ = ceil(H·β/F)·F, w̄ likewise.
// Sizes up to 2^24 keep every integer operand exact in a double, so each quotient is the correctly
// rounded one Python computes. Throws vl::image::image_limit_error where HF raises (aspect ratio).
inline resized_size smart_resize(std::int64_t height, std::int64_t width, std::int64_t factor, std::int64_t min_pixels,
                                 std::int64_t max_pixels) {
    constexpr std::int64_t max_side = std::int64_t{1} << 24;
    if (height < 1 || width < 1 || height > max_side || width > max_side)
        throw shape_error("smart_resize: image size " + std::to_string(height) + "x" + std::to_string(width) +
                          " must be within 1.." + std::to_string(max_side));
    if (factor < 1 || min_pixels < 1 || max_pixels < min_pixels || max_pixels > (std::int64_t{1} << 50))
        throw config_error("smart_resize: factor " + std::to_string(factor) + ", min_pixels " +
                           std::to_string(min_pixels) + ", max_pixels " + std::to_string(max_pixels) +
                           " (need factor >= 1 and 1 <= min_pixels <= max_pixels <= 2^50)");
    const double h = static_cast<double>(height), w = static_cast<double>(width), f = static_cast<double>(factor);
    const double aspect = static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width));
    if (aspect > 200)
        throw image::image_limit_error("smart_resize: absolute aspect ratio must be smaller than 200, got " +
                                       std::to_string(aspect) + " (" + std::to_string(height) + "x" +
                                       std::to_string(width) + ")");
    auto times_f = [&](double v) { return static_cast<std::int64_t>(v) * factor; };
    std::int64_t h_bar = times_f(detail::round_half_even(h / f));
    std::int64_t w_bar = times_f(detail::round_half_even(w / f));
    const double hw = static_cast<double>(height * width);
    if (h_bar * w_bar > max_pixels) {
        const double beta = std::sqrt(hw / static_cast<double>(max_pixels));
        h_bar = std::max(factor, times_f(std::floor(h / beta / f)));
        w_bar = std::max(factor, times_f(std::floor(w / beta / f)));
    } else if (h_bar * w_bar < min_pixels) {
        const double beta = std::sqrt(static_cast<double>(min_pixels) / hw);
        h_bar = times_f(std::ceil(h * beta / f));
        w_bar = times_f(std::ceil(w * beta / f));
    }
    return {h_bar, w_bar};
}

// What preprocessing did to one image.
struct image_info {
    std::int64_t height = 0, width = 0;                  // decoded size
    std::int64_t resized_height = 0, resized_width = 0;  // after smart_resize
    std::array<std::int64_t, 3> grid_thw{};              // (1, H'/patch, W'/patch)
    std::int64_t patches = 0;                            // rows of pixel_values: t·h·w
    std::int64_t tokens = 0;                             // <|image_pad|> tokens: t·h·w / merge²
};

struct preprocessed {
    tensor pixel_values;    // f32 [Σ patches, 3 · temporal_patch_size · patch_size²]
    tensor image_grid_thw;  // i64 [n_images, 3]
    std::vector<image_info> per_image;
};

namespace detail {

// The f32 value of every u8 code per channel, computed with torchvision's operations (see the file
// comment): a table, so the result cannot depend on how the compiler schedules the arithmetic.
inline std::array<std::array<float, 256>, 3> normalisation_table(const preprocessor_config& cfg) {
    std::array<std::array<float, 256>, 3> lut{};
    for (int c = 0; c < 3; ++c) {
        float mean = static_cast<float>(cfg.image_mean[static_cast<std::size_t>(c)]);
        float std_ = static_cast<float>(cfg.image_std[static_cast<std::size_t>(c)]);
        if (cfg.do_rescale && cfg.do_normalize) {  // fused: mean and std scaled by 1/rescale_factor in f32
            const float inv = static_cast<float>(1.0 / cfg.rescale_factor);
            mean = mean * inv;
            std_ = std_ * inv;
        }
        const float scale = static_cast<float>(cfg.rescale_factor);
        for (int v = 0; v < 256; ++v) {
            const float x = static_cast<float>(v);
            float& out = lut[static_cast<std::size_t>(c)][static_cast<std::size_t>(v)];
            if (cfg.do_normalize) out = (x - mean) / std_;
            else if (cfg.do_rescale) out = x * scale;
            else out = x;
        }
    }
    return lut;
}

}  // namespace detail

// What preprocess will make of image `index` of a decoded height × width: its resized size, grid, patch and
// token counts, without touching a pixel (so a caller can check a prompt's length before any heavy work).
// Throws as preprocess does: do_resize false with a size that is not a multiple of the factor, or an area
// over max_image_pixels whatever the config says.
inline image_info plan_image(std::int64_t height, std::int64_t width, const preprocessor_config& cfg, std::size_t index = 0) {
    const std::int64_t p = cfg.patch_size, m = cfg.merge_size, factor = cfg.factor();
    const std::size_t i = index;
    image_info info;
    info.height = height;
    info.width = width;
    resized_size r{height, width};
    if (cfg.do_resize) r = smart_resize(height, width, factor, cfg.min_pixels, cfg.max_pixels);
    else if (r.height % factor || r.width % factor)
        throw shape_error("qwen36::preprocess: do_resize is false but image " + std::to_string(i) + " (" +
                          std::to_string(r.height) + "x" + std::to_string(r.width) +
                          ") is not a multiple of patch_size x merge_size = " + std::to_string(factor));
    // The area cap holds whatever the config says (a hand-built config, do_resize = false).
    if (r.height * r.width > max_image_pixels)
        throw image::image_limit_error("qwen36::preprocess: image " + std::to_string(i) + " would enter the vision tower as " +
                                       std::to_string(r.height) + "x" + std::to_string(r.width) + " = " +
                                       std::to_string(r.height * r.width) + " pixels, over the limit of " +
                                       std::to_string(max_image_pixels) + (cfg.do_resize ? "" : " (do_resize is false)"));
    info.resized_height = r.height;
    info.resized_width = r.width;
    info.grid_thw = {1, r.height / p, r.width / p};
    info.patches = info.grid_thw[1] * info.grid_thw[2];
    info.tokens = info.patches / (m * m);
    return info;
}

// Preprocesses decoded images (one call may hold several; each keeps its own size).
inline preprocessed preprocess(std::span<const image::rgb8_image> images, const preprocessor_config& cfg) {
    if (images.empty()) throw shape_error("qwen36::preprocess: no images");
    const std::int64_t p = cfg.patch_size, m = cfg.merge_size, T = cfg.temporal_patch_size;
    const std::int64_t row_len = 3 * T * p * p;
    std::vector<image_info> infos;
    std::vector<image::rgb8_image> resized;
    std::int64_t total = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
        const image::rgb8_image& im = images[i];
        if (im.width <= 0 || im.height <= 0 || im.pixels.size() != static_cast<std::size_t>(im.width) * im.height * 3)
            throw shape_error("qwen36::preprocess: image " + std::to_string(i) + " is not a valid RGB8 image");
        const image_info info = plan_image(im.height, im.width, cfg, i);
        const resized_size r{info.resized_height, info.resized_width};
        total += info.patches;
        resized.push_back(r.height == im.height && r.width == im.width
                              ? im
                              : image::resize_bicubic_aa(im, static_cast<int>(r.width), static_cast<int>(r.height)));
        infos.push_back(info);
    }

    const auto lut = detail::normalisation_table(cfg);
    preprocessed out;
    out.pixel_values = tensor::empty({total, row_len}, dtype::f32);
    out.image_grid_thw = tensor::empty({static_cast<index_t>(images.size()), 3}, dtype::i64);
    float* dst = out.pixel_values.data<float>();
    std::int64_t* grid = out.image_grid_thw.data<std::int64_t>();
    for (std::size_t i = 0; i < resized.size(); ++i) {
        const image::rgb8_image& im = resized[i];
        const std::int64_t gh = infos[i].grid_thw[1], gw = infos[i].grid_thw[2];
        std::copy(infos[i].grid_thw.begin(), infos[i].grid_thw.end(), grid + 3 * i);
        for (std::int64_t bh = 0; bh < gh / m; ++bh)
            for (std::int64_t bw = 0; bw < gw / m; ++bw)
                for (std::int64_t mh = 0; mh < m; ++mh)
                    for (std::int64_t mw = 0; mw < m; ++mw) {
                        const std::int64_t y0 = (bh * m + mh) * p, x0 = (bw * m + mw) * p;
                        for (int c = 0; c < 3; ++c) {
                            const auto& table = lut[static_cast<std::size_t>(c)];
                            float* frame0 = dst;
                            for (std::int64_t py = 0; py < p; ++py) {
                                const std::uint8_t* src = &im.pixels[(static_cast<std::size_t>(y0 + py) * im.width + x0) * 3 + c];
                                for (std::int64_t px = 0; px < p; ++px) *dst++ = table[src[px * 3]];
                            }
                            for (std::int64_t t = 1; t < T; ++t) dst = std::copy(frame0, frame0 + p * p, dst);
                        }
                    }
    }
    out.per_image = std::move(infos);
    return out;
}

inline preprocessed preprocess(std::initializer_list<image::rgb8_image> images, const preprocessor_config& cfg) {
    return preprocess(std::span<const image::rgb8_image>(images.begin(), images.size()), cfg);
}

}  // namespace vl::qwen36
