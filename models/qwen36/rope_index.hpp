// vlgraph/models/qwen36/rope_index.hpp — the MRoPE position ids of a prompt (spec §6.2; HF
// Qwen3_5Model.get_rope_index, the newest, mm_token_type_ids-driven version).
//
//     const auto grids = vl::qwen36::grids_from_tensor(image_grid_thw);
//     vl::qwen36::rope_index r = vl::qwen36::get_rope_index(ids, grids, {}, config);
//     // r.position_ids: i64 [3, L] (T, H, W rows); decode step at sequence index p uses p + r.rope_delta
//
// Every token has three positions (T, H, W). The prompt is walked in runs of one modality:
//
//   text run of n tokens          T = H = W = current .. current + n − 1;        current += n
//   vision run with grid (t,h,w)  merged grid h' = h / m, w' = w / m (m = spatial_merge_size):
//                                 token (s, i, j) in raster order: T = current + s, H = current + i,
//                                 W = current + j;                                current += max(h', w')
//
//   rope_delta = max(all positions) + 1 − L
//
// Each vision run consumes the next grid of its kind. A video grid (t, h, w) stands for t frames that
// the chat template separates with timestamp text, so it is split into t grids (1, h, w), as HF does.
// vision_start / vision_end are text tokens. The sequence has no padding (one prompt).
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/vision.hpp>
#include <vlgraph/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vl::qwen36 {

// HF mm_token_type_ids: what each token of a prompt stands for.
enum class token_modality : std::uint8_t { text = 0, image = 1, video = 2 };

struct rope_index {
    tensor position_ids;      // i64 [3, L]: rows T, H, W
    std::int64_t rope_delta;  // max position + 1 − L; a later token at sequence index p has position p + rope_delta
};

// The modality of every token: image where id == image_token_id, video where id == video_token_id
// (the processor's mm_token_type_ids).
inline std::vector<token_modality> token_modalities(std::span<const std::int64_t> input_ids, const model_config& c) {
    std::vector<token_modality> out;
    out.reserve(input_ids.size());
    for (const std::int64_t id : input_ids)
        out.push_back(id == c.image_token_id ? token_modality::image : id == c.video_token_id ? token_modality::video : token_modality::text);
    return out;
}

namespace detail {

inline index_t merged_tokens(const grid_thw& g, index_t merge) { return g.t * (g.h / merge) * (g.w / merge); }

// Throws unless the prompt's `kind` tokens are exactly as many as the grids describe.
inline void check_vision_token_count(std::span<const token_modality> types, token_modality kind, std::span<const grid_thw> grids,
                                     const model_config& c) {
    const auto tokens = static_cast<index_t>(std::count(types.begin(), types.end(), kind));
    index_t expected = 0;
    for (const grid_thw& g : grids) expected += merged_tokens(g, c.vision.spatial_merge_size);
    if (tokens == expected) return;
    const bool image = kind == token_modality::image;
    throw shape_error(std::string("get_rope_index: the prompt has ") + std::to_string(tokens) + (image ? " image" : " video") + " tokens (id " +
                      std::to_string(image ? c.image_token_id : c.video_token_id) + ") but the " + std::to_string(grids.size()) +
                      (image ? " image grids describe " : " video grids describe ") + std::to_string(expected));
}

}  // namespace detail

// Positions for a prompt with `image_grids` (image_grid_thw rows, in prompt order) and `video_grids`.
inline rope_index get_rope_index(std::span<const std::int64_t> input_ids, std::span<const grid_thw> image_grids,
                                 std::span<const grid_thw> video_grids, const model_config& c) {
    const index_t merge = c.vision.spatial_merge_size;
    vision_patch_count(image_grids, c.vision);  // validates every grid against the merge window
    vision_patch_count(video_grids, c.vision);
    std::vector<grid_thw> frames;  // one (1, h, w) grid per video frame
    for (const grid_thw& g : video_grids) frames.insert(frames.end(), static_cast<std::size_t>(g.t), grid_thw{1, g.h, g.w});

    const std::vector<token_modality> types = token_modalities(input_ids, c);
    detail::check_vision_token_count(types, token_modality::image, image_grids, c);
    detail::check_vision_token_count(types, token_modality::video, frames, c);

    const auto n = static_cast<index_t>(types.size());
    std::vector<std::int64_t> pos(static_cast<std::size_t>(3 * n));
    const auto put = [&](index_t at, std::int64_t t, std::int64_t h, std::int64_t w) {
        pos[static_cast<std::size_t>(at)] = t;
        pos[static_cast<std::size_t>(n + at)] = h;
        pos[static_cast<std::size_t>(2 * n + at)] = w;
    };
    std::size_t next_grid[3] = {0, 0, 0};  // per modality: the grid of its next run
    std::int64_t current = 0, max_position = -1;
    for (index_t begin = 0; begin < n;) {
        const token_modality kind = types[static_cast<std::size_t>(begin)];
        index_t end = begin;
        while (end < n && types[static_cast<std::size_t>(end)] == kind) ++end;
        if (kind == token_modality::text) {
            for (index_t i = begin; i < end; ++i) put(i, current + (i - begin), current + (i - begin), current + (i - begin));
            max_position = std::max(max_position, current + (end - begin) - 1);
            current += end - begin;
        } else {
            const bool image = kind == token_modality::image;
            const std::size_t g_index = next_grid[static_cast<int>(kind)]++;
            const grid_thw& g = image ? image_grids[g_index] : frames[g_index];
            const index_t hm = g.h / merge, wm = g.w / merge;
            // With the totals equal, a run can only disagree with its grid when two vision items touch.
            if (end - begin != detail::merged_tokens(g, merge))
                throw shape_error("get_rope_index: the " + std::string(image ? "image" : "video frame") + " run at position " + std::to_string(begin) +
                                  " has " + std::to_string(end - begin) + " tokens but its grid (" + std::to_string(g.t) + ", " + std::to_string(g.h) +
                                  ", " + std::to_string(g.w) + ") gives " + std::to_string(detail::merged_tokens(g, merge)));
            index_t at = begin;
            for (index_t s = 0; s < g.t; ++s)
                for (index_t i = 0; i < hm; ++i)
                    for (index_t j = 0; j < wm; ++j) put(at++, current + s, current + i, current + j);
            max_position = std::max(max_position, current + std::max({g.t - 1, hm - 1, wm - 1}));
            current += std::max(hm, wm);
        }
        begin = end;
    }
    return {tensor::from(pos, {3, n}), max_position + 1 - n};
}

// Text-only positions start .. start + n − 1 on all three axes (a prompt without vision tokens, or
// the tokens after a prefill: start = sequence index + rope_delta).
inline tensor text_position_ids(std::int64_t start, index_t n) {
    std::vector<std::int64_t> pos(static_cast<std::size_t>(3 * n));
    for (index_t a = 0; a < 3; ++a)
        for (index_t i = 0; i < n; ++i) pos[static_cast<std::size_t>(a * n + i)] = start + i;
    return tensor::from(pos, {3, n});
}

}  // namespace vl::qwen36
