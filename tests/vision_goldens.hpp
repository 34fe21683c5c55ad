// tests/vision_goldens.hpp — HF's vision goldens (tools/reference/dump_goldens.py),
// shared by the CPU and CUDA vision tests.
#pragma once

#include <vlgraph/compare.hpp>
#include <vlgraph/io/safetensors.hpp>
#include <vlgraph/models/qwen36/vision.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace vl::test {

inline const vl::safetensors_file& vision_golden() {
    static const vl::safetensors_file f = vl::safetensors_file::open(std::string(VLGRAPH_TEST_DATA) + "/golden/vision.safetensors");
    return f;
}
inline const vl::safetensors_file& preprocess_golden() {
    static const vl::safetensors_file f = vl::safetensors_file::open(std::string(VLGRAPH_TEST_DATA) + "/golden/preprocess.safetensors");
    return f;
}
// A tensor of vision.safetensors, in its stored dtype.
inline vl::tensor vision_tensor(const std::string& name) { return vision_golden().load(name, vision_golden().get(name).type()); }

// HF's f32 pixel values of the given preprocessed images, concatenated in order, and their grids.
struct hf_pixels_t {
    vl::tensor values;
    std::vector<qwen36::grid_thw> grids;
};
inline hf_pixels_t hf_pixels(const std::vector<std::string>& images) {
    std::vector<float> v;
    hf_pixels_t p;
    index_t rows = 0, cols = 0;
    for (const std::string& img : images) {
        const vl::tensor u8 = preprocess_golden().load(img + ".pixel_values_u8", vl::dtype::u8);
        const std::uint8_t* c = u8.data<std::uint8_t>();
        for (index_t i = 0; i < u8.numel(); ++i) v.push_back(static_cast<float>((c[i] - 127.5) / 127.5));  // HF: (u8 - 127.5) / 127.5
        rows += u8.extent(0);
        cols = u8.extent(1);
        for (const qwen36::grid_thw& g : qwen36::grids_from_tensor(preprocess_golden().load(img + ".image_grid_thw", vl::dtype::i64))) p.grids.push_back(g);
    }
    p.values = vl::tensor::from(v, {rows, cols});
    return p;
}
inline const std::vector<std::string> images_ab = {"img_a_128x160_png", "img_b_96x64_png"};

// Every intermediate HF dumped for images a + b, under the names vision.hpp gives its nodes.
inline vl::trace_recorder hf_vision_trace_ab() {
    vl::trace_recorder hf;
    for (const char* node : {"patch_embed.out", "pos_embed.added", "hidden_states.0", "blocks.0.norm1.out", "blocks.0.attn.qkv.out", "blocks.0.attn.proj.in0",
                             "blocks.0.attn.proj.out", "blocks.0.norm2.out", "blocks.0.mlp.linear_fc1.out", "blocks.0.mlp.out", "blocks.0.out", "blocks.1.out",
                             "merger.norm.out", "merger.linear_fc1.out"})
        hf.add(node, vision_tensor(std::string("ab.") + node));
    hf.add("merger.out", vision_tensor("ab.pooler_output"));
    return hf;
}

}  // namespace vl::test
