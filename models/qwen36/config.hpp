// vlgraph/models/qwen36/config.hpp — typed, validated configuration of the Qwen3.5 / Qwen3.6 VLM
// (HF model_type "qwen3_5", Qwen3_5ForConditionalGeneration), read from config.json,
// preprocessor_config.json and generation_config.json.
//
// Defaults are HF transformers' (configuration_qwen3_5.py, Qwen2VLImageProcessor, GenerationConfig), so a
// file that leaves a field out means what it means to HF. Everything is validated when parsed: a bad
// value throws vl::config_error naming the file and the field path, e.g.
//   config.json: text_config.num_attention_heads must be a positive integer, got -1
// Unreadable files throw vl::io_error, files that are not JSON vl::format_error. Unknown keys are ignored
// (config.json carries many that only training or vLLM read).
//
// Size bounds: every size field is at most 2^24 (layer counts at most 2^16) and every derived extent
// (heads × head_dim, conv_dim, merged hidden size, patch elements, ...) at most 2^31, so the element count of
// every checkpoint tensor fits in int64 with room to spare.
#pragma once

#include <vlgraph/dtype.hpp>
#include <vlgraph/error.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/io/json.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl::qwen36 {

inline constexpr std::int64_t max_extent = std::int64_t{1} << 24;          // any single size field
inline constexpr std::int64_t max_layers = std::int64_t{1} << 16;          // num_hidden_layers, depth
inline constexpr std::int64_t max_derived_extent = std::int64_t{1} << 31;  // products of size fields
// Preprocessor pixel bounds (min/max_pixels, size.shortest/longest_edge) and the area of any image the
// vision tower is given (preprocess enforces it whatever the config says, do_resize false included):
// twice the 2^24 of the Qwen3.6 checkpoints. More only buys minutes of vision tower per image.
inline constexpr std::int64_t max_image_pixels = std::int64_t{1} << 25;
inline constexpr std::uintmax_t max_json_file_bytes = std::uintmax_t{64} << 20;

enum class layer_type : std::uint8_t { linear_attention, full_attention };

constexpr std::string_view name_of(layer_type t) {
    return t == layer_type::full_attention ? "full_attention" : "linear_attention";
}

// Text RoPE (rope_parameters). Only rope_type "default" is supported; the layout is always the interleaved
// MRoPE of spec §6 (HF ignores `mrope_interleaved` and always interleaves; vlgraph rejects `false`).
struct text_rope {
    double theta = 10000.0;               // HF default_theta when neither rope_parameters nor rope_theta gives one
    double partial_rotary_factor = 0.25;  // Qwen3_5TextConfig.__post_init__ default
    std::array<std::int64_t, 3> mrope_section{11, 11, 10};  // (T, H, W) frequency counts; HF rotary-class fallback
};

// Qwen3_5TextConfig (config.json "text_config"); defaults are HF's, not the 27B checkpoint's.
struct text_config {
    std::int64_t vocab_size = 248320;
    std::int64_t hidden_size = 4096;
    std::int64_t intermediate_size = 12288;
    std::int64_t num_hidden_layers = 32;
    std::vector<layer_type> layer_types;  // num_hidden_layers entries
    std::int64_t num_attention_heads = 16;
    std::int64_t num_key_value_heads = 4;
    std::int64_t head_dim = 256;
    std::int64_t max_position_embeddings = 32768;
    double rms_norm_eps = 1e-6;
    std::int64_t linear_conv_kernel_dim = 4;
    std::int64_t linear_key_head_dim = 128;
    std::int64_t linear_value_head_dim = 128;
    std::int64_t linear_num_key_heads = 16;
    std::int64_t linear_num_value_heads = 32;
    text_rope rope;
    dtype ssm_state_dtype = dtype::f32;  // mamba_ssm_dtype (vLLM's recurrent-state cache dtype; HF ignores it)
    std::int64_t mtp_num_hidden_layers = 0;  // MTP head layers (mtp.* tensors, ignored by HF)
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> pad_token_id;
    std::optional<std::int64_t> bos_token_id;

    // Rotary dims per full-attention head: int(head_dim × partial_rotary_factor), as HF truncates.
    std::int64_t rotary_dim() const {
        return static_cast<std::int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor);
    }
    // Full attention: q_proj rows hold query and gate per head; k/v rows; o_proj input width.
    std::int64_t q_proj_out() const { return num_attention_heads * head_dim * 2; }
    std::int64_t kv_proj_out() const { return num_key_value_heads * head_dim; }
    std::int64_t attn_out_dim() const { return num_attention_heads * head_dim; }
    std::int64_t gqa_group() const { return num_attention_heads / num_key_value_heads; }
    // Gated DeltaNet: q and k widths (key_dim each), v and z width (value_dim), conv channels (q ‖ k ‖ v).
    std::int64_t linear_key_dim() const { return linear_num_key_heads * linear_key_head_dim; }
    std::int64_t linear_value_dim() const { return linear_num_value_heads * linear_value_head_dim; }
    std::int64_t linear_conv_dim() const { return 2 * linear_key_dim() + linear_value_dim(); }
    std::int64_t linear_value_heads_per_key_head() const { return linear_num_value_heads / linear_num_key_heads; }

    bool is_full_attention(std::int64_t layer) const {
        return layer_types.at(static_cast<std::size_t>(layer)) == layer_type::full_attention;
    }
    std::int64_t num_full_attention_layers() const {
        std::int64_t n = 0;
        for (layer_type t : layer_types) n += t == layer_type::full_attention;
        return n;
    }
    std::int64_t num_linear_attention_layers() const { return num_hidden_layers - num_full_attention_layers(); }
};

// Qwen3_5VisionConfig (config.json "vision_config").
struct vision_config {
    std::int64_t depth = 27;
    std::int64_t hidden_size = 1152;
    std::int64_t intermediate_size = 4304;
    std::int64_t num_heads = 16;
    std::int64_t in_channels = 3;
    std::int64_t patch_size = 16;
    std::int64_t temporal_patch_size = 2;
    std::int64_t spatial_merge_size = 2;
    std::int64_t num_position_embeddings = 2304;
    std::int64_t out_hidden_size = 3584;
    double rope_theta = 10000.0;  // axial 2-D rope base

    std::int64_t head_dim() const { return hidden_size / num_heads; }
    // Side of the learned square position table (validated to be a perfect square).
    std::int64_t num_grid_per_side() const {
        auto s = static_cast<std::int64_t>(std::sqrt(static_cast<double>(num_position_embeddings)));
        while (s * s > num_position_embeddings) --s;
        while ((s + 1) * (s + 1) <= num_position_embeddings) ++s;
        return s;
    }
    std::int64_t merge_unit() const { return spatial_merge_size * spatial_merge_size; }
    std::int64_t merged_hidden_size() const { return hidden_size * merge_unit(); }  // merger fc1 width
    std::int64_t patch_elements() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
};

// Qwen3_5Config: the whole config.json.
struct model_config {
    text_config text;
    vision_config vision;
    std::int64_t image_token_id = 248056;
    std::int64_t video_token_id = 248057;
    std::int64_t vision_start_token_id = 248053;
    std::int64_t vision_end_token_id = 248054;
    // Top-level eos_token_id / pad_token_id when present, else text_config's.
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> pad_token_id;
    bool tie_word_embeddings = false;  // HF ties lm_head from the top-level flag (text_config's is not read)
};

// Qwen2VLImageProcessor settings (preprocessor_config.json). Defaults are the HF class's (Qwen2-VL values:
// patch 14, CLIP mean/std); Qwen3.5 checkpoints override them.
struct preprocessor_config {
    std::int64_t min_pixels = 56 * 56;          // size.shortest_edge (legacy key min_pixels)
    std::int64_t max_pixels = 28 * 28 * 1280;   // size.longest_edge (legacy key max_pixels)
    std::int64_t patch_size = 14;
    std::int64_t temporal_patch_size = 2;
    std::int64_t merge_size = 2;
    std::array<double, 3> image_mean{0.48145466, 0.4578275, 0.40821073};
    std::array<double, 3> image_std{0.26862954, 0.26130258, 0.27577711};
    double rescale_factor = 1.0 / 255.0;
    bool do_resize = true;
    bool do_rescale = true;
    bool do_normalize = true;
    bool do_convert_rgb = true;
    std::int64_t resample = 3;  // PIL code; only 3 (bicubic) is supported

    std::int64_t factor() const { return patch_size * merge_size; }  // smart_resize rounds to multiples of this
};

// Sampling defaults (generation_config.json). Absent fields take GenerationConfig's effective defaults;
// absent eos/pad ids take the model config's, as HF's GenerationConfig.from_model_config does.
struct generation_config {
    std::vector<std::int64_t> eos_token_ids;
    std::optional<std::int64_t> pad_token_id;
    std::optional<std::int64_t> bos_token_id;
    bool do_sample = false;
    double temperature = 1.0;
    std::int64_t top_k = 50;  // 0 disables top-k
    double top_p = 1.0;
    double repetition_penalty = 1.0;
    std::optional<std::int64_t> max_new_tokens;
};

namespace detail {

using json = nlohmann::json;

// A JSON object being read, with the file name and dotted path that every error message names.
// Absent keys take the caller's fallback; a present null is a type error unless the reader says otherwise.
class fields {
public:
    fields(const json* obj, std::string source, std::string path)
        : obj_(obj), source_(std::move(source)), path_(std::move(path)) {}

    std::string where(std::string_view key) const {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }
    [[noreturn]] void fail(std::string_view key, std::string_view what) const {
        throw config_error(source_ + ": " + where(key) + " " + std::string(what));
    }
    void require(bool ok, std::string_view key, std::string_view what) const {
        if (!ok) fail(key, what);
    }

    const json* find(std::string_view key) const {
        if (obj_ == nullptr) return nullptr;
        const auto it = obj_->find(key);
        return it == obj_->end() ? nullptr : &*it;
    }
    bool has(std::string_view key) const {  // present and not null
        const json* v = find(key);
        return v != nullptr && !v->is_null();
    }

    // An integer in [lo, hi]. JSON floats are rejected even when integral (64.0): HF's strict config
    // classes refuse them too.
    std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
        const json* v = find(key);
        return v == nullptr ? fallback : to_integer(*v, key, lo, hi);
    }
    std::int64_t extent(std::string_view key, std::int64_t fallback, std::int64_t hi = max_extent) const {
        return integer(key, fallback, 1, hi);
    }
    std::optional<std::int64_t> optional_integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
        if (!has(key)) return std::nullopt;
        return to_integer(*find(key), key, lo, hi);
    }
    // A JSON list of integers in [lo, hi]; with `scalar_ok` a bare integer is a one-element list.
    // Absent or null gives an empty list.
    std::vector<std::int64_t> integers(std::string_view key, std::int64_t lo, std::int64_t hi, bool scalar_ok) const {
        if (!has(key)) return {};
        const json& v = *find(key);
        if (scalar_ok && v.is_number()) return {to_integer(v, key, lo, hi)};
        require(v.is_array(), key, std::string(scalar_ok ? "must be an integer or a list of integers" : "must be a list of integers") + ", got " + show(v));
        std::vector<std::int64_t> out;
        for (std::size_t i = 0; i < v.size(); ++i) out.push_back(to_integer(v[i], indexed(key, i), lo, hi));
        return out;
    }

    // A finite number (JSON integer or float) satisfying `ok`, described by `requirement` in errors.
    template <class Pred>
    double number(std::string_view key, double fallback, std::string_view requirement, Pred ok) const {
        const json* v = find(key);
        if (v == nullptr) return fallback;
        return to_number(*v, key, requirement, ok);
    }
    // Exactly n such numbers; with `scalar_ok` a bare number is repeated n times.
    template <std::size_t N, class Pred>
    std::array<double, N> numbers(std::string_view key, std::array<double, N> fallback, std::string_view requirement, Pred ok) const {
        const json* v = find(key);
        if (v == nullptr) return fallback;
        std::array<double, N> out{};
        if (v->is_number()) {
            out.fill(to_number(*v, key, requirement, ok));
            return out;
        }
        require(v->is_array() && v->size() == N, key, "must be a number or a list of " + std::to_string(N) + " numbers, got " + show(*v));
        for (std::size_t i = 0; i < N; ++i) out[i] = to_number((*v)[i], indexed(key, i), requirement, ok);
        return out;
    }

    bool boolean(std::string_view key, bool fallback) const {
        const json* v = find(key);
        if (v == nullptr) return fallback;
        require(v->is_boolean(), key, "must be true or false, got " + show(*v));
        return v->get<bool>();
    }
    std::string string(std::string_view key, std::string fallback) const {
        const json* v = find(key);
        if (v == nullptr) return fallback;
        require(v->is_string(), key, "must be a string, got " + show(*v));
        return v->get<std::string>();
    }
    // A nested object; absent or null reads as an empty one (all defaults), as HF treats None sub-configs.
    fields object(std::string_view key) const {
        const json* v = find(key);
        if (v == nullptr || v->is_null()) return {nullptr, source_, where(key)};
        require(v->is_object(), key, "must be a JSON object, got " + show(*v));
        return {v, source_, where(key)};
    }
    bool nonempty_object(std::string_view key) const {
        const json* v = find(key);
        return v != nullptr && v->is_object() && !v->empty();
    }

    // A token id: absent gives `fallback`; must lie in [0, vocab_size).
    std::int64_t token_id(std::string_view key, std::int64_t fallback, std::int64_t vocab_size) const {
        const std::int64_t id = integer(key, fallback, 0, std::numeric_limits<std::int64_t>::max());
        check_token_id(id, key, vocab_size);
        return id;
    }
    std::optional<std::int64_t> optional_token_id(std::string_view key, std::int64_t vocab_size) const {
        auto id = optional_integer(key, 0, std::numeric_limits<std::int64_t>::max());
        if (id) check_token_id(*id, key, vocab_size);
        return id;
    }
    std::vector<std::int64_t> token_ids(std::string_view key, std::int64_t vocab_size) const {
        auto ids = integers(key, 0, std::numeric_limits<std::int64_t>::max(), true);
        const bool scalar = has(key) && find(key)->is_number();
        for (std::size_t i = 0; i < ids.size(); ++i) check_token_id(ids[i], scalar ? std::string(key) : indexed(key, i), vocab_size);
        return ids;
    }

    // a × b × ... for a derived extent, failing (at `key`, as `expr`) above max_derived_extent.
    std::int64_t product(std::string_view key, std::string_view expr, std::initializer_list<std::int64_t> factors) const {
        std::int64_t p = 1;
        for (std::int64_t f : factors) {
            require(f <= max_derived_extent / p, key, "is too large: " + std::string(expr) + " exceeds 2^31");
            p *= f;
        }
        return p;
    }

    // Bounded and non-recursive: the value may be huge or deeply nested (vl::json_summary).
    static std::string show(const json& v) { return json_summary(v, 64); }

private:
    static std::string indexed(std::string_view key, std::size_t i) {
        return std::string(key) + "[" + std::to_string(i) + "]";
    }
    static std::string integer_kind(std::int64_t lo) {
        if (lo == 1) return "a positive integer";
        if (lo == 0) return "a non-negative integer";
        return "an integer >= " + std::to_string(lo);
    }
    std::int64_t to_integer(const json& v, std::string_view key, std::int64_t lo, std::int64_t hi) const {
        const std::string got = ", got " + show(v);
        require(v.is_number_integer(), key, "must be " + integer_kind(lo) + got);
        require(!v.is_number_unsigned() || v.get<std::uint64_t>() <= static_cast<std::uint64_t>(hi), key,
                "must be at most " + std::to_string(hi) + got);
        const auto i = v.get<std::int64_t>();
        require(i >= lo, key, "must be " + integer_kind(lo) + got);
        require(i <= hi, key, "must be at most " + std::to_string(hi) + got);
        return i;
    }
    template <class Pred>
    double to_number(const json& v, std::string_view key, std::string_view requirement, Pred ok) const {
        require(v.is_number(), key, "must be " + std::string(requirement) + ", got " + show(v));
        const auto d = v.get<double>();
        require(std::isfinite(d) && ok(d), key, "must be " + std::string(requirement) + ", got " + show(v));
        return d;
    }
    void check_token_id(std::int64_t id, std::string_view key, std::int64_t vocab_size) const {
        require(id < vocab_size, key, "is out of range: " + std::to_string(id) + " is not below text_config.vocab_size = " + std::to_string(vocab_size));
    }

    const json* obj_;
    std::string source_;
    std::string path_;
};

inline bool is_positive(double v) { return v > 0; }

// Text rope, following PreTrainedConfig.convert_rope_params_to_dict: a non-empty legacy `rope_scaling`
// replaces `rope_parameters`; rope_theta / partial_rotary_factor inside the dict win over the same keys
// next to it, which win over the defaults; rope_type falls back to the legacy "type" key, then "default".
inline text_rope parse_text_rope(const fields& text, std::int64_t head_dim) {
    const fields legacy = text.object("rope_scaling");
    const fields dict = text.nonempty_object("rope_scaling") ? legacy : text.object("rope_parameters");
    text_rope rope;
    rope.theta = (dict.has("rope_theta") ? dict : text).number("rope_theta", rope.theta, "a positive number", is_positive);
    rope.partial_rotary_factor = (dict.has("partial_rotary_factor") ? dict : text)
        .number("partial_rotary_factor", rope.partial_rotary_factor, "a number in (0, 1]", [](double v) { return v > 0 && v <= 1; });

    const std::string_view type_key = dict.has("rope_type") || !dict.has("type") ? "rope_type" : "type";
    const std::string type = dict.string(type_key, "default");
    dict.require(type == "default", type_key, "= \"" + type + "\" is not supported yet (only \"default\")");
    dict.require(dict.boolean("mrope_interleaved", true), "mrope_interleaved",
                 "= false is not supported (HF always uses the interleaved MRoPE layout)");

    const std::int64_t rotary_dim = static_cast<std::int64_t>(static_cast<double>(head_dim) * rope.partial_rotary_factor);
    text.require(rotary_dim > 0 && rotary_dim % 2 == 0, "head_dim",
                 "× partial_rotary_factor gives rotary_dim = " + std::to_string(rotary_dim) + ", which must be even and positive");

    const bool has_section = dict.has("mrope_section");
    if (has_section) {
        const auto s = dict.integers("mrope_section", 0, max_extent, false);
        dict.require(s.size() == 3, "mrope_section", "must have 3 entries (T, H, W), got " + std::to_string(s.size()));
        rope.mrope_section = {s[0], s[1], s[2]};
    }
    const auto& s = rope.mrope_section;
    const std::int64_t sum = s[0] + s[1] + s[2];
    dict.require(sum == rotary_dim / 2, "mrope_section",
                 std::string(has_section ? "" : "(default) ") + "[" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ", " +
                     std::to_string(s[2]) + "] sums to " + std::to_string(sum) + ", must equal rotary_dim / 2 = " +
                     std::to_string(rotary_dim / 2));
    return rope;
}

inline std::vector<layer_type> parse_layer_types(const fields& text, std::int64_t num_layers) {
    // Read (and so validated) even when layer_types makes it unused.
    const std::int64_t interval = text.extent("full_attention_interval", 4);
    std::vector<layer_type> types;
    if (!text.has("layer_types")) {
        for (std::int64_t i = 0; i < num_layers; ++i)
            types.push_back((i + 1) % interval == 0 ? layer_type::full_attention : layer_type::linear_attention);
        return types;
    }
    const json& list = *text.find("layer_types");
    text.require(list.is_array(), "layer_types", "must be a list of layer type names, got " + fields::show(list));
    text.require(list.size() == static_cast<std::size_t>(num_layers), "layer_types",
                 "has " + std::to_string(list.size()) + " entries but num_hidden_layers is " + std::to_string(num_layers));
    for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string key = "layer_types[" + std::to_string(i) + "]";
        const json& v = list[i];
        // "attention" / "mamba" are legacy names that HF remaps (configuration_utils._LEGACY_LAYER_TYPE_REMAP).
        if (v == "full_attention" || v == "attention") types.push_back(layer_type::full_attention);
        else if (v == "linear_attention" || v == "mamba") types.push_back(layer_type::linear_attention);
        else text.fail(key, "must be \"linear_attention\" or \"full_attention\", got " + fields::show(v));
    }
    return types;
}

inline dtype parse_ssm_dtype(const fields& text) {
    const std::string name = text.string("mamba_ssm_dtype", "float32");
    if (name == "float32") return dtype::f32;
    if (name == "bfloat16") return dtype::bf16;
    if (name == "float16") return dtype::f16;
    text.fail("mamba_ssm_dtype", "must be \"float32\", \"bfloat16\" or \"float16\", got \"" + name + "\"");
}

inline text_config parse_text_config(const fields& f) {
    const std::string model_type = f.string("model_type", "qwen3_5_text");
    f.require(model_type == "qwen3_5_text", "model_type", "must be \"qwen3_5_text\", got \"" + model_type + "\"");

    text_config t;
    t.vocab_size = f.extent("vocab_size", t.vocab_size);
    t.hidden_size = f.extent("hidden_size", t.hidden_size);
    t.intermediate_size = f.extent("intermediate_size", t.intermediate_size);
    t.num_hidden_layers = f.extent("num_hidden_layers", t.num_hidden_layers, max_layers);
    t.num_attention_heads = f.extent("num_attention_heads", t.num_attention_heads);
    t.num_key_value_heads = f.extent("num_key_value_heads", t.num_key_value_heads);
    t.head_dim = f.extent("head_dim", t.head_dim);
    t.max_position_embeddings = f.extent("max_position_embeddings", t.max_position_embeddings);
    t.rms_norm_eps = f.number("rms_norm_eps", t.rms_norm_eps, "a positive number", is_positive);
    t.linear_conv_kernel_dim = f.extent("linear_conv_kernel_dim", t.linear_conv_kernel_dim);
    t.linear_key_head_dim = f.extent("linear_key_head_dim", t.linear_key_head_dim);
    t.linear_value_head_dim = f.extent("linear_value_head_dim", t.linear_value_head_dim);
    t.linear_num_key_heads = f.extent("linear_num_key_heads", t.linear_num_key_heads);
    t.linear_num_value_heads = f.extent("linear_num_value_heads", t.linear_num_value_heads);
    t.mtp_num_hidden_layers = f.integer("mtp_num_hidden_layers", t.mtp_num_hidden_layers, 0, max_layers);
    t.ssm_state_dtype = parse_ssm_dtype(f);
    t.layer_types = parse_layer_types(f, t.num_hidden_layers);
    t.rope = parse_text_rope(f, t.head_dim);

    const std::string act = f.string("hidden_act", "silu");
    f.require(act == "silu", "hidden_act", "= \"" + act + "\" is not supported (only \"silu\")");
    f.require(!f.boolean("attention_bias", false), "attention_bias", "= true is not supported (Qwen3.5 has no attention biases)");
    f.require(f.boolean("attn_output_gate", true), "attn_output_gate", "= false is not supported (HF always applies the output gate)");

    f.require(t.num_attention_heads % t.num_key_value_heads == 0, "num_attention_heads",
              "(" + std::to_string(t.num_attention_heads) + ") must be a multiple of " + f.where("num_key_value_heads") + " (" +
                  std::to_string(t.num_key_value_heads) + ")");
    f.require(t.linear_num_value_heads % t.linear_num_key_heads == 0, "linear_num_value_heads",
              "(" + std::to_string(t.linear_num_value_heads) + ") must be a multiple of " + f.where("linear_num_key_heads") + " (" +
                  std::to_string(t.linear_num_key_heads) + ")");
    f.product("num_attention_heads", "num_attention_heads × head_dim × 2 (q_proj rows)", {t.num_attention_heads, t.head_dim, 2});
    f.product("num_key_value_heads", "num_key_value_heads × head_dim", {t.num_key_value_heads, t.head_dim});
    const std::int64_t key_dim = f.product("linear_num_key_heads", "linear_num_key_heads × linear_key_head_dim × 2", {t.linear_num_key_heads, t.linear_key_head_dim, 2});
    const std::int64_t value_dim = f.product("linear_num_value_heads", "linear_num_value_heads × linear_value_head_dim", {t.linear_num_value_heads, t.linear_value_head_dim});
    f.require(key_dim <= max_derived_extent - value_dim, "linear_num_value_heads", "is too large: the GDN conv_dim exceeds 2^31");

    t.eos_token_ids = f.token_ids("eos_token_id", t.vocab_size);
    t.pad_token_id = f.optional_token_id("pad_token_id", t.vocab_size);
    t.bos_token_id = f.optional_token_id("bos_token_id", t.vocab_size);
    return t;
}

inline vision_config parse_vision_config(const fields& f) {
    // Old checkpoints carry "qwen3_5" here; HF rewrites it to "qwen3_5_vision".
    const std::string model_type = f.string("model_type", "qwen3_5_vision");
    f.require(model_type == "qwen3_5_vision" || model_type == "qwen3_5", "model_type",
              "must be \"qwen3_5_vision\", got \"" + model_type + "\"");

    vision_config v;
    v.depth = f.extent("depth", v.depth, max_layers);
    v.hidden_size = f.extent("hidden_size", v.hidden_size);
    v.intermediate_size = f.extent("intermediate_size", v.intermediate_size);
    v.num_heads = f.extent("num_heads", v.num_heads);
    v.in_channels = f.extent("in_channels", v.in_channels);
    v.patch_size = f.extent("patch_size", v.patch_size);
    v.temporal_patch_size = f.extent("temporal_patch_size", v.temporal_patch_size);
    v.spatial_merge_size = f.extent("spatial_merge_size", v.spatial_merge_size);
    v.num_position_embeddings = f.extent("num_position_embeddings", v.num_position_embeddings);
    v.out_hidden_size = f.extent("out_hidden_size", v.out_hidden_size);

    const std::string act = f.string("hidden_act", "gelu_pytorch_tanh");
    f.require(act == "gelu_pytorch_tanh", "hidden_act", "= \"" + act + "\" is not supported (only \"gelu_pytorch_tanh\")");
    if (f.has("deepstack_visual_indexes")) {
        const json& ds = *f.find("deepstack_visual_indexes");
        f.require(ds.is_array() && ds.empty(), "deepstack_visual_indexes",
                  "must be empty: Qwen3.5/3.6 has no DeepStack (that is Qwen3-VL), got " + fields::show(ds));
    }

    const fields rope = f.object("rope_parameters");
    v.rope_theta = (rope.has("rope_theta") ? rope : f).number("rope_theta", v.rope_theta, "a positive number", is_positive);
    const std::string type = rope.string("rope_type", "axial");
    rope.require(type == "axial" || type == "default", "rope_type", "= \"" + type + "\" is not supported (only \"axial\")");

    f.require(v.hidden_size % v.num_heads == 0, "hidden_size",
              "(" + std::to_string(v.hidden_size) + ") must be a multiple of " + f.where("num_heads") + " (" + std::to_string(v.num_heads) + ")");
    // The axial rope rotates head_dim/2 dims by row and head_dim/2 by column, in rotate-half pairs.
    f.require(v.head_dim() % 4 == 0, "num_heads",
              "gives head_dim = hidden_size / num_heads = " + std::to_string(v.head_dim()) + ", which must be a multiple of 4 (2-D rope)");
    const std::int64_t side = v.num_grid_per_side();
    f.require(side * side == v.num_position_embeddings, "num_position_embeddings",
              "must be a perfect square (a square grid table), got " + std::to_string(v.num_position_embeddings));
    f.product("spatial_merge_size", "hidden_size × spatial_merge_size^2", {v.hidden_size, v.spatial_merge_size, v.spatial_merge_size});
    f.product("patch_size", "in_channels × temporal_patch_size × patch_size^2", {v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size});
    return v;
}

// A JSON file of the model: `file_or_dir` itself when it is a file (an explicit path, read as given), or
// `name` inside it when it is a directory (then confined to that directory: a symlink out of it is
// refused). Either way a regular file of at most max_json_file_bytes, read once by descriptor (io/file.hpp).
struct json_file {
    std::filesystem::path path;
    std::string text;
};
inline json_file read_json_file(const std::filesystem::path& file_or_dir, std::string_view name) {
    std::error_code ec;
    if (std::filesystem::is_directory(file_or_dir, ec))
        return {file_or_dir / name, read_file_in_dir(file_or_dir, name, max_json_file_bytes, "a JSON config")};
    return {file_or_dir, read_file_capped(file_or_dir, max_json_file_bytes, "a JSON config")};
}

// The text parsed with vlgraph's JSON depth limit (io/json.hpp).
inline json parse_json_text(const std::string& text, const std::string& source) { return parse_json(text, source); }

inline fields top_level(const json& j, std::string source) {
    if (!j.is_object()) throw config_error(source + ": must be a JSON object, got " + fields::show(j));
    return {&j, std::move(source), ""};
}

}  // namespace detail

// Parses and validates a config.json document. `source_name` prefixes every error message.
inline model_config parse_config(const nlohmann::json& j, std::string_view source_name = "config.json") {
    const detail::fields f = detail::top_level(j, std::string(source_name));
    f.require(f.has("model_type"), "model_type", "is missing (expected \"qwen3_5\")");
    const std::string model_type = f.string("model_type", "");
    f.require(model_type == "qwen3_5", "model_type",
              "is \"" + model_type + "\"; only \"qwen3_5\" (Qwen3.5/3.6 dense VLM, Qwen3_5ForConditionalGeneration) is supported");

    model_config c;
    c.text = detail::parse_text_config(f.object("text_config"));
    c.vision = detail::parse_vision_config(f.object("vision_config"));
    const std::int64_t vocab = c.text.vocab_size;
    c.image_token_id = f.token_id("image_token_id", c.image_token_id, vocab);
    c.video_token_id = f.token_id("video_token_id", c.video_token_id, vocab);
    c.vision_start_token_id = f.token_id("vision_start_token_id", c.vision_start_token_id, vocab);
    c.vision_end_token_id = f.token_id("vision_end_token_id", c.vision_end_token_id, vocab);
    c.eos_token_ids = f.has("eos_token_id") ? f.token_ids("eos_token_id", vocab) : c.text.eos_token_ids;
    c.pad_token_id = f.has("pad_token_id") ? f.optional_token_id("pad_token_id", vocab) : c.text.pad_token_id;
    c.tie_word_embeddings = f.boolean("tie_word_embeddings", c.tie_word_embeddings);

    // The merger output replaces <|image_pad|> embeddings, so its width must be the LM's.
    f.require(c.vision.out_hidden_size == c.text.hidden_size, "vision_config.out_hidden_size",
              "(" + std::to_string(c.vision.out_hidden_size) + ") must equal text_config.hidden_size (" +
                  std::to_string(c.text.hidden_size) + "): merged image features are spliced into the LM embeddings");
    return c;
}

// Reads `file_or_dir` (a config.json, or a model directory holding one).
inline model_config load_config(const std::filesystem::path& file_or_dir) {
    const auto file = detail::read_json_file(file_or_dir, "config.json");
    return parse_config(detail::parse_json_text(file.text, file.path.string()), file.path.string());
}

// Checks that an image processor produces what the vision tower expects.
inline void check_compatible(const preprocessor_config& p, const vision_config& v, std::string_view source_name = "preprocessor_config.json") {
    const auto check = [&](std::string_view key, std::int64_t got, std::string_view vision_key, std::int64_t want) {
        if (got != want)
            throw config_error(std::string(source_name) + ": " + std::string(key) + " (" + std::to_string(got) +
                               ") does not match the model's vision_config." + std::string(vision_key) + " (" + std::to_string(want) + ")");
    };
    check("patch_size", p.patch_size, "patch_size", v.patch_size);
    check("temporal_patch_size", p.temporal_patch_size, "temporal_patch_size", v.temporal_patch_size);
    check("merge_size", p.merge_size, "spatial_merge_size", v.spatial_merge_size);
}

inline preprocessor_config parse_preprocessor_config(const nlohmann::json& j, std::string_view source_name = "preprocessor_config.json") {
    const detail::fields f = detail::top_level(j, std::string(source_name));
    preprocessor_config p;
    // `size` replaces the default dict whole (HF then needs both keys); legacy min_pixels / max_pixels override it.
    if (f.has("size")) {
        const detail::fields size = f.object("size");
        size.require(size.has("shortest_edge") && size.has("longest_edge"), "shortest_edge", "and longest_edge must both be given");
        p.min_pixels = size.extent("shortest_edge", p.min_pixels, max_image_pixels);
        p.max_pixels = size.extent("longest_edge", p.max_pixels, max_image_pixels);
    }
    p.min_pixels = f.extent("min_pixels", p.min_pixels, max_image_pixels);
    p.max_pixels = f.extent("max_pixels", p.max_pixels, max_image_pixels);
    p.patch_size = f.extent("patch_size", p.patch_size);
    p.temporal_patch_size = f.extent("temporal_patch_size", p.temporal_patch_size);
    p.merge_size = f.extent("merge_size", p.merge_size);
    p.image_mean = f.numbers("image_mean", p.image_mean, "a finite number", [](double) { return true; });
    p.image_std = f.numbers("image_std", p.image_std, "a positive number", detail::is_positive);
    p.rescale_factor = f.number("rescale_factor", p.rescale_factor, "a positive number", detail::is_positive);
    p.do_resize = f.boolean("do_resize", p.do_resize);
    p.do_rescale = f.boolean("do_rescale", p.do_rescale);
    p.do_normalize = f.boolean("do_normalize", p.do_normalize);
    p.do_convert_rgb = f.boolean("do_convert_rgb", p.do_convert_rgb);
    p.resample = f.integer("resample", p.resample, 0, 5);
    f.require(p.resample == 3, "resample", "= " + std::to_string(p.resample) + " is not supported yet (only 3 = bicubic)");
    f.require(p.min_pixels <= p.max_pixels, "size",
              "shortest_edge (min pixels, " + std::to_string(p.min_pixels) + ") exceeds longest_edge (max pixels, " + std::to_string(p.max_pixels) + ")");
    f.product("patch_size", "patch_size × merge_size", {p.patch_size, p.merge_size});
    return p;
}

inline preprocessor_config parse_preprocessor_config(const nlohmann::json& j, const vision_config& vision,
                                                     std::string_view source_name = "preprocessor_config.json") {
    preprocessor_config p = parse_preprocessor_config(j, source_name);
    check_compatible(p, vision, source_name);
    return p;
}

// Reads preprocessor_config.json (a file, or a model directory holding one).
inline preprocessor_config load_preprocessor_config(const std::filesystem::path& file_or_dir) {
    const auto file = detail::read_json_file(file_or_dir, "preprocessor_config.json");
    return parse_preprocessor_config(detail::parse_json_text(file.text, file.path.string()), file.path.string());
}
inline preprocessor_config load_preprocessor_config(const std::filesystem::path& file_or_dir, const vision_config& vision) {
    const auto file = detail::read_json_file(file_or_dir, "preprocessor_config.json");
    return parse_preprocessor_config(detail::parse_json_text(file.text, file.path.string()), vision, file.path.string());
}

// Parses generation_config.json; ids are checked against `model`'s vocabulary, and absent eos / pad ids
// are taken from `model`.
inline generation_config parse_generation_config(const nlohmann::json& j, const model_config& model,
                                                 std::string_view source_name = "generation_config.json") {
    const detail::fields f = detail::top_level(j, std::string(source_name));
    const std::int64_t vocab = model.text.vocab_size;
    generation_config g;
    g.eos_token_ids = f.has("eos_token_id") ? f.token_ids("eos_token_id", vocab) : model.eos_token_ids;
    g.pad_token_id = f.has("pad_token_id") ? f.optional_token_id("pad_token_id", vocab) : model.pad_token_id;
    g.bos_token_id = f.optional_token_id("bos_token_id", vocab);
    g.do_sample = f.boolean("do_sample", g.do_sample);
    g.temperature = f.number("temperature", g.temperature, "a non-negative number", [](double v) { return v >= 0; });
    f.require(!g.do_sample || g.temperature > 0, "temperature", "must be positive when do_sample is true");
    g.top_k = f.integer("top_k", g.top_k, 0, std::numeric_limits<std::int32_t>::max());
    g.top_p = f.number("top_p", g.top_p, "a number in (0, 1]", [](double v) { return v > 0 && v <= 1; });
    g.repetition_penalty = f.number("repetition_penalty", g.repetition_penalty, "a positive number", detail::is_positive);
    g.max_new_tokens = f.optional_integer("max_new_tokens", 1, std::numeric_limits<std::int32_t>::max());
    return g;
}

// Reads generation_config.json from a model directory (or the file itself); a missing file gives the
// defaults with `model`'s eos / pad ids.
inline generation_config load_generation_config(const std::filesystem::path& file_or_dir, const model_config& model) {
    std::error_code ec;
    const auto path = std::filesystem::is_directory(file_or_dir, ec) ? file_or_dir / "generation_config.json" : file_or_dir;
    if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec)))
        return parse_generation_config(nlohmann::json::object(), model, path.string());
    const auto file = detail::read_json_file(file_or_dir, "generation_config.json");
    return parse_generation_config(detail::parse_json_text(file.text, file.path.string()), model, file.path.string());
}

}  // namespace vl::qwen36
