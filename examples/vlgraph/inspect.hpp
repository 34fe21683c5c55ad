// examples/vlgraph/inspect.hpp — `vlgraph inspect --model DIR [--scan-nonfinite]`:
// validates a Qwen3.6 (model_type qwen3_5) checkpoint directory and prints what
// it holds. Exit status 0: no problem found; 1: problems (listed).
#pragma once

#include "args.hpp"

#include <vlgraph/backends/cpu/cpu_isa.hpp>
#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <cstdio>
#include <filesystem>
#include <map>

namespace vlcli {

inline int inspect(const args& a) {
    namespace q = vl::qwen36;
    const std::filesystem::path dir = a.required("model");
    std::vector<std::string> problems;

    const q::model_config cfg = q::load_config(dir);
    const q::text_config& t = cfg.text;
    const q::vision_config& v = cfg.vision;
    std::printf("model      %s\n", dir.string().c_str());
    std::printf("language   hidden %ld, %ld layers (%ld Gated DeltaNet + %ld gated attention), vocab %ld, MLP %ld\n", long(t.hidden_size),
                long(t.num_hidden_layers), long(t.num_linear_attention_layers()), long(t.num_full_attention_layers()), long(t.vocab_size),
                long(t.intermediate_size));
    std::printf("           attention: %ld query / %ld kv heads x %ld, rotary %ld dims (theta %g, mrope %ld/%ld/%ld)\n", long(t.num_attention_heads),
                long(t.num_key_value_heads), long(t.head_dim), long(t.rotary_dim()), t.rope.theta, long(t.rope.mrope_section[0]),
                long(t.rope.mrope_section[1]), long(t.rope.mrope_section[2]));
    std::printf("           delta net: %ld qk heads x %ld, %ld v heads x %ld, conv %ld\n", long(t.linear_num_key_heads), long(t.linear_key_head_dim),
                long(t.linear_num_value_heads), long(t.linear_value_head_dim), long(t.linear_conv_kernel_dim));
    std::printf("vision     depth %ld, hidden %ld, %ld heads, patch %ld x %ld frames, merge %ld, out %ld\n", long(v.depth), long(v.hidden_size),
                long(v.num_heads), long(v.patch_size), long(v.temporal_patch_size), long(v.spatial_merge_size), long(v.out_hidden_size));
    std::printf("tokens     image %ld, video %ld, vision start/end %ld/%ld, eos", long(cfg.image_token_id), long(cfg.video_token_id),
                long(cfg.vision_start_token_id), long(cfg.vision_end_token_id));
    for (auto e : cfg.eos_token_ids) std::printf(" %ld", long(e));
    std::printf("\n");

    if (std::filesystem::exists(dir / "preprocessor_config.json")) {
        const q::preprocessor_config p = q::load_preprocessor_config(dir, v);
        std::printf("images     %ld..%ld pixels, factor %ld\n", long(p.min_pixels), long(p.max_pixels), long(p.factor()));
    } else {
        problems.push_back("no preprocessor_config.json (needed for images)");
    }

    const vl::checkpoint ck = vl::checkpoint::open(dir);
    ck.verify();  // every shard's header, offsets and index consistency
    const std::vector<std::string> names = ck.names();
    std::map<vl::dtype, std::pair<std::size_t, std::uint64_t>> per_dtype;
    for (const auto& n : names) {
        const vl::tensor_info& info = ck.info(n);
        per_dtype[info.type].first += 1;
        per_dtype[info.type].second += info.bytes();
    }
    std::printf("weights    %zu tensors in %zu file(s), %.1f MiB:", names.size(), ck.shard_count(), static_cast<double>(ck.total_bytes()) / (1 << 20));
    for (const auto& [type, cb] : per_dtype)
        std::printf("  %s %zu (%.1f MiB)", std::string(vl::name_of(type)).c_str(), cb.first, static_cast<double>(cb.second) / (1 << 20));
    std::printf("\n");

    const q::weight_report report = q::weight_problems(
        cfg, q::part::all,
        [&](const std::string& n) -> std::optional<q::tensor_info> {
            if (!ck.contains(n)) return std::nullopt;
            const vl::tensor_info& info = ck.info(n);
            return q::tensor_info{info.type, std::vector<std::int64_t>(info.shape.begin(), info.shape.end())};
        },
        names);
    problems.insert(problems.end(), report.problems.begin(), report.problems.end());
    const bool stored_head = ck.contains("lm_head.weight");
    if (q::lm_head_from(cfg, stored_head) == q::lm_head_source::tied_to_embeddings)
        std::printf("lm_head    tied to embed_tokens (tie_word_embeddings, no lm_head.weight stored)\n");
    else if (cfg.tie_word_embeddings)
        std::printf("lm_head    the stored lm_head.weight, not embed_tokens: tie_word_embeddings is true but the checkpoint has its own, which HF uses\n");
    else
        std::printf("lm_head    the stored lm_head.weight\n");
    for (const auto& u : report.unexpected)
        if (u != "lm_head.weight") std::printf("note       unused tensor %s\n", u.c_str());  // a tied config's stored head is used

    std::printf("cpu        kernels %s%s\n", std::string(vl::cpu::isa_name(vl::cpu::active_isa())).c_str(),
                vl::cpu::active_isa() == vl::cpu::widest_isa() ? ", the widest this CPU has" : ", narrower than this CPU's widest (VLGRAPH_CPU_ISA)");

    if (a.flag("scan-nonfinite"))
        for (const auto& n : names)
            if (const std::size_t bad = ck.count_nonfinite(n)) problems.push_back(n + ": " + std::to_string(bad) + " NaN/Inf values");

    if (problems.empty()) {
        std::printf("ok         every tensor the config needs is present with the right shape\n");
        return 0;
    }
    for (const auto& p : problems) std::fprintf(stderr, "problem: %s\n", p.c_str());
    std::fprintf(stderr, "%zu problem(s) found\n", problems.size());
    return 1;
}

}  // namespace vlcli
