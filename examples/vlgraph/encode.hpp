// examples/vlgraph/encode.hpp — `vlgraph encode`: images -> Qwen3.6 image embeddings.
//
//   vlgraph encode --model DIR (--image PATH_OR_DATA_URI ... | --pixel-values IN.safetensors)
//                  --out OUT.safetensors [--backend cpu|cuda] [--threads N]
//
// Writes pixel_values (f32 [N, C·T·p·p]), image_grid_thw (i64 [n_images, 3]) and
// image_embeds (f32 [N/4, out_hidden]); prints per image its sizes, grid and token
// count, then timings. Only the vision tensors of the checkpoint are read.
#pragma once

#include "args.hpp"

#include <vlgraph/backends/cpu/cpu.hpp>
#include <vlgraph/image/decode.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/models/qwen36/vision_weights.hpp>

#if VLGRAPH_CLI_CUDA
#include "on_cuda.hpp"
#endif

#include <chrono>
#include <cstdio>

namespace vlcli {

namespace detail {
// A short label for an image source: data URLs are not echoed whole.
inline std::string source_label(const std::string& s) { return s.rfind("data:", 0) == 0 ? "data URL (" + std::to_string(s.size()) + " chars)" : s; }
}  // namespace detail

inline int encode(const args& a) {
    namespace q = vl::qwen36;
    using clock = std::chrono::steady_clock;
    const std::filesystem::path dir = a.required("model");
    const std::string out_path = a.required("out");
    const std::string backend = a.backend(VLGRAPH_CLI_CUDA);
    if (a.has("image") == a.has("pixel-values")) throw usage_error("give either --image (one or more) or --pixel-values");
    const int threads = a.threads();

    const q::model_config cfg = q::load_config(dir);
    auto t0 = clock::now();
    vl::tensor pixel_values, grid_thw;
    if (a.has("image")) {
        const q::preprocessor_config pre = q::load_preprocessor_config(dir, cfg.vision);
        std::vector<vl::image::rgb8_image> images;
        vl::image::decode_limits decode;
        decode.hf_path = a.hf_image_path();
        for (const auto& src : a.all("image")) images.push_back(vl::image::load_image(src, decode));
        q::preprocessed p = q::preprocess(images, pre);
        for (std::size_t i = 0; i < p.per_image.size(); ++i) {
            const q::image_info& m = p.per_image[i];
            std::printf("image %zu  %s: %ldx%ld -> %ldx%ld (HxW), grid %ldx%ldx%ld, %ld tokens\n", i, detail::source_label(a.all("image")[i]).c_str(),
                        long(m.height), long(m.width), long(m.resized_height), long(m.resized_width), long(m.grid_thw[0]), long(m.grid_thw[1]),
                        long(m.grid_thw[2]), long(m.tokens));
        }
        pixel_values = p.pixel_values;
        grid_thw = p.image_grid_thw;
    } else {
        const auto f = vl::safetensors_file::open(a.one("pixel-values"));
        pixel_values = f.load("pixel_values", vl::dtype::f32);
        grid_thw = f.load("image_grid_thw", vl::dtype::i64);
    }
    const std::vector<q::grid_thw> grids = q::grids_from_tensor(grid_thw);
    if (!a.has("image"))
        for (std::size_t i = 0; i < grids.size(); ++i)
            std::printf("image %zu  grid %ldx%ldx%ld, %ld tokens\n", i, long(grids[i].t), long(grids[i].h), long(grids[i].w),
                        long(grids[i].t * grids[i].h * grids[i].w / (cfg.vision.spatial_merge_size * cfg.vision.spatial_merge_size)));
    const double t_pre = seconds_since(t0);

    t0 = clock::now();
    const q::vision_weights w = q::vision_weights::load(vl::checkpoint::open(dir), cfg.vision, vl::dtype::f32,
                                                        backend == "cpu" ? q::matrix_storage::as_stored : q::matrix_storage::converted);
    const double t_load = seconds_since(t0);

    t0 = clock::now();
    q::vision_output out;
    std::string where;
#if VLGRAPH_CLI_CUDA
    if (backend == "cuda") {
        out = vision_on_cuda(w, pixel_values, grids);
        where = "cuda, bf16";
    }
#endif
    if (backend == "cpu") {
        vl::cpu::executor cpu{threads};
        out = q::vision_forward(w, pixel_values, grids, cpu);
        where = "cpu, " + std::to_string(cpu.threads()) + " threads";
    }
    const double t_vision = seconds_since(t0);

    vl::save_safetensors(out_path, {{"pixel_values", pixel_values}, {"image_grid_thw", grid_thw}, {"image_embeds", out.image_embeds}});
    std::printf("image_embeds %s -> %s\n", vl::to_string(out.image_embeds.shape()).c_str(), out_path.c_str());
    std::fprintf(stderr, "timings: preprocess %.3f s, load vision weights %.3f s, vision tower %.3f s (%s)\n", t_pre, t_load, t_vision, where.c_str());
    return 0;
}

}  // namespace vlcli
