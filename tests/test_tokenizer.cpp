// The byte-level BPE tokenizer (vlgraph/text/bpe_tokenizer.hpp) and its Qwen3.6 wrapper
// (models/qwen36/tokenizer.hpp) against HF `tokenizers` goldens (tools/reference/), plus streaming
// decode, invalid UTF-8 and broken tokenizer.json files.
#define BOOST_TEST_MODULE tokenizer
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/models/qwen36/tokenizer.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

using nlohmann::json;
using vl::text::bpe_tokenizer;
using ids_t = std::vector<std::int32_t>;

namespace {

const std::string data_dir = VLGRAPH_TEST_DATA;
const std::string tiny_tokenizer = data_dir + "/tiny-qwen36/tokenizer.json";

json read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
    return json::parse(in);
}

const json& tiny_json() {
    static const json j = read_json(tiny_tokenizer);
    return j;
}

const bpe_tokenizer& tiny() {
    static const bpe_tokenizer t = bpe_tokenizer::from_file(tiny_tokenizer);
    return t;
}

ids_t as_ids(const json& j) { return j.get<ids_t>(); }

// Visible form of a string for test contexts (JSON escapes).
std::string show(const std::string& s) { return json(s).dump(-1, ' ', true, json::error_handler_t::replace); }

bool valid_utf8(const std::string& s) { return vl::text::utf8::find_invalid(s) == std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

// tokenizer_cases.json: HF tok(text, add_special_tokens=False) ids and tokens, decode with and without
// special tokens, for 76 tricky strings.
BOOST_AUTO_TEST_CASE(tokenizer_cases_match_hf) {
    const json cases = read_json(data_dir + "/golden/tokenizer_cases.json").at("cases");
    BOOST_REQUIRE_EQUAL(cases.size(), 76u);
    for (const json& c : cases) {
        const std::string text = c.at("text");
        BOOST_TEST_CONTEXT("text " << show(text)) {
            const ids_t want = as_ids(c.at("ids"));
            const ids_t got = tiny().encode(text);
            BOOST_TEST(got == want, boost::test_tools::per_element());
            std::vector<std::string> tokens;
            for (const std::int32_t id : want) tokens.emplace_back(tiny().id_to_token(id).value_or("<none>"));
            BOOST_TEST(tokens == c.at("tokens").get<std::vector<std::string>>(), boost::test_tools::per_element());
            BOOST_TEST(tiny().decode(want) == c.at("decoded").get<std::string>());
            BOOST_TEST(tiny().decode(want, true) == c.at("decoded_skip_special").get<std::string>());
        }
    }
}

// chat_template_cases.json: the rendered prompt's ids; image cases hold ids after each <|image_pad|> was
// expanded to t·h·w/4 copies (2×2 merge), which is redone here.
BOOST_AUTO_TEST_CASE(chat_template_prompts_match_hf) {
    const auto tok = vl::qwen36::load_tokenizer(data_dir + "/tiny-qwen36");
    const json cases = read_json(data_dir + "/golden/chat_template_cases.json").at("cases");
    BOOST_REQUIRE_GE(cases.size(), 10u);
    for (const json& c : cases) {
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            const ids_t encoded = tok.bpe.encode(c.at("rendered").get<std::string>());
            ids_t expanded;
            std::size_t image = 0;
            for (const std::int32_t id : encoded) {
                if (id != tok.special.image_pad || !c.contains("image_grid_thw")) {
                    expanded.push_back(id);
                    continue;
                }
                const auto thw = c.at("image_grid_thw").at(image++).get<std::vector<std::int64_t>>();
                expanded.insert(expanded.end(), static_cast<std::size_t>(thw[0] * thw[1] * thw[2] / 4), id);
            }
            BOOST_TEST(expanded == as_ids(c.at("input_ids")), boost::test_tools::per_element());
            BOOST_TEST(tok.bpe.decode(encoded) == c.at("rendered").get<std::string>());
        }
    }
}

// tokenizer_extra.json (tools/reference/dump_tokenizer_extra.py): more strings (whitespace and Unicode
// classes where PCRE2 and Oniguruma could differ, NFC corner cases, newer code points) and a tokenizer
// with lstrip / rstrip / single_word / normalized added tokens.
BOOST_AUTO_TEST_CASE(extra_cases_match_hf) {
    const json extra = read_json(data_dir + "/golden/tokenizer_extra.json");
    for (const json& c : extra.at("cases")) {
        const std::string text = c.at("text");
        BOOST_TEST_CONTEXT("text " << show(text)) {
            BOOST_TEST(tiny().encode(text) == as_ids(c.at("ids")), boost::test_tools::per_element());
        }
    }
    json variant = tiny_json();
    for (const json& a : extra.at("flags").at("added_tokens")) variant["added_tokens"].push_back(a);
    const auto flagged = bpe_tokenizer::from_json(variant);
    for (const json& c : extra.at("flags").at("cases")) {
        const std::string text = c.at("text");
        BOOST_TEST_CONTEXT("flags text " << show(text)) {
            const ids_t want = as_ids(c.at("ids"));
            BOOST_TEST(flagged.encode(text) == want, boost::test_tools::per_element());
            BOOST_TEST(flagged.decode(want) == c.at("decoded").get<std::string>());
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(api)

BOOST_AUTO_TEST_CASE(vocab_lookups) {
    BOOST_TEST(tiny().vocab_size() == 2048);
    BOOST_TEST(tiny().token_to_id("<|im_start|>").value_or(-1) == 2016);
    BOOST_TEST(tiny().token_to_id("Ġt").value_or(-1) == 264);
    BOOST_TEST(!tiny().token_to_id("not a token").has_value());
    BOOST_TEST(tiny().id_to_token(264).value_or("") == "Ġt");
    BOOST_TEST(tiny().id_to_token(2027).value_or("") == "<|image_pad|>");
    BOOST_TEST(!tiny().id_to_token(2048).has_value());
    BOOST_TEST(!tiny().id_to_token(-1).has_value());
    BOOST_TEST(tiny().is_special(2017));
    BOOST_TEST(!tiny().is_special(2039));  // <think> is an added, non-special token
    BOOST_TEST(!tiny().is_special(264));
}

BOOST_AUTO_TEST_CASE(qwen_special_ids) {
    const auto tok = vl::qwen36::load_tokenizer(tiny_tokenizer);
    BOOST_TEST(tok.special.endoftext == 2015);
    BOOST_TEST(tok.special.im_start == 2016);
    BOOST_TEST(tok.special.im_end == 2017);
    BOOST_TEST(tok.special.vision_start == 2024);
    BOOST_TEST(tok.special.vision_end == 2025);
    BOOST_TEST(tok.special.image_pad == 2027);
    BOOST_TEST(tok.special.video_pad == 2028);

    json j = tiny_json();
    for (json& a : j["added_tokens"])
        if (a["content"] == "<|image_pad|>") a["special"] = false;
    const std::string dir = (std::filesystem::temp_directory_path() / "vlgraph_test_tokenizer").string();
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/tokenizer.json") << j.dump();
    vt::check_throws<vl::format_error>([&] { (void)vl::qwen36::load_tokenizer(dir); }, {"<|image_pad|>", "tokenizer.json"}, "image_pad not special");
    std::filesystem::remove_all(dir);
    vt::check_throws<vl::io_error>([&] { (void)vl::qwen36::load_tokenizer(dir); }, {"vlgraph_test_tokenizer"}, "missing file");
}

// Special tokens are cut out verbatim, before normalisation and splitting; near misses are plain text.
BOOST_AUTO_TEST_CASE(special_tokens_and_lookalikes) {
    BOOST_TEST(tiny().encode("<|im_start|>") == ids_t{2016}, boost::test_tools::per_element());
    BOOST_TEST(tiny().encode("x<|im_end|><|im_end|>y") == (ids_t{tiny().encode("x")[0], 2017, 2017, tiny().encode("y")[0]}),
               boost::test_tools::per_element());
    for (const std::string text : {"<|im_start", "|im_start|>", "<|im_start |>", "<|Im_start|>", "<|im_start|"}) {
        BOOST_TEST_CONTEXT(text) {
            const ids_t ids = tiny().encode(text);
            for (const std::int32_t id : ids) BOOST_TEST(id < 2015);
            BOOST_TEST(tiny().decode(ids) == text);
        }
    }
    // The longest token wins where two start at the same place; "<|im_start|>" inside a longer lookalike
    // is still found.
    const ids_t ids = tiny().encode("<<|im_start|>|>");
    BOOST_TEST(std::count(ids.begin(), ids.end(), 2016) == 1);
    BOOST_TEST(tiny().decode(ids) == "<<|im_start|>|>");
    BOOST_TEST(tiny().decode(tiny().encode("a<|im_end|>b"), true) == "ab");
}

BOOST_AUTO_TEST_CASE(decode_unknown_and_partial_ids) {
    const std::int32_t a = tiny().encode("a")[0];
    // Ids without a token (lm_head padding rows) are skipped, as HF does; negative ids are a caller bug.
    BOOST_TEST(tiny().decode(ids_t{a, 2048, 100000, a}) == "aa");
    vt::check_throws<vl::error>([&] { (void)tiny().decode(ids_t{a, -1}); }, {"negative token id -1"}, "negative id");
    // A lone UTF-8 lead byte decodes to U+FFFD (one per maximal subpart, like Rust's from_utf8_lossy).
    const std::int32_t lead = tiny().token_to_id("ä").value();  // byte 0xE4
    BOOST_TEST(tiny().decode(ids_t{lead}) == "\xEF\xBF\xBD");
    BOOST_TEST(tiny().decode(ids_t{lead, a}) == "\xEF\xBF\xBD" "a");
    BOOST_TEST(tiny().decode(ids_t{lead, lead}) == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(streaming_decode_emits_whole_characters) {
    // Characters of 2, 3 and 4 bytes that the tiny vocab has no single token for.
    const std::string text = "Hi 𝄞 ψ 龘 👍🏽 ok 🦩";
    const ids_t ids = tiny().encode(text);
    bpe_tokenizer::stream_decoder stream(tiny());
    std::string out;
    std::size_t empty_pushes = 0;
    for (const std::int32_t id : ids) {
        const std::string piece = stream.push(id);
        BOOST_TEST(valid_utf8(piece), "piece " << show(piece));
        empty_pushes += piece.empty();
        out += piece;
    }
    out += stream.finish();
    BOOST_TEST(out == text);
    BOOST_TEST(empty_pushes >= 4u);  // characters really were split over tokens

    // A character cut short at the end of the stream becomes U+FFFD, like decode().
    const std::int32_t lead = tiny().token_to_id("ð").value();  // byte 0xF0
    bpe_tokenizer::stream_decoder cut(tiny());
    BOOST_TEST(cut.push(tiny().encode("a")[0]) == "a");
    BOOST_TEST(cut.push(lead) == "");
    BOOST_TEST(cut.finish() == "\xEF\xBF\xBD");
    // An ill-formed sequence is replaced as soon as it is known to be ill-formed.
    bpe_tokenizer::stream_decoder bad(tiny());
    BOOST_TEST(bad.push(lead) == "");
    BOOST_TEST(bad.push(tiny().encode("a")[0]) == "\xEF\xBF\xBD" "a");
    // Special tokens follow the skip flag.
    bpe_tokenizer::stream_decoder skip(tiny(), true);
    BOOST_TEST(skip.push(2017) == "");
    bpe_tokenizer::stream_decoder keep(tiny());
    BOOST_TEST(keep.push(2017) == "<|im_end|>");
}

// encode() refuses ill-formed UTF-8 with the offset (HF has no behaviour to copy: its API takes &str).
BOOST_AUTO_TEST_CASE(invalid_utf8_input) {
    const std::vector<std::pair<std::string, std::size_t>> bad = {
        {"abc\xFF", 3},           // never valid
        {"a\xC0\x80", 1},         // overlong NUL
        {"\xED\xA0\x80z", 0},     // UTF-8 of a lone surrogate (what Python's surrogatepass would give)
        {"xy\xE4\xB8", 2},        // truncated
        {"\xF4\x90\x80\x80", 0},  // above U+10FFFF
        {"ok \x80", 3},           // stray continuation byte
    };
    for (const auto& [text, offset] : bad) {
        BOOST_TEST_CONTEXT(show(text)) {
            try {
                (void)tiny().encode(text);
                BOOST_ERROR("no exception");
            } catch (const vl::text::utf8_error& e) {
                BOOST_TEST(e.offset == offset);
                BOOST_TEST(std::string(e.what()).find("not valid UTF-8") != std::string::npos);
                BOOST_TEST(std::string(e.what()).find("byte " + std::to_string(offset)) != std::string::npos);
            }
        }
    }
    // NUL is a valid character and is tokenised like any other byte.
    BOOST_TEST(tiny().decode(tiny().encode(std::string("a\0b", 3))) == std::string("a\0b", 3));
}

// Both merge spellings load to the same tokenizer.
BOOST_AUTO_TEST_CASE(string_merges_equal_pair_merges) {
    json j = tiny_json();
    json legacy = json::array({"#version: 0.2"});
    for (const json& m : j["model"]["merges"]) legacy.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    j["model"]["merges"] = legacy;
    const auto t = bpe_tokenizer::from_json(j);
    for (const std::string text : {"Hello world", "नमस्ते दुनिया", "مرحبا بالعالم", "def f(x):\n    return x**2"})
        BOOST_TEST(t.encode(text) == tiny().encode(text), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(concurrent_encode_and_speed) {
    const json cases = read_json(data_dir + "/golden/tokenizer_cases.json").at("cases");
    std::string chunk;
    for (const json& c : cases) chunk += c.at("decoded").get<std::string>() + "\n";  // NFC already: decode(encode(x)) == x
    std::string big;
    while (big.size() < (1u << 20)) big += chunk;
    const auto t0 = std::chrono::steady_clock::now();
    const ids_t once = tiny().encode(big);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    BOOST_TEST_MESSAGE("encode of " << big.size() << " bytes: " << seconds << " s, " << once.size() << " tokens");
    BOOST_TEST(seconds < 2.0);
    BOOST_TEST((tiny().decode(once) == big));
    // A fresh tokenizer (empty word cache) used from several threads gives the same ids.
    const auto fresh = bpe_tokenizer::from_file(tiny_tokenizer);
    std::vector<ids_t> results(4);
    std::vector<std::thread> threads;
    for (auto& r : results) threads.emplace_back([&] { r = fresh.encode(big.substr(0, 1 << 18)); });
    for (auto& th : threads) th.join();
    const ids_t quarter = tiny().encode(big.substr(0, 1 << 18));
    for (const auto& r : results) BOOST_TEST((r == quarter));
    // One 256 KiB word (no pre-token boundary) and one 256 KiB whitespace run stay fast and exact.
    for (const std::string& run : {std::string(1 << 18, 'a'), std::string(1 << 18, ' ') + "x"}) {
        const ids_t ids = tiny().encode(run);
        BOOST_TEST((tiny().decode(ids) == run));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(broken_files)

// Each variant of the tiny tokenizer.json must be refused with a vl::format_error naming the fault.
BOOST_AUTO_TEST_CASE(bad_tokenizer_json) {
    auto refuse = [](const std::function<void(json&)>& edit, std::initializer_list<std::string_view> needles, const std::string& what) {
        json j = tiny_json();
        edit(j);
        vt::check_throws<vl::format_error>([&] { (void)bpe_tokenizer::from_json(j); }, needles, what);
    };
    vt::check_throws<vl::format_error>([] { (void)bpe_tokenizer::from_json_text("{\"model\": ", "tok.json"); }, {"tok.json", "not valid JSON"}, "not JSON");
    vt::check_throws<vl::format_error>([] { (void)bpe_tokenizer::from_json_text("[1, 2]"); }, {"top level", "must be an object"}, "array");
    vt::check_throws<vl::io_error>([] { (void)bpe_tokenizer::from_file("/nonexistent/tokenizer.json"); }, {"/nonexistent/tokenizer.json"}, "no file");
    refuse([](json& j) { j.erase("model"); }, {"model", "is missing"}, "missing model");
    refuse([](json& j) { j["model"]["type"] = "WordPiece"; }, {"model.type", "WordPiece"}, "unknown model type");
    refuse([](json& j) { j["model"].erase("type"); }, {"model.type", "is missing"}, "model without type");
    refuse([](json& j) { j["model"]["dropout"] = 0.1; }, {"model.dropout"}, "dropout");
    refuse([](json& j) { j["model"]["byte_fallback"] = true; }, {"model.byte_fallback"}, "byte fallback");
    refuse([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }, {"model.continuing_subword_prefix"}, "prefix");
    refuse([](json& j) { j["model"]["merges"].push_back(json::array({"Ġt", "zzz"})); }, {"model.merges[1759]", "\"zzz\"", "not in the vocab"},
           "merge of unknown token");
    refuse([](json& j) { j["model"]["merges"].push_back("Ġt"); }, {"model.merges[1759]", "two tokens"}, "merge without space");
    refuse([](json& j) { j["model"]["merges"].push_back(json::array({"q", "q"})); }, {"model.merges[1759]", "\"qq\"", "not in the vocab"},
           "merge result not in vocab");
    refuse([](json& j) { j["model"]["merges"].push_back(42); }, {"model.merges[1759]", "string or an [a, b] pair"}, "merge is a number");
    refuse([](json& j) { j["model"]["vocab"]["Ġt"] = 265; }, {"model.vocab[\"Ġt\"]", "265", "already has"}, "duplicate id");
    refuse([](json& j) { j["model"]["vocab"]["Ġt"] = 5000; }, {"model.vocab[\"Ġt\"]", "5000", "outside 0..2014"}, "vocab id out of range");
    refuse([](json& j) { j["model"]["vocab"]["Ġt"] = -1; }, {"model.vocab[\"Ġt\"]", "-1"}, "negative vocab id");
    refuse([](json& j) { j["model"]["vocab"]["Ġt"] = "264"; }, {"model.vocab[\"Ġt\"]", "must be an integer"}, "string id");
    refuse([](json& j) { j["model"]["vocab"].erase("Ġ"); j["model"]["vocab"]["Ġzz"] = 220; }, {"model.vocab", "byte-level symbol"}, "missing byte");
    refuse([](json& j) { j["added_tokens"][3]["id"] = 4000; }, {"added_tokens[3].id", "4000", "2018"}, "added id out of range");
    refuse([](json& j) { j["added_tokens"][3]["id"] = 2019; }, {"added_tokens[3].id", "2019"}, "added ids swapped");
    refuse([](json& j) { j["added_tokens"][3]["content"] = "<|im_end|>"; }, {"added_tokens[3].content", "listed twice"}, "duplicate content");
    refuse([](json& j) { j["added_tokens"][0]["content"] = ""; }, {"added_tokens[0].content", "is empty"}, "empty content");
    refuse([](json& j) { j["added_tokens"][0].erase("id"); }, {"added_tokens[0].id", "is missing"}, "added without id");
    refuse([](json& j) { j["added_tokens"][0]["special"] = "yes"; }, {"added_tokens[0].special", "boolean"}, "flag not bool");
    refuse([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(?i:'s|[\\p{L}+"; }, {"pretokenizers[0].pattern.Regex", "cannot compile regex"},
           "bad regex");
    refuse([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }, {"pretokenizers[0].behavior", "Removed"}, "split behaviour");
    refuse([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["invert"] = true; }, {"pretokenizers[0].invert"}, "inverted split");
    refuse([](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["add_prefix_space"] = true; }, {"pretokenizers[1].add_prefix_space"}, "prefix space");
    refuse([](json& j) { j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; }, {"pretokenizers[1].use_regex"}, "builtin regex");
    refuse([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }, {"pre_tokenizer.type", "Whitespace"}, "other pre-tokenizer");
    refuse([](json& j) { j["pre_tokenizer"] = nullptr; }, {"pre_tokenizer", "is missing"}, "no pre-tokenizer");
    refuse([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, {"normalizer.type", "NFKC"}, "NFKC");
    refuse([](json& j) { j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Lowercase"}}}}}; },
           {"normalizer.normalizers[1].type", "Lowercase"}, "normalizer sequence");
    refuse([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, {"decoder.type", "WordPiece"}, "decoder");
    refuse([](json& j) { j["post_processor"]["single"].push_back({{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}}); },
           {"post_processor.single", "SpecialToken"}, "template adding a token");
    refuse([](json& j) { j["post_processor"] = {{"type", "BertProcessing"}}; }, {"post_processor.type", "BertProcessing"}, "bert post-processor");
}

// Issue 13 B3 / B4: structures that used to overflow the stack (a value 2M deep dumped into a message, a
// post-processor nested per level, a Split per recursion level of encode) are refused with a clear error.
BOOST_AUTO_TEST_CASE(hostile_nesting_and_sizes) {
    const std::string dumped = tiny_json().dump();
    // B3: the JSON depth limit holds for tokenizer.json; a deep value in an error message is summarised.
    const std::size_t n = 2'000'000;
    std::string deep = dumped;
    deep.insert(deep.size() - 1, ", \"x\": " + std::string(n, '[') + std::string(n, ']'));
    vt::check_throws<vl::format_error>([&] { (void)bpe_tokenizer::from_json_text(deep, "tok.json"); }, {"tok.json", "nested deeper than"}, "deep JSON");
    json wide = tiny_json();
    wide["model"]["vocab"]["Ġt"] = json::array();
    for (int i = 0; i < 100000; ++i) wide["model"]["vocab"]["Ġt"].push_back(i);
    try {
        (void)bpe_tokenizer::from_json(wide);
        BOOST_ERROR("no error for an array id");
    } catch (const vl::format_error& e) {
        BOOST_TEST(std::string(e.what()).size() < 300u, e.what());
    }
    // B4: a post-processor Sequence nested 100k deep (built in memory, past any parse limit).
    json pp = {{"type", "ByteLevel"}};
    json nested = tiny_json();
    json* at = &nested["post_processor"];
    for (int i = 0; i < 100000; ++i) {
        *at = {{"type", "Sequence"}, {"processors", json::array({json::object()})}};
        at = &(*at)["processors"][0];
    }
    *at = pp;
    vt::check_throws<vl::format_error>([&] { (void)bpe_tokenizer::from_json(nested); }, {"post_processor", "deeper than"}, "nested post-processor");
    // B4: 100k Split steps: encode recursed once per step (and each compiled a regex).
    json splits = tiny_json();
    auto& list = splits["pre_tokenizer"]["pretokenizers"];
    const json split = list[0], byte_level = list.back();
    list = json::array();
    for (int i = 0; i < 100000; ++i) list.push_back(split);
    list.push_back(byte_level);
    vt::check_throws<vl::format_error>([&] { (void)bpe_tokenizer::from_json(splits); }, {"pre_tokenizer.pretokenizers", "at most 16 Split steps"}, "many splits");
    // A Split pattern that backtracks catastrophically hits PCRE2's match limit: refused, and the message
    // names the file and the field (it said only "regex match failed").
    json backtracking = tiny_json();
    backtracking["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(a+)+$";
    const auto slow = bpe_tokenizer::from_json_text(backtracking.dump(), "tok.json");
    vt::check_throws<vl::error>([&] { (void)slow.encode(std::string(40, 'a') + "!"); },
                                {"tok.json: pre_tokenizer.pretokenizers[0].pattern.Regex: regex match failed", "match limit"}, "backtracking");
}

// Issue 13 B6 / B10: tokenizer.json is a regular file, inside the model directory when looked up there.
BOOST_AUTO_TEST_CASE(tokenizer_file_regular_and_confined) {
    namespace fs = std::filesystem;
    const fs::path base = fs::temp_directory_path() / ("vl_tokenizer_files_" + std::to_string(::getpid()));
    fs::remove_all(base);
    fs::create_directories(base / "model");
    BOOST_REQUIRE(::mkfifo((base / "fifo.json").c_str(), 0600) == 0);
    vt::check_throws<vl::io_error>([&] { (void)bpe_tokenizer::from_file(base / "fifo.json"); }, {"not a regular file"}, "fifo");
    fs::copy_file(tiny_tokenizer, base / "outside.json");
    fs::create_symlink(base / "outside.json", base / "model" / "tokenizer.json");
    vt::check_throws<vl::format_error>([&] { (void)vl::qwen36::load_tokenizer(base / "model"); }, {"outside the model directory"}, "symlink out");
    BOOST_TEST(vl::qwen36::load_tokenizer(base / "outside.json").special.im_start >= 0);  // explicit path: as given
    fs::remove_all(base);
}

// Variants HF accepts are accepted too and behave as HF's rules say.
BOOST_AUTO_TEST_CASE(accepted_variants) {
    json j = tiny_json();
    j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}}}};
    j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    // A repeated merge takes the rank of its last occurrence (HF builds its merge map by insertion).
    j["model"]["merges"].push_back(j["model"]["merges"][1]);  // "r e", now the lowest priority of all
    const auto t = bpe_tokenizer::from_json(j);
    BOOST_TEST(t.encode("café") == tiny().encode("café"), boost::test_tools::per_element());
    BOOST_TEST(t.encode("ore") != tiny().encode("ore"));  // "or" now merges before "re"
    // Without a normalizer, a decomposed é stays decomposed.
    json raw = tiny_json();
    raw["normalizer"] = nullptr;
    const auto r = bpe_tokenizer::from_json(raw);
    BOOST_TEST(r.decode(r.encode("cafe\u0301")) == "cafe\u0301");
    BOOST_TEST(tiny().decode(tiny().encode("cafe\u0301")) == "caf\u00e9");
}

// Found by fuzz_tokenizer: a tokenizer.json without "added_tokens" left the id -> bytes table empty, and
// decode read past it (UBSan: offset applied to a null pointer; garbage or a crash without sanitizers).
BOOST_AUTO_TEST_CASE(decode_without_added_tokens) {
    json j = tiny_json();
    j.erase("added_tokens");
    const auto t = bpe_tokenizer::from_json(j);
    const auto ids = t.encode("Hello world");
    BOOST_TEST(ids == tiny().encode("Hello world"), boost::test_tools::per_element());
    BOOST_TEST(t.decode(ids) == "Hello world");
}

BOOST_AUTO_TEST_SUITE_END()
