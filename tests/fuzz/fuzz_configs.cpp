// libFuzzer target: the model directory's JSON configs and the sampler's options.
//
// Input: the first byte says what the rest is —
//   'C'  config.json            -> parse_config, and the expected tensor list of a small config
//   'P'  preprocessor_config.json, checked against the tiny checkpoint's vision config
//                                -> plan_image for a few image sizes (the pixel caps hold whatever it says)
//   'G'  generation_config.json, ids checked against the tiny checkpoint's vocabulary
//                                -> sampling_options::from -> one sampler draw over fixed logits
//   'S'  raw sampler options and logits: 4 doubles (temperature, top_p, repetition_penalty, a top_k), a
//        seed, a greedy flag, then floats as logits and the rest as context ids (NaN, ±Inf, any bits)
// Every refusal must be a vl::error (JSON syntax errors included); a sampled token must be a valid index.
// Build and run: scripts/fuzz.sh configs SECONDS (seeds: corpus/configs/).
#include <vlgraph/io/json.hpp>
#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/generate.hpp>
#include <vlgraph/models/qwen36/preprocess.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

namespace q = vl::qwen36;

const q::model_config& tiny() {
    static const q::model_config c = q::load_config(VLGRAPH_FUZZ_TINY_MODEL);
    return c;
}

void check_token(std::int32_t token, std::size_t vocab) {
    if (token < 0 || static_cast<std::size_t>(token) >= vocab) __builtin_trap();
}

void config_json(const nlohmann::json& j) {
    const q::model_config config = q::parse_config(j);
    // Only small configs: the list grows with the layer count, which may legitimately be 65536.
    if (config.text.num_hidden_layers + config.vision.depth <= 256) (void)q::expected_tensors(config, q::part::all);
}

void preprocessor_json(const nlohmann::json& j) {
    const q::preprocessor_config p = q::parse_preprocessor_config(j, tiny().vision);
    for (const auto [h, w] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {32, 32}, {448, 448}, {1, 100000}, {8192, 8192}, {60000, 60000}}) {
        try {
            const q::image_info info = q::plan_image(h, w, p);
            if (info.resized_height * info.resized_width > q::max_image_pixels || info.tokens < 0) __builtin_trap();
        } catch (const vl::error&) {
        }
    }
}

void generation_json(const nlohmann::json& j) {
    const q::generation_config g = q::parse_generation_config(j, tiny());
    q::sampler s(q::sampling_options::from(g, 7));
    const std::vector<float> logits{0.5f, -1.0f, 3.0f, 2.5f, -std::numeric_limits<float>::infinity(), 0.0f};
    const std::vector<std::int64_t> context{2, 3, 99};
    check_token(s.next(logits, context), logits.size());
}

template <class T>
T take(const std::uint8_t*& p, const std::uint8_t* end) {
    T v{};
    if (static_cast<std::size_t>(end - p) >= sizeof(T)) {
        std::memcpy(&v, p, sizeof(T));
        p += sizeof(T);
    }
    return v;
}

void raw_sampler(const std::uint8_t* p, const std::uint8_t* end) {
    q::sampling_options o;
    o.temperature = take<double>(p, end);
    o.top_p = take<double>(p, end);
    o.repetition_penalty = take<double>(p, end);
    o.top_k = take<std::int64_t>(p, end);
    o.seed = take<std::uint64_t>(p, end);
    o.greedy = (take<std::uint8_t>(p, end) & 1) != 0;
    const std::size_t n_logits = take<std::uint8_t>(p, end);
    std::vector<float> logits;
    for (std::size_t i = 0; i < n_logits && end - p >= 4; ++i) logits.push_back(take<float>(p, end));
    std::vector<std::int64_t> context;
    while (end - p >= 8) context.push_back(take<std::int64_t>(p, end));
    q::sampler s(o);
    for (int step = 0; step < 3; ++step) check_token(s.next(logits, context), logits.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t* rest = data + 1;
    const std::uint8_t* end = data + size;
    // JSON as the loaders read it: vl::parse_json, with its depth limit.
    const auto json = [&] { return vl::parse_json(std::string_view(reinterpret_cast<const char*>(rest), size - 1), "fuzz"); };
    try {
        switch (data[0]) {
            case 'C': config_json(json()); break;
            case 'P': preprocessor_json(json()); break;
            case 'G': generation_json(json()); break;
            case 'S': raw_sampler(rest, end); break;
            default: break;
        }
    } catch (const vl::error&) {
    }
    return 0;
}
