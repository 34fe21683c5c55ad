// vlgraph/image/resize.hpp — antialiased bicubic resize of RGB8 images, bit-exact with PyTorch's
// uint8 path, which is what HF's torchvision image processors run.
//
// torchvision's resize on a CPU uint8 tensor with BICUBIC + antialias=True calls
// interpolate(mode="bicubic", antialias=True) on the uint8 tensor itself (no float round trip): ATen's
// _upsample_bicubic2d_aa uint8 kernel (UpSampleKernel.cpp + UpSampleKernelAVXAntialias.h), derived from
// Pillow-SIMD's ImagingResample. Per axis it computes PIL-style filter taps in double (Keys cubic with
// a = −0.5, support 2·max(1, in/out), centre scale·(i + 0.5), weights normalised to sum 1), then
// converts them to int16 fixed point with a per-axis precision: the largest p ≤ 22 such that the
// biggest weight·2^(p+1) still rounds below 2^15 (PIL itself uses a fixed 22 bits in int32, which is
// why PIL and torchvision differ by up to a few codes). Each output sample is
// clamp((2^(p−1) + Σ w·x) >> p, 0, 255), an exact integer computation; the horizontal pass runs first
// (over every input row) into a uint8 buffer, then the vertical pass. Axes whose size does not change
// are skipped. Reproducing that is bit-exact: the only floating-point steps are the weights, computed
// here in the same double operations in the same order.
//
// Verified against torch 2.15 (AVX2 build, torchvision 0.29) on the golden images and on random
// sizes up and down (tests/test_preprocess.cpp checks the golden resize cases).
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/image.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace vl::image {

namespace detail {

// HelperInterpCubic::aa_filter with a = −0.5, evaluated in ATen's operation order.
inline double aa_cubic(double x) {
    constexpr double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

// The fixed-point taps of one axis: output i reads `count[i]` inputs from `first[i]` with weights
// weights[i * taps + j], scaled by 2^precision.
struct aa_axis {
    std::vector<std::int64_t> first, count;
    std::vector<std::int32_t> weights;
    std::int64_t taps = 0;
    unsigned precision = 0;
};

// HelperInterpBase::_compute_indices_min_size_weights_aa + _compute_index_ranges_int16_weights
// (align_corners = false, no explicit scale factor: scale = in / out).
inline aa_axis make_aa_axis(std::int64_t in, std::int64_t out) {
    const double scale = static_cast<double>(in) / static_cast<double>(out);
    const double support = scale >= 1.0 ? (4 * 0.5) * scale : 4 * 0.5;
    aa_axis ax;
    ax.taps = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
    ax.first.resize(static_cast<std::size_t>(out));
    ax.count.resize(static_cast<std::size_t>(out));
    std::vector<double> w(static_cast<std::size_t>(out * ax.taps), 0.0);
    const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    double wt_max = 0.0;
    for (std::int64_t i = 0; i < out; ++i) {
        const double center = scale * (static_cast<double>(i) + 0.5);
        // The casts truncate toward zero, as ATen's static_cast<int64_t> does.
        const std::int64_t xmin = std::max(static_cast<std::int64_t>(center - support + 0.5), std::int64_t{0});
        const std::int64_t xsize = std::clamp(std::min(static_cast<std::int64_t>(center + support + 0.5), in) - xmin,
                                              std::int64_t{0}, ax.taps);
        double* wi = &w[static_cast<std::size_t>(i * ax.taps)];
        double total = 0.0;
        for (std::int64_t j = 0; j < xsize; ++j) {
            wi[j] = aa_cubic((static_cast<double>(j + xmin) - center + 0.5) * invscale);
            total += wi[j];
        }
        if (total != 0.0)
            for (std::int64_t j = 0; j < xsize; ++j) {
                wi[j] /= total;
                wt_max = std::max(wt_max, wi[j]);
            }
        ax.first[static_cast<std::size_t>(i)] = xmin;
        ax.count[static_cast<std::size_t>(i)] = xsize;
    }
    unsigned p = 0;
    for (; p < 22; ++p)
        if (static_cast<int>(0.5 + wt_max * static_cast<double>(1 << (p + 1))) >= (1 << 15)) break;
    ax.precision = p;
    ax.weights.resize(w.size());
    for (std::size_t k = 0; k < w.size(); ++k) {
        const double v = w[k] * static_cast<double>(1 << p);
        // Round half away from zero, then narrow to int16 as ATen stores it.
        ax.weights[k] = static_cast<std::int16_t>(v < 0 ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
    }
    return ax;
}

inline std::uint8_t fixed_to_u8(std::int64_t acc, unsigned precision) {
    return static_cast<std::uint8_t>(std::clamp<std::int64_t>(acc >> precision, 0, 255));
}

}  // namespace detail

// Resizes `in` to out_width × out_height (antialiased bicubic, PyTorch uint8 semantics). Sizes must be
// positive; an unchanged size returns a copy.
inline rgb8_image resize_bicubic_aa(const rgb8_image& in, int out_width, int out_height) {
    if (in.width <= 0 || in.height <= 0 || out_width <= 0 || out_height <= 0)
        throw shape_error("resize_bicubic_aa: sizes must be positive, got " + std::to_string(in.width) + "x" +
                          std::to_string(in.height) + " -> " + std::to_string(out_width) + "x" +
                          std::to_string(out_height));
    if (in.pixels.size() != static_cast<std::size_t>(in.width) * in.height * 3)
        throw shape_error("resize_bicubic_aa: pixel buffer does not hold width x height x 3 bytes");
    rgb8_image cur = in;
    if (out_width != cur.width) {
        const detail::aa_axis ax = detail::make_aa_axis(cur.width, out_width);
        rgb8_image next{out_width, cur.height, std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * cur.height * 3)};
        const std::int64_t half = std::int64_t{1} << (ax.precision - 1);
        for (int y = 0; y < cur.height; ++y) {
            const std::uint8_t* row = &cur.pixels[static_cast<std::size_t>(y) * cur.width * 3];
            std::uint8_t* dst = &next.pixels[static_cast<std::size_t>(y) * out_width * 3];
            for (int x = 0; x < out_width; ++x) {
                const std::int32_t* w = &ax.weights[static_cast<std::size_t>(x * ax.taps)];
                const std::uint8_t* src = row + ax.first[static_cast<std::size_t>(x)] * 3;
                std::int64_t acc[3] = {half, half, half};
                for (std::int64_t j = 0; j < ax.count[static_cast<std::size_t>(x)]; ++j)
                    for (int c = 0; c < 3; ++c) acc[c] += std::int64_t{w[j]} * src[j * 3 + c];
                for (int c = 0; c < 3; ++c) dst[x * 3 + c] = detail::fixed_to_u8(acc[c], ax.precision);
            }
        }
        cur = std::move(next);
    }
    if (out_height != cur.height) {
        const detail::aa_axis ax = detail::make_aa_axis(cur.height, out_height);
        const std::size_t stride = static_cast<std::size_t>(cur.width) * 3;
        rgb8_image next{cur.width, out_height, std::vector<std::uint8_t>(stride * out_height)};
        const std::int64_t half = std::int64_t{1} << (ax.precision - 1);
        std::vector<std::int64_t> acc(stride);
        for (int y = 0; y < out_height; ++y) {
            std::fill(acc.begin(), acc.end(), half);
            const std::int32_t* w = &ax.weights[static_cast<std::size_t>(y * ax.taps)];
            const std::int64_t first = ax.first[static_cast<std::size_t>(y)];
            for (std::int64_t j = 0; j < ax.count[static_cast<std::size_t>(y)]; ++j) {
                const std::uint8_t* src = &cur.pixels[static_cast<std::size_t>(first + j) * stride];
                for (std::size_t k = 0; k < stride; ++k) acc[k] += std::int64_t{w[j]} * src[k];
            }
            std::uint8_t* dst = &next.pixels[static_cast<std::size_t>(y) * stride];
            for (std::size_t k = 0; k < stride; ++k) dst[k] = detail::fixed_to_u8(acc[k], ax.precision);
        }
        cur = std::move(next);
    }
    return cur;
}

}  // namespace vl::image
