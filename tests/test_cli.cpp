// The vlgraph program end to end: `inspect` on the bundled checkpoint and on
// corrupted copies of it (each must fail with a message naming the problem,
// never crash), usage errors, and the other subcommands (encode, tokenize,
// generate, logits, diff) on the tiny checkpoints.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <vlgraph/io/safetensors.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <utility>

namespace fs = std::filesystem;

namespace {

struct run_result {
    int status;  // exit status; -1 if killed by a signal
    std::string output;  // stdout and stderr
};

run_result run_cli(const std::string& arguments) {
    const std::string cmd = std::string("'") + VLGRAPH_CLI + "' " + arguments + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    BOOST_REQUIRE(p != nullptr);
    std::string out;
    std::array<char, 4096> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p)) out += buf.data();
    const int raw = pclose(p);
    return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, out};
}

// A fresh copy of the bundled tiny checkpoint in a temporary directory.
struct checkpoint_copy {
    fs::path dir;
    explicit checkpoint_copy(const std::string& tag) {
        dir = fs::temp_directory_path() / ("vlgraph_cli_" + tag + "_" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::copy(fs::path(VLGRAPH_TEST_DATA) / "tiny-qwen36", dir, fs::copy_options::recursive);
    }
    ~checkpoint_copy() { fs::remove_all(dir); }
    fs::path weights() const { return dir / "model.safetensors"; }
    void replace_in_config(const std::string& from, const std::string& to) const {
        std::ifstream in(dir / "config.json");
        std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        const auto at = s.find(from);
        BOOST_REQUIRE(at != std::string::npos);
        s.replace(at, from.size(), to);
        std::ofstream(dir / "config.json") << s;
    }
};

void expect_failure(const run_result& r, std::initializer_list<std::string> fragments) {
    BOOST_TEST(r.status == 1, "exit status " << r.status << ", output:\n" << r.output);
    for (const auto& f : fragments) BOOST_TEST(r.output.find(f) != std::string::npos, "missing '" << f << "' in:\n" << r.output);
}

}  // namespace

BOOST_AUTO_TEST_CASE(inspect_bundled_checkpoints) {
    for (const char* name : {"tiny-qwen36", "tiny-qwen36-bf16"}) {
        const run_result r = run_cli("inspect --model '" + (fs::path(VLGRAPH_TEST_DATA) / name).string() + "' --scan-nonfinite");
        BOOST_TEST(r.status == 0, r.output);
        BOOST_TEST(r.output.find("89 tensors") != std::string::npos, r.output);
        BOOST_TEST(r.output.find("3 Gated DeltaNet + 1 gated attention") != std::string::npos, r.output);
    }
}

BOOST_AUTO_TEST_CASE(inspect_truncated_weights) {
    checkpoint_copy c("truncated");
    fs::resize_file(c.weights(), fs::file_size(c.weights()) - 1000);
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"model.safetensors", "error"});
}

BOOST_AUTO_TEST_CASE(inspect_garbage_header) {
    checkpoint_copy c("garbage");
    {
        std::fstream f(c.weights(), std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(8);
        f.write("xxxx", 4);  // the JSON header no longer starts with '{'
    }
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"model.safetensors", "header"});
}

BOOST_AUTO_TEST_CASE(inspect_missing_tensor) {
    checkpoint_copy c("missing");
    {
        const auto f = vl::safetensors_file::open(c.weights());
        std::vector<std::pair<std::string, vl::tensor>> keep;
        for (const auto& info : f.tensors())
            if (info.name != "lm_head.weight") keep.emplace_back(info.name, f.load(info.name, info.type));
        vl::save_safetensors(c.dir / "rewritten.safetensors", keep);
    }
    fs::rename(c.dir / "rewritten.safetensors", c.weights());
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"missing tensor lm_head.weight", "1 problem(s)"});
}

// tie_word_embeddings true, yet the checkpoint stores its own lm_head.weight: inspect says the stored head is
// used (as HF does) and does not call it unused.
BOOST_AUTO_TEST_CASE(inspect_says_which_lm_head) {
    checkpoint_copy c("tied");
    c.replace_in_config("\"tie_word_embeddings\": false,\n  \"transformers_version\"", "\"tie_word_embeddings\": true,\n  \"transformers_version\"");
    const run_result r = run_cli("inspect --model " + c.dir.string());
    BOOST_TEST(r.status == 0, r.output);
    BOOST_TEST(r.output.find("lm_head    the stored lm_head.weight, not embed_tokens") != std::string::npos, r.output);
    BOOST_TEST(r.output.find("unused tensor lm_head.weight") == std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(inspect_shape_mismatch_with_config) {
    checkpoint_copy c("shape");
    c.replace_in_config("\"intermediate_size\": 128", "\"intermediate_size\": 96");
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"mlp.gate_proj.weight: shape [128, 64] does not match the expected [96, 64]"});
}

BOOST_AUTO_TEST_CASE(inspect_bad_config_field) {
    checkpoint_copy c("config");
    c.replace_in_config("\"num_attention_heads\": 4", "\"num_attention_heads\": -1");
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"text_config.num_attention_heads"});
}

BOOST_AUTO_TEST_CASE(inspect_missing_directory_and_config) {
    expect_failure(run_cli("inspect --model /nonexistent/vlgraph"), {"/nonexistent/vlgraph"});
    checkpoint_copy c("noconfig");
    fs::remove(c.dir / "config.json");
    expect_failure(run_cli("inspect --model " + c.dir.string()), {"config.json"});
}

BOOST_AUTO_TEST_CASE(usage_errors) {
    BOOST_TEST(run_cli("inspect").status == 2);
    BOOST_TEST(run_cli("inspect --model").status == 2);
    BOOST_TEST(run_cli("inspect --model x --bogus").output.find("unknown option '--bogus'") != std::string::npos);
    BOOST_TEST(run_cli("frobnicate").status == 2);
    const run_result help = run_cli("--help");
    BOOST_TEST(help.status == 0);
    BOOST_TEST(help.output.find("vlgraph inspect --model DIR") != std::string::npos);
    BOOST_TEST(help.output.find("vlgraph diff --model DIR") != std::string::npos);
}

// ---------------------------------------------------------------------------
// encode: images -> image_embeds, end to end against HF's goldens.
// ---------------------------------------------------------------------------
#include <vlgraph/compare.hpp>

#include "lm_goldens.hpp"

namespace {
fs::path data(const std::string& p) { return fs::path(VLGRAPH_TEST_DATA) / p; }
struct temp_file {
    fs::path path = fs::temp_directory_path() / ("vlgraph_cli_out_" + std::to_string(::getpid()) + ".safetensors");
    ~temp_file() { fs::remove(path); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(encode_two_images_matches_hf) {
    temp_file out;
    const run_result r = run_cli("encode --model " + data("tiny-qwen36").string() + " --image " + data("images/img_a_128x160.png").string() +
                                 " --image " + data("images/img_b_96x64.png").string() + " --out " + out.path.string() + " --threads 2");
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
    BOOST_TEST(r.output.find("image 0  " + data("images/img_a_128x160.png").string() + ": 128x160 -> 128x160 (HxW), grid 1x8x10, 20 tokens") !=
                   std::string::npos,
               r.output);
    BOOST_TEST(r.output.find("grid 1x6x4, 6 tokens") != std::string::npos, r.output);

    const auto got = vl::safetensors_file::open(out.path);
    const auto vision = vl::safetensors_file::open(data("golden/vision.safetensors"));
    const auto pre = vl::safetensors_file::open(data("golden/preprocess.safetensors"));
    const vl::error_stats e = vl::compare(got.load("image_embeds", vl::dtype::f32), vision.load("ab.pooler_output", vl::dtype::f32));
    BOOST_TEST_MESSAGE("encode image_embeds vs HF pooler_output: max rel " << e.max_rel);
    BOOST_TEST(e.max_rel <= 1e-4);
    BOOST_TEST(vl::compare(got.load("image_grid_thw", vl::dtype::i64), pre.load("multi_ab.image_grid_thw", vl::dtype::i64)).max_abs == 0.0);
    const vl::tensor pv = got.load("pixel_values", vl::dtype::f32);
    BOOST_TEST(pv.shape() == (vl::dims{80 + 24, 1536}));
    const vl::tensor u8 = pre.load("img_a_128x160_png.pixel_values_u8", vl::dtype::f32);
    const float* p = pv.data<float>();
    const float* q = u8.data<float>();
    bool exact = true;
    for (vl::index_t i = 0; i < u8.numel(); ++i) exact = exact && p[i] == (q[i] - 127.5f) / 127.5f;
    BOOST_TEST(exact);
}

BOOST_AUTO_TEST_CASE(encode_from_pixel_values_file) {
    temp_file first, second;
    const std::string model = " --model " + data("tiny-qwen36").string();
    BOOST_TEST_REQUIRE(run_cli("encode" + model + " --image " + data("images/img_c_125x94.png").string() + " --out " + first.path.string()).status == 0);
    const run_result r = run_cli("encode" + model + " --pixel-values " + first.path.string() + " --out " + second.path.string());
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
    BOOST_TEST(r.output.find("grid 1x8x6, 12 tokens") != std::string::npos, r.output);
    const auto a = vl::safetensors_file::open(first.path), b = vl::safetensors_file::open(second.path);
    BOOST_TEST(vl::compare(b.load("image_embeds", vl::dtype::f32), a.load("image_embeds", vl::dtype::f32)).max_abs == 0.0);
}

BOOST_AUTO_TEST_CASE(encode_refuses_bad_sources) {
    temp_file out;
    const std::string pre = "encode --model " + data("tiny-qwen36").string() + " --out " + out.path.string();
    expect_failure(run_cli(pre + " --image http://127.0.0.1/x.png"), {"not fetched"});
    expect_failure(run_cli(pre + " --image 'data:image/png;base64,@@@'"), {"base64"});
    expect_failure(run_cli(pre + " --image /nonexistent.png"), {"/nonexistent.png"});
    BOOST_TEST(run_cli(pre).status == 2);  // neither --image nor --pixel-values
    BOOST_TEST(run_cli(pre + " --image x --threads 0").status == 2);
    BOOST_TEST(!fs::exists(out.path));
}

// ---------------------------------------------------------------------------
// tokenize and generate on the tiny checkpoint.
// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_CASE(tokenize_prints_hf_ids) {
    // "<|im_end|>" is an added token (id 2017 in the tiny vocabulary), matched verbatim.
    const run_result r = run_cli("tokenize --model " + data("tiny-qwen36").string() + " --text 'Hello <|im_end|>'");
    BOOST_TEST(r.status == 0, r.output);
    BOOST_TEST(r.output.find(" 2017") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(generate_with_an_image_reports_counts) {
    const run_result r = run_cli("generate --model " + data("tiny-qwen36").string() + " --image " + data("images/img_c_125x94.png").string() +
                                 " --prompt 'Describe this image.' --max-new-tokens 5 --greedy");
    BOOST_TEST(r.status == 0, r.output);
    // 12 image tokens for the 128x96 resized image; the random model never stops early within 5 tokens.
    BOOST_TEST(r.output.find("(12 image), generated 5 tokens") != std::string::npos, r.output);
}

// --tensor-parallel 2 (two ranks of this process, each with half of every layer) prints the same text as one
// rank; a size the model cannot split is refused before loading, naming the dimension.
BOOST_AUTO_TEST_CASE(generate_with_tensor_parallel_prints_the_same_text) {
    const std::string cmd = "generate --model " + data("tiny-qwen36").string() + " --image " + data("images/img_c_125x94.png").string() +
                            " --prompt 'Describe this image.' --max-new-tokens 12 --greedy";
    const run_result one = run_cli(cmd), two = run_cli(cmd + " --tensor-parallel 2");
    BOOST_TEST_REQUIRE(one.status == 0, one.output);
    BOOST_TEST_REQUIRE(two.status == 0, two.output);
    const auto text = [](const std::string& out) { return out.substr(0, out.find("prompt ")); };  // stdout comes before the counts
    BOOST_TEST(two.output.find("tensor parallel: rank 1 of 2") != std::string::npos, two.output);
    BOOST_TEST(text(two.output.substr(two.output.rfind("thread(s)\n") + 10)) == text(one.output));
    expect_failure(run_cli(cmd + " --tensor-parallel 3"), {"tensor parallel size 3 cannot split this model", "sizes that work: 1, 2"});
}

// --tensor-parallel N --backend cuda runs rank r on GPU r: more ranks than GPUs is refused before anything
// loads, naming both numbers (64: more than any machine has; without NCCL the refusal says so instead).
BOOST_AUTO_TEST_CASE(tensor_parallel_on_cuda_needs_a_gpu_per_rank) {
    const run_result r = run_cli("generate --model " + data("tiny-qwen36").string() + " --prompt hi --max-new-tokens 1 --backend cuda --tensor-parallel 64");
    if (r.output.find("built without the CUDA backend") != std::string::npos) {
        BOOST_TEST(r.status == 2, r.output);
        return;
    }
    expect_failure(r, {"--tensor-parallel 64 --backend cuda needs "});
    BOOST_TEST((r.output.find("needs 64 GPUs (one rank per GPU), this machine has ") != std::string::npos || r.output.find("needs NCCL") != std::string::npos),
               r.output);
}

BOOST_AUTO_TEST_CASE(generate_refuses_bad_requests) {
    const std::string pre = "generate --model " + data("tiny-qwen36").string() + " --prompt hi";
    BOOST_TEST(run_cli(pre + " --top-p 1.5").status == 2);
    BOOST_TEST(run_cli(pre + " --temperature nan").status == 2);
    BOOST_TEST(run_cli(pre + " --repetition-penalty 0").status == 2);
    expect_failure(run_cli(pre + " --max-new-tokens 100000"), {"max_position_embeddings"});
    expect_failure(run_cli(pre + " --image http://127.0.0.1/a.png"), {"not fetched"});
}

// Issue 13 B9: the context check ran only after the vision tower had encoded every image. Prompt tokens +
// image tokens (planned from the decoded sizes) + max-new-tokens are now checked before any image is
// resized or encoded.
BOOST_AUTO_TEST_CASE(generate_checks_the_context_before_the_vision_tower) {
    checkpoint_copy c("context");
    c.replace_in_config("\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 64");
    const std::string img = " --image " + data("images/img_c_125x94.png").string();
    const run_result r = run_cli("generate --model " + c.dir.string() + img + img + img + " --prompt hi --max-new-tokens 8 --greedy");
    expect_failure(r, {"exceeds max_position_embeddings (64)", "36 of them for 3 image(s)", "+ 8 new tokens",
                       "refused before the images are resized or encoded"});
    BOOST_TEST(r.output.find("timings") == std::string::npos, r.output);
}

// ---------------------------------------------------------------------------
// logits: the prefill logits of a prompt.
// ---------------------------------------------------------------------------
namespace {
// An "input_ids" file for --input-ids.
struct ids_file {
    fs::path path = fs::temp_directory_path() / ("vlgraph_cli_ids_" + std::to_string(::getpid()) + ".safetensors");
    explicit ids_file(const vl::tensor& ids, const std::string& name = "input_ids") { vl::save_safetensors(path, {{name, ids}}); }
    ~ids_file() { fs::remove(path); }
};
}  // namespace

// HF's 181-token text prompt (two 64-token chunks and a tail): position ids exact, logits within 1e-4.
BOOST_AUTO_TEST_CASE(logits_of_input_ids_match_hf) {
    const ids_file ids(vl::test::prompt_tensor("text.input_ids").reshape({1, 181}));  // [1, L] as HF's batch of one
    temp_file out;
    const run_result r = run_cli("logits --model " + data("tiny-qwen36").string() + " --input-ids " + ids.path.string() + " --out " + out.path.string());
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
    const auto got = vl::safetensors_file::open(out.path);
    BOOST_TEST((got.get("input_ids").type() == vl::dtype::i64));
    BOOST_TEST(vl::compare(got.get("input_ids"), vl::test::prompt_tensor("text.input_ids")).max_abs == 0.0);
    BOOST_TEST((got.get("position_ids").type() == vl::dtype::i64));
    BOOST_TEST(vl::compare(got.get("position_ids"), vl::test::prompt_tensor("text.position_ids")).max_abs == 0.0);
    const vl::tensor logits = got.get("logits");
    BOOST_TEST_REQUIRE(logits.shape() == (vl::dims{181, 2048}));
    const vl::error_stats e = vl::compare(logits.slice(0, 181 - 32, 181), vl::test::lm_tensor("text.logits_tail"));
    BOOST_TEST_MESSAGE("logits --input-ids vs HF, last 32 positions: max rel " << e.max_rel);
    BOOST_TEST(e.max_rel <= 1e-4);
}

// A chat prompt with an image: the image tokens get 3-D positions (rows T, H, W differ there), and the
// result is that of the same ids given as text — minus the image, which --input-ids cannot supply.
BOOST_AUTO_TEST_CASE(logits_of_an_image_prompt) {
    temp_file out;
    const run_result r = run_cli("logits --model " + data("tiny-qwen36").string() + " --image " + data("images/img_c_125x94.png").string() +
                                 " --prompt 'Describe this image.' --no-think --out " + out.path.string());
    BOOST_TEST_REQUIRE(r.status == 0, r.output);
    BOOST_TEST(r.output.find("1 images") != std::string::npos, r.output);
    const auto got = vl::safetensors_file::open(out.path);
    const vl::tensor ids = got.get("input_ids"), pos = got.get("position_ids");
    const vl::index_t n = ids.numel();
    BOOST_TEST(got.get("logits").shape() == (vl::dims{n, 2048}));
    const std::int64_t* id = ids.data<std::int64_t>();
    const std::int64_t* p = pos.data<std::int64_t>();
    int image_tokens = 0, spatial = 0;
    for (vl::index_t t = 0; t < n; ++t) {
        image_tokens += id[t] == 2027;
        spatial += p[t] != p[n + t] || p[t] != p[2 * n + t];
    }
    BOOST_TEST(image_tokens == 12);  // 128x96 resized, 2x2 merge of 16-pixel patches
    BOOST_TEST(spatial > 0);
    BOOST_TEST(p[n - 1] < n - 1);  // the 4x3 image spans fewer positions than tokens

    // Without the image its tokens cannot be filled: a clear error.
    const ids_file same(ids);
    expect_failure(run_cli("logits --model " + data("tiny-qwen36").string() + " --input-ids " + same.path.string() + " --out " + out.path.string()),
                   {"image tokens"});
}

BOOST_AUTO_TEST_CASE(logits_refuses_bad_requests) {
    const std::string pre = "logits --model " + data("tiny-qwen36").string();
    temp_file out;
    const std::string to = " --out " + out.path.string();
    BOOST_TEST(run_cli(pre + to).status == 2);                         // neither --prompt nor --input-ids
    BOOST_TEST(run_cli(pre + " --prompt hi" + " --backend tpu" + to).status == 2);
    {
        const ids_file ids(vl::tensor::from(std::vector<std::int64_t>{1, 2}, {2}));
        BOOST_TEST(run_cli(pre + " --prompt hi --input-ids " + ids.path.string() + to).status == 2);  // both
        BOOST_TEST(run_cli(pre + " --input-ids " + ids.path.string() + " --image x.png" + to).status == 2);
    }
    {
        const ids_file ids(vl::tensor::from(std::vector<float>{1, 2}, {2}));
        expect_failure(run_cli(pre + " --input-ids " + ids.path.string() + to), {"input_ids must be an integer tensor"});
    }
    {
        const ids_file ids(vl::tensor::from(std::vector<std::int64_t>{1, 2}, {2}), "tokens");
        expect_failure(run_cli(pre + " --input-ids " + ids.path.string() + to), {"no tensor named input_ids"});
    }
    {
        const ids_file ids(vl::tensor::from(std::vector<std::int64_t>{1, 2, 3, 4}, {2, 2}));
        expect_failure(run_cli(pre + " --input-ids " + ids.path.string() + to), {"[L] or [1, L]"});
    }
    {
        const ids_file ids(vl::tensor::from(std::vector<std::int64_t>{1, 2048}, {2}));  // one past the vocabulary
        expect_failure(run_cli(pre + " --input-ids " + ids.path.string() + to), {"2048"});
    }
    {
        const ids_file ids(vl::tensor::from(std::vector<std::int64_t>(4097, 5), {4097}));  // max_position_embeddings 4096
        expect_failure(run_cli(pre + " --input-ids " + ids.path.string() + to), {"max_position_embeddings 4096"});
    }
    expect_failure(run_cli(pre + " --input-ids /nonexistent/ids.safetensors" + to), {"/nonexistent/ids.safetensors"});
}

// ---------------------------------------------------------------------------
// diff: the traced prefill on the CPU oracle and on a backend, node by node.
// ---------------------------------------------------------------------------
namespace {
// The node named after "first node beyond tolerance: ", or "" when there is none.
std::string first_divergent(const run_result& r) {
    const std::string key = "first node beyond tolerance: ";
    const auto at = r.output.find(key);
    if (at == std::string::npos) return "";
    const auto end = r.output.find('\n', at);
    return r.output.substr(at + key.size(), end - at - key.size());
}
// N of "all N nodes within tolerance", or -1.
long nodes_within(const run_result& r) {
    const auto at = r.output.find("all ");
    if (at == std::string::npos || r.output.find(" nodes within tolerance", at) == std::string::npos) return -1;
    return std::strtol(r.output.c_str() + at + 4, nullptr, 10);
}
const std::string diff_text = "diff --model " + data("tiny-qwen36").string() + " --prompt 'Hello there, tiny model.' --threads 2";
const std::string diff_image =
    "diff --model " + data("tiny-qwen36").string() + " --image " + data("images/img_c_125x94.png").string() + " --prompt 'Describe this image.'";
}  // namespace

BOOST_AUTO_TEST_CASE(diff_cpu_against_cpu_is_bit_identical) {
    const run_result r = run_cli(diff_text);
    BOOST_TEST(r.status == 0, r.output);
    // 3 Gated DeltaNet layers and 1 attention layer, every named node of each, then norm.out and logits.
    BOOST_TEST(nodes_within(r) > 50, r.output);
    BOOST_TEST(first_divergent(r).empty(), r.output);

    const run_result bf16 = run_cli("diff --model " + data("tiny-qwen36-bf16").string() + " --prompt hi --no-think --system 'Be brief.'");
    BOOST_TEST(bf16.status == 0, bf16.output);
    BOOST_TEST(nodes_within(bf16) == nodes_within(r), bf16.output);
}

// A weight scaled in the second run only: the report names the first node computed from it.
BOOST_AUTO_TEST_CASE(diff_names_the_first_node_downstream_of_a_perturbed_weight) {
    const std::string w = " --perturb model.language_model.layers.";
    const std::pair<const char*, const char*> cases[] = {
        {"1.mlp.down_proj.weight", "layers.1.mlp.out"},
        {"1.mlp.down_proj.weight=1e-5", "layers.1.mlp.out"},
        {"3.self_attn.q_proj.weight", "layers.3.self_attn.q_proj.out"},  // after k_proj.out, k_norm.out, v_proj.out, which it does not feed
        {"3.self_attn.o_proj.weight=-0.5", "layers.3.self_attn.o_proj.out"},
        {"0.linear_attn.in_proj_z.weight", "layers.0.linear_attn.in_proj_z.out"},
        {"2.linear_attn.A_log", "layers.2.linear_attn.chunk_rule.g"},
        {"2.linear_attn.conv1d.weight", "layers.2.linear_attn.conv.out"},
        {"0.input_layernorm.weight", "layers.0.input_layernorm.out"},
    };
    for (const auto& [tensor, node] : cases) {
        const run_result r = run_cli(diff_text + w + tensor);
        BOOST_TEST(r.status == 1, tensor << ": " << r.output);
        BOOST_TEST(first_divergent(r) == node, tensor << ": " << r.output);
        BOOST_TEST(r.output.find("tolerance: nmse <= 0") != std::string::npos, r.output);
    }
    const run_result head = run_cli(diff_text + " --perturb lm_head.weight");
    BOOST_TEST(first_divergent(head) == "logits", head.output);
    // The report of a divergent node: where it is, its shape and its error figures (nmse = scale^2 for a
    // GEMM output that is linear in the scaled weight).
    const run_result r = run_cli(diff_text + w + "1.mlp.down_proj.weight");
    BOOST_TEST(r.output.find("language, layer 1, op class gemm, shape [") != std::string::npos, r.output);
    BOOST_TEST(r.output.find("nmse 1.000e-04  max-rel 1.000e-02") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(diff_with_an_image_compares_the_vision_tower_too) {
    const run_result text = run_cli(diff_text);
    const run_result r = run_cli(diff_image);
    BOOST_TEST(r.status == 0, r.output);
    BOOST_TEST(r.output.find("1 images") != std::string::npos, r.output);
    BOOST_TEST(nodes_within(r) > nodes_within(text), r.output);  // + the vision tower's nodes
    const run_result v = run_cli(diff_image + " --perturb model.visual.blocks.1.mlp.linear_fc2.weight");
    BOOST_TEST(v.status == 1, v.output);
    BOOST_TEST(first_divergent(v) == "blocks.1.mlp.out", v.output);
    BOOST_TEST(v.output.find("vision, layer 1, op class gemm") != std::string::npos, v.output);
    const run_result m = run_cli(diff_image + " --perturb model.visual.merger.linear_fc2.bias");
    BOOST_TEST(first_divergent(m) == "merger.out", m.output);
    const run_result l = run_cli(diff_image + " --perturb model.language_model.layers.1.mlp.down_proj.weight");
    BOOST_TEST(first_divergent(l) == "layers.1.mlp.out", l.output);
}

// A one-token prompt runs the delta rule's recurrent form (its own node names).
BOOST_AUTO_TEST_CASE(diff_of_input_ids) {
    const ids_file one(vl::tensor::from(std::vector<std::int64_t>{7}, {1}));
    const std::string pre = "diff --model " + data("tiny-qwen36").string() + " --input-ids " + one.path.string();
    BOOST_TEST(run_cli(pre).status == 0);
    const run_result r = run_cli(pre + " --perturb model.language_model.layers.0.linear_attn.dt_bias=0.5");
    BOOST_TEST(first_divergent(r) == "layers.0.linear_attn.recurrent_rule.g", r.output);
}

BOOST_AUTO_TEST_CASE(diff_refuses_bad_requests) {
    const auto one_line = [](const run_result& r) { return r.output.find('\n') == r.output.size() - 1; };
    const run_result unknown = run_cli(diff_text + " --perturb model.language_model.layers.9.mlp.down_proj.weight");
    expect_failure(unknown, {"--perturb: model.language_model.layers.9.mlp.down_proj.weight is not a tensor of the checkpoint"});
    BOOST_TEST(one_line(unknown), unknown.output);
    const run_result vision = run_cli(diff_text + " --perturb model.visual.blocks.0.norm1.weight");
    expect_failure(vision, {"is a vision tensor; give --image"});
    BOOST_TEST(one_line(vision), vision.output);
    const run_result backend = run_cli(diff_text + " --backend bogus");
    BOOST_TEST(backend.status == 2, backend.output);
    BOOST_TEST(backend.output.find("--backend must be cpu or cuda, got 'bogus'") != std::string::npos, backend.output);
    BOOST_TEST(run_cli(diff_text + " --perturb =0.1").status == 2);
    BOOST_TEST(run_cli(diff_text + " --perturb lm_head.weight=abc").status == 2);
    BOOST_TEST(run_cli(diff_text + " --perturb lm_head.weight=0").status == 2);
    BOOST_TEST(run_cli(diff_text + " --out x.safetensors").status == 2);
    BOOST_TEST(run_cli("diff --model " + data("tiny-qwen36").string()).status == 2);  // neither --prompt nor --input-ids
}
