// Qwen3.5/3.6 config parsing and validation (models/qwen36/config.hpp) and the expected checkpoint
// tensors derived from it (models/qwen36/weights.hpp).
#define BOOST_TEST_MODULE qwen36_config
#include <boost/test/unit_test.hpp>

#include <vlgraph/models/qwen36/config.hpp>
#include <vlgraph/models/qwen36/weights.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <sys/stat.h>

using nlohmann::json;
namespace q = vl::qwen36;

namespace {

// The Qwen3.6-27B config.json as spec §1 gives it.
json config_27b() {
    return json::parse(R"({
  "architectures": ["Qwen3_5ForConditionalGeneration"],
  "model_type": "qwen3_5",
  "image_token_id": 248056,
  "video_token_id": 248057,
  "vision_start_token_id": 248053,
  "vision_end_token_id": 248054,
  "eos_token_id": 248046,
  "pad_token_id": 248044,
  "tie_word_embeddings": false,
  "text_config": {
    "model_type": "qwen3_5_text",
    "vocab_size": 248320,
    "hidden_size": 5120,
    "intermediate_size": 17408,
    "num_hidden_layers": 64,
    "full_attention_interval": 4,
    "num_attention_heads": 24,
    "num_key_value_heads": 4,
    "head_dim": 256,
    "attention_bias": false,
    "attn_output_gate": true,
    "attention_dropout": 0.0,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000000, "partial_rotary_factor": 0.25,
                        "mrope_section": [11, 11, 10], "mrope_interleaved": true},
    "max_position_embeddings": 262144,
    "rms_norm_eps": 1e-06,
    "hidden_act": "silu",
    "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 128,
    "linear_value_head_dim": 128,
    "linear_num_key_heads": 16,
    "linear_num_value_heads": 48,
    "tie_word_embeddings": false,
    "eos_token_id": 248044,
    "bos_token_id": null,
    "pad_token_id": null,
    "mamba_ssm_dtype": "float32",
    "mtp_num_hidden_layers": 1,
    "mtp_use_dedicated_embeddings": false,
    "mlp_only_layers": []
  },
  "vision_config": {
    "model_type": "qwen3_5",
    "depth": 27,
    "hidden_size": 1152,
    "num_heads": 16,
    "intermediate_size": 4304,
    "hidden_act": "gelu_pytorch_tanh",
    "in_channels": 3,
    "patch_size": 16,
    "temporal_patch_size": 2,
    "spatial_merge_size": 2,
    "num_position_embeddings": 2304,
    "out_hidden_size": 5120,
    "deepstack_visual_indexes": [],
    "initializer_range": 0.02
  }
})");
}

json with_layer_types(json j) {
    json types = json::array();
    for (int i = 0; i < 64; ++i) types.push_back(i % 4 == 3 ? "full_attention" : "linear_attention");
    j["text_config"]["layer_types"] = types;
    return j;
}

// Asserts that parsing throws vl::config_error whose message contains `needle`.
void expect_config_error(const json& j, const std::string& needle) {
    try {
        q::parse_config(j);
    } catch (const vl::config_error& e) {
        const std::string msg = e.what();
        BOOST_TEST((msg.find(needle) != std::string::npos), "message \"" << msg << "\" lacks \"" << needle << "\"");
        BOOST_TEST((msg.rfind("config.json: ", 0) == 0), "message \"" << msg << "\" does not start with the file name");
        return;
    }
    BOOST_ERROR("no vl::config_error for a config expecting \"" << needle << "\"");
}

// "/text_config/num_heads" -> "text_config.num_heads"
std::string dotted(const std::string& pointer) {
    std::string s = pointer.substr(1);
    for (char& ch : s)
        if (ch == '/') ch = '.';
    return s;
}

std::filesystem::path temp_dir(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / ("vlgraph_test_qwen36_config_" + name);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

void write_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(real_27b_config_derives_spec_values) {
    const q::model_config c = q::parse_config(config_27b());
    const q::text_config& t = c.text;
    BOOST_TEST(t.vocab_size == 248320);
    BOOST_TEST(t.hidden_size == 5120);
    BOOST_TEST(t.intermediate_size == 17408);
    BOOST_TEST(t.num_hidden_layers == 64);
    BOOST_TEST(t.num_attention_heads == 24);
    BOOST_TEST(t.num_key_value_heads == 4);
    BOOST_TEST(t.gqa_group() == 6);
    BOOST_TEST(t.head_dim == 256);
    BOOST_TEST(t.max_position_embeddings == 262144);
    BOOST_TEST(t.rms_norm_eps == 1e-6);
    BOOST_TEST(t.rope.theta == 1e7);
    BOOST_TEST(t.rope.partial_rotary_factor == 0.25);
    BOOST_TEST(t.rotary_dim() == 64);
    BOOST_TEST((t.rope.mrope_section == std::array<std::int64_t, 3>{11, 11, 10}));
    BOOST_TEST(t.q_proj_out() == 12288);
    BOOST_TEST(t.kv_proj_out() == 1024);
    BOOST_TEST(t.attn_out_dim() == 6144);
    BOOST_TEST(t.linear_key_dim() == 2048);
    BOOST_TEST(t.linear_value_dim() == 6144);
    BOOST_TEST(t.linear_conv_dim() == 10240);
    BOOST_TEST(t.linear_value_heads_per_key_head() == 3);
    BOOST_TEST(t.linear_conv_kernel_dim == 4);
    BOOST_TEST(t.num_full_attention_layers() == 16);
    BOOST_TEST(t.num_linear_attention_layers() == 48);
    for (std::int64_t i = 0; i < 64; ++i) BOOST_TEST(t.is_full_attention(i) == (i % 4 == 3), "layer " << i);
    BOOST_TEST((t.ssm_state_dtype == vl::dtype::f32));
    BOOST_TEST(t.mtp_num_hidden_layers == 1);
    BOOST_TEST((t.eos_token_ids == std::vector<std::int64_t>{248044}));
    BOOST_TEST(!t.pad_token_id.has_value());

    const q::vision_config& v = c.vision;
    BOOST_TEST(v.depth == 27);
    BOOST_TEST(v.hidden_size == 1152);
    BOOST_TEST(v.num_heads == 16);
    BOOST_TEST(v.head_dim() == 72);
    BOOST_TEST(v.intermediate_size == 4304);
    BOOST_TEST(v.patch_size == 16);
    BOOST_TEST(v.temporal_patch_size == 2);
    BOOST_TEST(v.spatial_merge_size == 2);
    BOOST_TEST(v.num_grid_per_side() == 48);
    BOOST_TEST(v.merged_hidden_size() == 4608);
    BOOST_TEST(v.patch_elements() == 1536);
    BOOST_TEST(v.out_hidden_size == 5120);
    BOOST_TEST(v.rope_theta == 10000.0);

    BOOST_TEST(c.image_token_id == 248056);
    BOOST_TEST(c.video_token_id == 248057);
    BOOST_TEST(c.vision_start_token_id == 248053);
    BOOST_TEST(c.vision_end_token_id == 248054);
    BOOST_TEST((c.eos_token_ids == std::vector<std::int64_t>{248046}));  // top level wins over text_config
    BOOST_TEST((c.pad_token_id == 248044));
    BOOST_TEST(!c.tie_word_embeddings);

    // An explicit layer_types list gives the same layout.
    BOOST_TEST((q::parse_config(with_layer_types(config_27b())).text.layer_types == t.layer_types));
}

BOOST_AUTO_TEST_CASE(absent_fields_take_hf_defaults) {
    // HF's own defaults are inconsistent (vision out_hidden_size 3584 vs text hidden_size 4096).
    expect_config_error(json{{"model_type", "qwen3_5"}}, "vision_config.out_hidden_size");

    const auto c = q::parse_config(json{{"model_type", "qwen3_5"}, {"vision_config", {{"out_hidden_size", 4096}}}});
    const q::text_config& t = c.text;
    BOOST_TEST(t.vocab_size == 248320);
    BOOST_TEST(t.hidden_size == 4096);
    BOOST_TEST(t.intermediate_size == 12288);
    BOOST_TEST(t.num_hidden_layers == 32);
    BOOST_TEST(t.num_attention_heads == 16);
    BOOST_TEST(t.num_key_value_heads == 4);
    BOOST_TEST(t.head_dim == 256);
    BOOST_TEST(t.max_position_embeddings == 32768);
    BOOST_TEST(t.linear_num_value_heads == 32);
    BOOST_TEST(t.rope.theta == 10000.0);
    BOOST_TEST(t.rope.partial_rotary_factor == 0.25);
    BOOST_TEST((t.rope.mrope_section == std::array<std::int64_t, 3>{11, 11, 10}));
    BOOST_TEST(t.layer_types.size() == 32u);
    BOOST_TEST(t.num_full_attention_layers() == 8);
    BOOST_TEST(t.is_full_attention(3));
    BOOST_TEST(!t.is_full_attention(4));
    BOOST_TEST(t.eos_token_ids.empty());
    BOOST_TEST(c.eos_token_ids.empty());
    BOOST_TEST(!c.pad_token_id.has_value());
    BOOST_TEST(c.vision.depth == 27);
    BOOST_TEST(c.vision.num_position_embeddings == 2304);
    BOOST_TEST(c.image_token_id == 248056);

    // full_attention_interval only matters when layer_types is absent.
    json j = config_27b();
    j["text_config"]["full_attention_interval"] = 2;
    const auto every_other = q::parse_config(j).text;
    BOOST_TEST(every_other.num_full_attention_layers() == 32);
    BOOST_TEST(every_other.is_full_attention(1));
    BOOST_TEST(q::parse_config(with_layer_types(j)).text.num_full_attention_layers() == 16);

    // Legacy layer type names are remapped as HF does.
    j = with_layer_types(config_27b());
    j["text_config"]["layer_types"][0] = "attention";
    j["text_config"]["layer_types"][3] = "mamba";
    const auto remapped = q::parse_config(j).text;
    BOOST_TEST(remapped.is_full_attention(0));
    BOOST_TEST(!remapped.is_full_attention(3));
}

BOOST_AUTO_TEST_CASE(legacy_rope_fields) {
    json j = config_27b();
    auto& t = j["text_config"];
    t.erase("rope_parameters");
    t["rope_theta"] = 5000000.0;
    t["partial_rotary_factor"] = 0.5;  // rotary_dim 128: mrope_section must sum to 64
    t["rope_scaling"] = {{"type", "default"}, {"mrope_section", {24, 20, 20}}, {"mrope_interleaved", true}};
    auto rope = q::parse_config(j).text.rope;
    BOOST_TEST(rope.theta == 5e6);
    BOOST_TEST(rope.partial_rotary_factor == 0.5);
    BOOST_TEST((rope.mrope_section == std::array<std::int64_t, 3>{24, 20, 20}));

    // Keys inside the rope dict win over the same keys next to it.
    t["rope_scaling"]["rope_theta"] = 7.0;
    t["rope_scaling"]["partial_rotary_factor"] = 0.25;
    t["rope_scaling"]["mrope_section"] = {11, 11, 10};
    rope = q::parse_config(j).text.rope;
    BOOST_TEST(rope.theta == 7.0);
    BOOST_TEST(rope.partial_rotary_factor == 0.25);

    // A non-empty rope_scaling replaces rope_parameters; an empty one does not.
    t["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 3.0}};
    BOOST_TEST(q::parse_config(j).text.rope.theta == 7.0);
    t["rope_scaling"] = json::object();
    t["partial_rotary_factor"] = 0.25;
    BOOST_TEST(q::parse_config(j).text.rope.theta == 3.0);

    // No rope dict and no rope_theta: HF's default_theta.
    t.erase("rope_scaling");
    t.erase("rope_parameters");
    t.erase("rope_theta");
    BOOST_TEST(q::parse_config(j).text.rope.theta == 10000.0);

    // Vision: legacy "default" rope type means axial; theta from rope_parameters.
    json k = config_27b();
    k["vision_config"]["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 20000}};
    BOOST_TEST(q::parse_config(k).vision.rope_theta == 20000.0);
}

BOOST_AUTO_TEST_CASE(bad_numeric_fields_name_the_field) {
    // (JSON pointer, smallest valid value)
    const std::vector<std::pair<std::string, std::int64_t>> fields = {
        {"/text_config/vocab_size", 1}, {"/text_config/hidden_size", 1}, {"/text_config/intermediate_size", 1},
        {"/text_config/num_hidden_layers", 1}, {"/text_config/num_attention_heads", 1},
        {"/text_config/num_key_value_heads", 1}, {"/text_config/head_dim", 1},
        {"/text_config/max_position_embeddings", 1}, {"/text_config/linear_conv_kernel_dim", 1},
        {"/text_config/linear_key_head_dim", 1}, {"/text_config/linear_value_head_dim", 1},
        {"/text_config/linear_num_key_heads", 1}, {"/text_config/linear_num_value_heads", 1},
        {"/text_config/full_attention_interval", 1}, {"/text_config/mtp_num_hidden_layers", 0},
        {"/text_config/eos_token_id", 0}, {"/text_config/rope_parameters/mrope_section/0", 0},
        {"/vision_config/depth", 1}, {"/vision_config/hidden_size", 1}, {"/vision_config/intermediate_size", 1},
        {"/vision_config/num_heads", 1}, {"/vision_config/in_channels", 1}, {"/vision_config/patch_size", 1},
        {"/vision_config/temporal_patch_size", 1}, {"/vision_config/spatial_merge_size", 1},
        {"/vision_config/num_position_embeddings", 1}, {"/vision_config/out_hidden_size", 1},
        {"/image_token_id", 0}, {"/video_token_id", 0}, {"/vision_start_token_id", 0}, {"/vision_end_token_id", 0},
        {"/eos_token_id", 0}, {"/pad_token_id", 0},
    };
    std::vector<json> bad_values = {json(-1), json(std::int64_t{1} << 31), json(std::uint64_t{1} << 63), json(64.5),
                                    json(64.0), json("64"), json(true), json::array({64})};
    for (const auto& [pointer, lowest] : fields) {
        // Nullable ids (eos/pad) and list-valued ones are exercised separately below.
        const bool nullable = pointer.ends_with("eos_token_id") || pointer.ends_with("pad_token_id");
        std::vector<json> values = bad_values;
        if (lowest == 1) values.push_back(json(0));
        if (!nullable) values.push_back(json(nullptr));
        std::string path = dotted(pointer);
        if (path.ends_with(".0")) path = path.substr(0, path.size() - 2);
        for (const json& value : values) {
            if (pointer.ends_with("eos_token_id") && value.is_array()) continue;  // a list of ids is valid
            json j = config_27b();
            j[json::json_pointer(pointer)] = value;
            BOOST_TEST_CONTEXT(pointer << " = " << value.dump()) { expect_config_error(j, path); }
        }
    }
    std::vector<std::pair<std::string, json>> floats = {
        {"/text_config/rms_norm_eps", json(0.0)},        {"/text_config/rms_norm_eps", json(-1e-6)},
        {"/text_config/rms_norm_eps", json("1e-6")},     {"/text_config/rms_norm_eps", json(nullptr)},
        {"/text_config/rms_norm_eps", json(std::numeric_limits<double>::infinity())},      {"/text_config/rope_parameters/rope_theta", json(0)},
        {"/text_config/rope_parameters/rope_theta", json(-10000)},
        {"/text_config/rope_parameters/partial_rotary_factor", json(0.0)},
        {"/text_config/rope_parameters/partial_rotary_factor", json(1.5)},
        {"/vision_config/rope_parameters", json{{"rope_theta", -1}}},
    };
    for (const auto& [pointer, value] : floats) {
        json j = config_27b();
        j[json::json_pointer(pointer)] = value;
        const std::string path = value.is_object() ? dotted(pointer) + ".rope_theta" : dotted(pointer);
        BOOST_TEST_CONTEXT(pointer << " = " << value.dump()) { expect_config_error(j, path); }
    }
}

BOOST_AUTO_TEST_CASE(bad_structure_and_relations) {
    using mutate = std::function<void(json&)>;
    const auto set = [](std::string pointer, json value) -> mutate {
        return [=](json& j) { j[json::json_pointer(pointer)] = value; };
    };
    const auto drop_layer_types_and = [](json value) -> mutate {
        return [=](json& j) {
            j["text_config"].erase("layer_types");
            j["text_config"]["full_attention_interval"] = value;
        };
    };
    struct bad_case {
        std::string name;
        mutate change;
        std::string needle;
    };
    const std::vector<bad_case> cases = {
        {"layer_types too short", [](json& j) { j["text_config"]["layer_types"].erase(0); }, "text_config.layer_types has 63 entries but num_hidden_layers is 64"},
        {"layer_types too long", [](json& j) { j["text_config"]["layer_types"].push_back("full_attention"); }, "text_config.layer_types"},
        {"unknown layer type", set("/text_config/layer_types/5", "sliding_attention"), "text_config.layer_types[5]"},
        {"layer type not a string", set("/text_config/layer_types/5", 1), "text_config.layer_types[5]"},
        {"layer_types not a list", set("/text_config/layer_types", "full_attention"), "text_config.layer_types"},
        {"interval 0", drop_layer_types_and(0), "text_config.full_attention_interval"},
        {"interval negative", drop_layer_types_and(-4), "text_config.full_attention_interval"},
        {"heads not divisible", set("/text_config/num_key_value_heads", 5), "text_config.num_attention_heads (24) must be a multiple of text_config.num_key_value_heads (5)"},
        {"gdn heads not divisible", set("/text_config/linear_num_value_heads", 40), "text_config.linear_num_value_heads (40) must be a multiple of text_config.linear_num_key_heads (16)"},
        {"mrope sum", set("/text_config/rope_parameters/mrope_section", json{11, 11, 11}), "text_config.rope_parameters.mrope_section [11, 11, 11] sums to 33, must equal rotary_dim / 2 = 32"},
        {"mrope default sum", [](json& j) { j["text_config"]["rope_parameters"].erase("mrope_section"); j["text_config"]["head_dim"] = 128; }, "(default) [11, 11, 10] sums to 32, must equal rotary_dim / 2 = 16"},
        {"mrope length", set("/text_config/rope_parameters/mrope_section", json{16, 16}), "text_config.rope_parameters.mrope_section must have 3 entries"},
        {"mrope not list", set("/text_config/rope_parameters/mrope_section", 32), "text_config.rope_parameters.mrope_section"},
        {"odd rotary dim", set("/text_config/head_dim", 20), "text_config.head_dim"},
        {"rope type", set("/text_config/rope_parameters/rope_type", "yarn"), "text_config.rope_parameters.rope_type = \"yarn\" is not supported yet"},
        {"legacy rope type", [](json& j) { j["text_config"]["rope_parameters"].erase("rope_type"); j["text_config"]["rope_parameters"]["type"] = "dynamic"; }, "text_config.rope_parameters.type"},
        {"mrope not interleaved", set("/text_config/rope_parameters/mrope_interleaved", false), "text_config.rope_parameters.mrope_interleaved"},
        {"rope_parameters not object", set("/text_config/rope_parameters", 5), "text_config.rope_parameters must be a JSON object"},
        {"rope_scaling not object", set("/text_config/rope_scaling", "yarn"), "text_config.rope_scaling must be a JSON object"},
        {"q_proj overflow", [](json& j) { j["text_config"]["num_attention_heads"] = 1 << 20; j["text_config"]["num_key_value_heads"] = 1; j["text_config"]["head_dim"] = 1 << 12; j["text_config"]["rope_parameters"]["mrope_section"] = {256, 128, 128}; }, "text_config.num_attention_heads is too large"},
        {"gdn overflow", [](json& j) { j["text_config"]["linear_num_value_heads"] = 1 << 20; j["text_config"]["linear_value_head_dim"] = 1 << 20; }, "text_config.linear_num_value_heads is too large"},
        {"activation", set("/text_config/hidden_act", "gelu"), "text_config.hidden_act"},
        {"attention bias", set("/text_config/attention_bias", true), "text_config.attention_bias"},
        {"output gate off", set("/text_config/attn_output_gate", false), "text_config.attn_output_gate"},
        {"ssm dtype", set("/text_config/mamba_ssm_dtype", "int8"), "text_config.mamba_ssm_dtype"},
        {"text model_type", set("/text_config/model_type", "qwen3_5_moe_text"), "text_config.model_type"},
        {"text_config not object", set("/text_config", json::array()), "text_config must be a JSON object"},
        {"token id out of range", set("/image_token_id", 248320), "image_token_id is out of range: 248320 is not below text_config.vocab_size = 248320"},
        {"vision_end out of range", set("/vision_end_token_id", 300000), "vision_end_token_id is out of range"},
        {"eos list entry out of range", set("/eos_token_id", json{248046, 248320}), "eos_token_id[1] is out of range"},
        {"eos list entry negative", set("/text_config/eos_token_id", json{-1}), "text_config.eos_token_id[0]"},
        {"pad out of range", set("/pad_token_id", 248320), "pad_token_id is out of range"},
        {"small vocab vs ids", set("/text_config/vocab_size", 1000), "is out of range"},
        {"deepstack", set("/vision_config/deepstack_visual_indexes", json{8, 16, 24}), "vision_config.deepstack_visual_indexes must be empty: Qwen3.5/3.6 has no DeepStack"},
        {"deepstack not list", set("/vision_config/deepstack_visual_indexes", 8), "vision_config.deepstack_visual_indexes"},
        {"vision heads", set("/vision_config/num_heads", 7), "vision_config.hidden_size (1152) must be a multiple of vision_config.num_heads (7)"},
        {"vision head_dim", set("/vision_config/num_heads", 64), "vision_config.num_heads gives head_dim = hidden_size / num_heads = 18"},
        {"pos table not square", set("/vision_config/num_position_embeddings", 2300), "vision_config.num_position_embeddings must be a perfect square"},
        {"out_hidden_size", set("/vision_config/out_hidden_size", 3584), "vision_config.out_hidden_size (3584) must equal text_config.hidden_size (5120)"},
        {"vision model_type", set("/vision_config/model_type", "qwen3_vl"), "vision_config.model_type"},
        {"vision act", set("/vision_config/hidden_act", "gelu"), "vision_config.hidden_act"},
        {"vision rope type", set("/vision_config/rope_parameters", json{{"rope_type", "yarn"}}), "vision_config.rope_parameters.rope_type"},
        {"vision merged overflow", [](json& j) { j["vision_config"]["hidden_size"] = 1 << 24; j["vision_config"]["spatial_merge_size"] = 1 << 10; j["vision_config"]["num_heads"] = 1 << 16; }, "vision_config.spatial_merge_size is too large"},
        {"model_type", set("/model_type", "qwen3_vl"), "model_type is \"qwen3_vl\"; only \"qwen3_5\""},
        {"model_type moe", set("/model_type", "qwen3_5_moe"), "model_type"},
        {"model_type missing", [](json& j) { j.erase("model_type"); }, "model_type is missing"},
        {"model_type not string", set("/model_type", 3), "model_type must be a string"},
        {"tie not bool", set("/tie_word_embeddings", 0), "tie_word_embeddings must be true or false"},
    };
    for (const bad_case& c : cases) {
        json j = with_layer_types(config_27b());
        c.change(j);
        BOOST_TEST_CONTEXT(c.name) { expect_config_error(j, c.needle); }
    }
    expect_config_error(json::array(), "must be a JSON object");
    expect_config_error(json(nullptr), "must be a JSON object");
}

BOOST_AUTO_TEST_CASE(load_config_from_file_or_directory) {
    const auto dir = temp_dir("load");
    write_file(dir / "config.json", config_27b().dump());
    BOOST_TEST(q::load_config(dir).text.hidden_size == 5120);
    BOOST_TEST(q::load_config(dir / "config.json").vision.depth == 27);

    BOOST_CHECK_THROW(q::load_config(dir / "absent.json"), vl::io_error);
    write_file(dir / "broken.json", "{\"model_type\": \"qwen3_5\",");
    BOOST_CHECK_THROW(q::load_config(dir / "broken.json"), vl::format_error);
    write_file(dir / "bad.json", R"({"model_type": "qwen3_5", "text_config": {"hidden_size": -1}})");
    try {
        q::load_config(dir / "bad.json");
        BOOST_ERROR("no error for hidden_size -1");
    } catch (const vl::config_error& e) {
        BOOST_TEST(std::string(e.what()) == (dir / "bad.json").string() + ": text_config.hidden_size must be a positive integer, got -1");
    }
    std::filesystem::remove_all(dir);
}

// Issue 13 B3: a value nested ~2M deep used to be parsed, then dump()ed recursively into the error message
// (SIGSEGV). Now the parse refuses it, and a merely large or deep value is quoted as a bounded summary.
BOOST_AUTO_TEST_CASE(deep_and_huge_values_are_refused_or_summarised) {
    const auto dir = temp_dir("deep");
    const std::size_t n = 2'000'000;
    write_file(dir / "config.json", R"({"model_type": "qwen3_5", "text_config": {"hidden_size": )" + std::string(n, '[') +
                                        std::string(n, ']') + "}}");
    try {
        (void)q::load_config(dir);
        BOOST_ERROR("no error for a 2M-deep value");
    } catch (const vl::format_error& e) {
        BOOST_TEST(std::string(e.what()).find(vl::json_depth_message()) != std::string::npos, e.what());
    }
    // Within the depth limit but wide: the message quotes at most ~64 characters of it.
    json j = config_27b();
    j["text_config"]["hidden_size"] = json::array();
    for (int i = 0; i < 100000; ++i) j["text_config"]["hidden_size"].push_back(json::array({i, "long string value"}));
    try {
        q::parse_config(j);
        BOOST_ERROR("no error for an array hidden_size");
    } catch (const vl::config_error& e) {
        const std::string msg = e.what();
        BOOST_TEST(msg.size() < 200u, msg);
        BOOST_TEST(msg.find("[[0, \"long string value\"], [1, ") != std::string::npos, msg);
        BOOST_TEST(msg.find("...") != std::string::npos, msg);
    }
    // json_summary itself walks without recursion: a 100k-deep value built in memory.
    json deep = json::array();
    json* inner = &deep;
    for (int i = 0; i < 100000; ++i) inner = &inner->emplace_back(json::array());
    BOOST_TEST(vl::json_summary(deep, 16) == std::string(16, '[') + "...");
    std::filesystem::remove_all(dir);
}

// Issue 13 B6 / B10: config files are regular (a FIFO does not block, /dev/zero is not read), bounded, and
// inside the model directory unless given as an explicit path.
BOOST_AUTO_TEST_CASE(config_files_are_regular_and_confined) {
    const auto base = temp_dir("confined");
    const auto dir = base / "model";
    std::filesystem::create_directories(dir);
    write_file(base / "outside.json", config_27b().dump());
    std::filesystem::create_symlink(base / "outside.json", dir / "config.json");
    try {
        (void)q::load_config(dir);
        BOOST_ERROR("no error for a config.json symlink out of the model directory");
    } catch (const vl::format_error& e) {
        BOOST_TEST(std::string(e.what()).find("outside the model directory") != std::string::npos, e.what());
    }
    BOOST_TEST(q::load_config(base / "outside.json").text.hidden_size == 5120);  // an explicit path is the user's choice
    std::filesystem::remove(dir / "config.json");
    BOOST_REQUIRE(::mkfifo((dir / "config.json").c_str(), 0600) == 0);
    BOOST_CHECK_THROW(q::load_config(dir), vl::io_error);                 // not a regular file; does not block
    BOOST_CHECK_THROW(q::load_config(dir / "config.json"), vl::io_error);
    std::filesystem::remove(dir / "config.json");
    std::filesystem::create_symlink("/dev/zero", dir / "preprocessor_config.json");
    BOOST_CHECK_THROW(q::load_preprocessor_config(dir), vl::error);
    BOOST_CHECK_THROW(q::load_preprocessor_config(dir / "preprocessor_config.json"), vl::io_error);
    std::filesystem::remove_all(base);
}

// A snapshot of the Hugging Face hub cache (`<repo>/snapshots/<rev>/config.json -> ../../blobs/<hash>`) is a
// model directory: its files may resolve into `<repo>`, never further out.
BOOST_AUTO_TEST_CASE(hub_cache_snapshots_are_model_directories) {
    namespace fs = std::filesystem;
    const auto base = temp_dir("hub");
    const auto repo = base / "models--Qwen--Qwen3.6-27B", snapshot = repo / "snapshots" / "0123abcd";
    fs::create_directories(repo / "blobs");
    fs::create_directories(snapshot);
    write_file(repo / "blobs" / "5f1e", config_27b().dump());
    fs::create_symlink("../../blobs/5f1e", snapshot / "config.json");
    BOOST_TEST(q::load_config(snapshot).text.hidden_size == 5120);
    write_file(base / "outside.json", config_27b().dump());
    fs::remove(snapshot / "config.json");
    fs::create_symlink(base / "outside.json", snapshot / "config.json");
    const auto outside = [](const vl::format_error& e) { return std::string(e.what()).find("outside the model directory") != std::string::npos; };
    BOOST_CHECK_EXCEPTION(q::load_config(snapshot), vl::format_error, outside);  // a snapshot link out of the repository
    fs::remove_all(repo / "blobs");  // without the blobs folder it is an ordinary directory, confined to itself
    fs::remove(snapshot / "config.json");
    write_file(repo / "snapshots" / "elsewhere.json", config_27b().dump());
    fs::create_symlink("../elsewhere.json", snapshot / "config.json");
    BOOST_CHECK_EXCEPTION(q::load_config(snapshot), vl::format_error, outside);  // a link to a sibling without blobs/
    fs::remove_all(base);
}

BOOST_AUTO_TEST_CASE(preprocessor_config_parsing) {
    const json qwen = json::parse(R"({
      "size": {"shortest_edge": 65536, "longest_edge": 16777216}, "patch_size": 16, "temporal_patch_size": 2,
      "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 3,
      "rescale_factor": 0.00392156862745098, "do_convert_rgb": true, "do_rescale": true, "do_normalize": true,
      "image_processor_type": "Qwen2VLImageProcessorFast", "processor_class": "Qwen3VLProcessor"})");
    const q::vision_config vision = q::parse_config(config_27b()).vision;
    const q::preprocessor_config p = q::parse_preprocessor_config(qwen, vision);
    BOOST_TEST(p.min_pixels == 65536);
    BOOST_TEST(p.max_pixels == 16777216);
    BOOST_TEST(p.patch_size == 16);
    BOOST_TEST(p.factor() == 32);
    BOOST_TEST(p.image_mean[2] == 0.5);
    BOOST_TEST(p.image_std[0] == 0.5);
    BOOST_TEST(p.rescale_factor == 1.0 / 255.0);
    BOOST_TEST(p.do_convert_rgb);

    // HF class defaults (Qwen2-VL values), and the legacy pixel keys.
    const auto d = q::parse_preprocessor_config(json{{"min_pixels", 1024}, {"image_std", 0.25}});
    BOOST_TEST(d.min_pixels == 1024);
    BOOST_TEST(d.max_pixels == 28 * 28 * 1280);
    BOOST_TEST(d.patch_size == 14);
    BOOST_TEST(d.image_mean[0] == 0.48145466);
    BOOST_TEST(d.image_std[1] == 0.25);
    BOOST_TEST(d.resample == 3);
    // The default patch size does not fit the Qwen3.5 vision tower.
    BOOST_CHECK_THROW(q::parse_preprocessor_config(json::object(), vision), vl::config_error);

    const auto expect_error = [&](const std::string& pointer, const json& value, const std::string& needle) {
        json j = qwen;
        j[json::json_pointer(pointer)] = value;
        try {
            q::parse_preprocessor_config(j, vision);
            BOOST_ERROR("no error for " << pointer << " = " << value.dump());
        } catch (const vl::config_error& e) {
            BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, e.what() << " lacks " << needle);
        }
    };
    expect_error("/resample", 2, "resample = 2 is not supported yet (only 3 = bicubic)");
    expect_error("/image_std/1", 0.0, "image_std[1] must be a positive number");
    expect_error("/image_std", json{0.5, 0.5}, "image_std must be a number or a list of 3 numbers");
    expect_error("/image_mean/0", "x", "image_mean[0]");
    expect_error("/size/shortest_edge", 0, "size.shortest_edge must be a positive integer");
    expect_error("/size", json{{"shortest_edge", 4096}}, "size.shortest_edge and longest_edge must both be given");
    expect_error("/size/shortest_edge", 1 << 25, "exceeds longest_edge");
    expect_error("/max_pixels", 64.5, "max_pixels");
    // Issue 13 B8: pixel bounds are capped (2^40 used to pass, then fail in std::bad_alloc or run for minutes).
    expect_error("/size/longest_edge", std::int64_t{1} << 26, "size.longest_edge");
    expect_error("/max_pixels", std::int64_t{1} << 40, "max_pixels");
    expect_error("/rescale_factor", -1, "rescale_factor");
    expect_error("/do_rescale", "yes", "do_rescale must be true or false");
    expect_error("/patch_size", 14, "patch_size (14) does not match the model's vision_config.patch_size (16)");
    expect_error("/merge_size", 1, "merge_size (1) does not match the model's vision_config.spatial_merge_size (2)");
    expect_error("/temporal_patch_size", 0, "temporal_patch_size must be a positive integer");

    const auto dir = temp_dir("preproc");
    write_file(dir / "preprocessor_config.json", qwen.dump());
    BOOST_TEST(q::load_preprocessor_config(dir, vision).max_pixels == 16777216);
    BOOST_TEST(q::load_preprocessor_config(dir / "preprocessor_config.json").patch_size == 16);
    std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(generation_config_parsing) {
    const q::model_config model = q::parse_config(config_27b());
    const auto g = q::parse_generation_config(
        json::parse(R"({"eos_token_id": [248046, 248044], "pad_token_id": 248044, "do_sample": true,
                        "temperature": 0.6, "top_k": 20, "top_p": 0.95, "max_new_tokens": 512})"),
        model);
    BOOST_TEST((g.eos_token_ids == std::vector<std::int64_t>{248046, 248044}));
    BOOST_TEST((g.pad_token_id == 248044));
    BOOST_TEST(g.do_sample);
    BOOST_TEST(g.temperature == 0.6);
    BOOST_TEST(g.top_k == 20);
    BOOST_TEST(g.top_p == 0.95);
    BOOST_TEST(g.repetition_penalty == 1.0);
    BOOST_TEST((g.max_new_tokens == 512));

    // A missing file gives GenerationConfig's defaults and the model's special ids.
    const auto dir = temp_dir("generation");
    const auto d = q::load_generation_config(dir, model);
    BOOST_TEST((d.eos_token_ids == std::vector<std::int64_t>{248046}));
    BOOST_TEST((d.pad_token_id == 248044));
    BOOST_TEST(!d.do_sample);
    BOOST_TEST(d.top_k == 50);
    BOOST_TEST(d.top_p == 1.0);
    BOOST_TEST(!d.max_new_tokens.has_value());
    write_file(dir / "generation_config.json", R"({"eos_token_id": 7})");
    BOOST_TEST((q::load_generation_config(dir, model).eos_token_ids == std::vector<std::int64_t>{7}));
    write_file(dir / "generation_config.json", "not json");
    BOOST_CHECK_THROW(q::load_generation_config(dir, model), vl::format_error);
    std::filesystem::remove_all(dir);

    const std::vector<std::pair<json, std::string>> bad = {
        {json{{"eos_token_id", 248320}}, "eos_token_id is out of range"},
        {json{{"eos_token_id", json{1, -2}}}, "eos_token_id[1]"},
        {json{{"pad_token_id", "0"}}, "pad_token_id"},
        {json{{"do_sample", true}, {"temperature", 0.0}}, "temperature must be positive when do_sample is true"},
        {json{{"temperature", -1.0}}, "temperature"},
        {json{{"top_k", -1}}, "top_k must be a non-negative integer"},
        {json{{"top_p", 0.0}}, "top_p must be a number in (0, 1]"},
        {json{{"top_p", 1.5}}, "top_p"},
        {json{{"repetition_penalty", 0}}, "repetition_penalty"},
        {json{{"max_new_tokens", 0}}, "max_new_tokens must be a positive integer"},
        {json{{"do_sample", 1}}, "do_sample must be true or false"},
    };
    for (const auto& [j, needle] : bad) {
        try {
            q::parse_generation_config(j, model);
            BOOST_ERROR("no error for " << j.dump());
        } catch (const vl::config_error& e) {
            BOOST_TEST((std::string(e.what()).find("generation_config.json: " + needle) != std::string::npos), e.what() << " lacks " << needle);
        }
    }
}

BOOST_AUTO_TEST_CASE(expected_tensor_counts_match_the_27b_checkpoint) {
    q::model_config c = q::parse_config(config_27b());
    const auto vision = q::expected_tensors(c, q::part::vision);
    const auto language = q::expected_tensors(c, q::part::language);
    BOOST_TEST(vision.size() == 333u);
    std::size_t in_language_model = 0;
    for (const auto& t : language) in_language_model += t.name.starts_with("model.language_model.");
    BOOST_TEST(in_language_model == 850u);
    BOOST_TEST(language.size() == 851u);  // + lm_head.weight
    BOOST_TEST(q::expected_tensors(c, q::part::all).size() == 333u + 851u);

    std::map<std::string, std::vector<std::int64_t>> shape;
    for (const auto& t : q::expected_tensors(c, q::part::all)) shape[t.name] = t.shape;
    const auto check = [&](const std::string& name, std::vector<std::int64_t> want) {
        BOOST_TEST_CONTEXT(name) {
            BOOST_REQUIRE(shape.count(name) == 1u);
            BOOST_TEST(shape[name] == want, boost::test_tools::per_element());
        }
    };
    check("model.language_model.embed_tokens.weight", {248320, 5120});
    check("model.language_model.layers.0.linear_attn.in_proj_qkv.weight", {10240, 5120});
    check("model.language_model.layers.0.linear_attn.in_proj_z.weight", {6144, 5120});
    check("model.language_model.layers.0.linear_attn.in_proj_b.weight", {48, 5120});
    check("model.language_model.layers.0.linear_attn.conv1d.weight", {10240, 1, 4});
    check("model.language_model.layers.0.linear_attn.A_log", {48});
    check("model.language_model.layers.0.linear_attn.norm.weight", {128});
    check("model.language_model.layers.0.linear_attn.out_proj.weight", {5120, 6144});
    check("model.language_model.layers.3.self_attn.q_proj.weight", {12288, 5120});
    check("model.language_model.layers.3.self_attn.k_proj.weight", {1024, 5120});
    check("model.language_model.layers.3.self_attn.o_proj.weight", {5120, 6144});
    check("model.language_model.layers.63.self_attn.q_norm.weight", {256});
    check("model.language_model.layers.63.mlp.down_proj.weight", {5120, 17408});
    check("model.language_model.norm.weight", {5120});
    check("lm_head.weight", {248320, 5120});
    check("model.visual.patch_embed.proj.weight", {1152, 3, 2, 16, 16});
    check("model.visual.pos_embed.weight", {2304, 1152});
    check("model.visual.blocks.26.attn.qkv.weight", {3456, 1152});
    check("model.visual.blocks.0.mlp.linear_fc1.weight", {4304, 1152});
    check("model.visual.merger.linear_fc1.weight", {4608, 4608});
    check("model.visual.merger.linear_fc2.weight", {5120, 4608});
    BOOST_TEST(shape.count("model.language_model.layers.3.linear_attn.A_log") == 0u);
    BOOST_TEST(shape.count("model.language_model.layers.0.self_attn.q_proj.weight") == 0u);

    c.tie_word_embeddings = true;
    BOOST_TEST(q::expected_tensors(c, q::part::language).size() == 850u);
}

BOOST_AUTO_TEST_CASE(weight_problems_reports_missing_mismatched_and_extra) {
    const q::model_config c = q::parse_config(config_27b());
    std::map<std::string, q::tensor_info> checkpoint;
    for (const auto& t : q::expected_tensors(c, q::part::all)) checkpoint[t.name] = {vl::dtype::bf16, t.shape};
    checkpoint["mtp.fc.weight"] = {vl::dtype::bf16, {5120, 10240}};
    const auto lookup = [&](const std::string& name) -> std::optional<q::tensor_info> {
        const auto it = checkpoint.find(name);
        if (it == checkpoint.end()) return std::nullopt;
        return it->second;
    };
    const auto names = [&] {
        std::vector<std::string> out;
        for (const auto& [name, info] : checkpoint) out.push_back(name);
        return out;
    };

    auto all_names = names();
    auto report = q::weight_problems(c, q::part::all, lookup, all_names);
    BOOST_TEST(report.ok());
    BOOST_TEST(report.unexpected.empty());  // mtp.* is expected and ignored

    checkpoint.erase("model.language_model.norm.weight");
    checkpoint["model.language_model.layers.0.linear_attn.conv1d.weight"].second = {10240, 4};
    checkpoint["model.visual.pos_embed.weight"].first = vl::dtype::i32;
    checkpoint["model.visual.deepstack_merger_list.0.norm.weight"] = {vl::dtype::bf16, {4608}};
    checkpoint["model.language_model.layers.0.linear_attn.in_proj_qkvz.weight"] = {vl::dtype::bf16, {16384, 5120}};
    all_names = names();

    report = q::weight_problems(c, q::part::all, lookup, all_names);
    BOOST_TEST(!report.ok());
    BOOST_TEST_REQUIRE(report.problems.size() == 3u);
    BOOST_TEST(report.problems[0] == "model.visual.pos_embed.weight: dtype I32 is not a floating-point type");
    BOOST_TEST(report.problems[1] == "model.language_model.layers.0.linear_attn.conv1d.weight: shape [10240, 4] does not match the expected [10240, 1, 4]");
    BOOST_TEST(report.problems[2] == "missing tensor model.language_model.norm.weight (expected shape [5120])");
    BOOST_TEST(report.unexpected.size() == 2u);

    // Per part: only that part's tensors are checked and listed.
    report = q::weight_problems(c, q::part::vision, lookup, all_names);
    BOOST_TEST(report.problems.size() == 1u);
    BOOST_TEST((report.unexpected == std::vector<std::string>{"model.visual.deepstack_merger_list.0.norm.weight"}));
    report = q::weight_problems(c, q::part::language, lookup);
    BOOST_TEST(report.problems.size() == 2u);
    BOOST_TEST(report.unexpected.empty());  // no names given
}

BOOST_AUTO_TEST_CASE(tiny_test_checkpoint_config) {
    const std::filesystem::path dir = std::filesystem::path(VLGRAPH_TEST_DATA) / "tiny-qwen36";
    if (!std::filesystem::exists(dir / "config.json")) {
        BOOST_TEST_MESSAGE("tests/data/tiny-qwen36/config.json not present: skipping");
        return;
    }
    const q::model_config c = q::load_config(dir);
    BOOST_TEST(c.text.hidden_size == 64);
    BOOST_TEST(c.text.num_hidden_layers == 4);
    BOOST_TEST(c.text.rotary_dim() == 16);
    BOOST_TEST(c.text.linear_conv_dim() == 2 * 2 * 16 + 6 * 24);
    BOOST_TEST(c.text.num_full_attention_layers() == 1);
    BOOST_TEST(c.text.is_full_attention(3));
    BOOST_TEST(c.vision.head_dim() == 16);
    BOOST_TEST(c.vision.num_grid_per_side() == 8);
    BOOST_TEST(c.vision.out_hidden_size == c.text.hidden_size);
    if (std::filesystem::exists(dir / "preprocessor_config.json"))
        BOOST_TEST(q::load_preprocessor_config(dir, c.vision).factor() == 32);
    const q::generation_config g = q::load_generation_config(dir, c);
    BOOST_TEST(!g.eos_token_ids.empty());
}
