// Chat template renderer (models/qwen36/chat.hpp, vlgraph/text/jinja/) against HF transformers:
// tests/data/golden/chat_template_cases.json (dump_goldens.py) and chat_template_extra.json
// (dump_chat_extra.py): byte-identical prompts, <|image_pad|> expansion, the template's own errors, Jinja2
// feature templates; plus every refusal (tools, video, bad messages, unsupported Jinja) and resource bounds.
#define BOOST_TEST_MODULE chat_template
#include <boost/test/unit_test.hpp>

#include "test_util.hpp"

#include <vlgraph/models/qwen36/chat.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

namespace q = vl::qwen36;
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path data_dir = VLGRAPH_TEST_DATA;
const fs::path tiny = data_dir / "tiny-qwen36";

json read_json(const fs::path& p) {
    std::ifstream f(p);
    BOOST_REQUIRE_MESSAGE(f, "cannot open " << p);
    return json::parse(f);
}

const q::chat_template& qwen_template() {
    static const q::chat_template t = q::chat_template::load(tiny);
    return t;
}

// HF's apply_chat_template defaults: add_generation_prompt false, the other flags absent (which the Qwen
// template reads like their false/true defaults here).
q::chat_options options_of(const json& kw) {
    q::chat_options o;
    o.add_generation_prompt = kw.value("add_generation_prompt", false);
    o.enable_thinking = kw.value("enable_thinking", true);
    o.preserve_thinking = kw.value("preserve_thinking", false);
    o.add_vision_id = kw.value("add_vision_id", false);
    return o;
}

std::size_t count(const std::string& s, const std::string& needle) {
    std::size_t n = 0;
    for (std::size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + needle.size())) ++n;
    return n;
}

std::string render(const std::vector<q::message>& msgs, const q::chat_options& o = {}) { return qwen_template().render(msgs, o); }

q::message user(std::string text) { return {"user", {q::content_part::of_text(std::move(text))}, std::nullopt}; }

// JSON -> template value, for the Jinja feature cases.
template <class Json>
vl::text::jinja::value to_value(const Json& j) {
    using vl::text::jinja::value;
    if (j.is_null()) return value::none();
    if (j.is_boolean()) return value::boolean(j.template get<bool>());
    if (j.is_number_integer()) return value::integer(j.template get<std::int64_t>());
    if (j.is_number_float()) return value::floating(j.template get<double>());
    if (j.is_string()) return value::string(j.template get<std::string>());
    if (j.is_array()) {
        value::list_type items;
        for (const auto& e : j) items.push_back(to_value(e));
        return value::list(std::move(items));
    }
    BOOST_REQUIRE(j.is_object());
    value::fields_type fields;
    for (const auto& [k, v] : j.items()) fields.emplace_back(k, to_value(v));
    return value::dict(std::move(fields));
}

template <class Json = json>
std::string render_source(const std::string& source, const Json& vars = Json::object()) {
    const vl::text::jinja::parsed_template t(source);
    vl::text::jinja::value::fields_type globals;
    for (const auto& [k, v] : vars.items()) globals.emplace_back(k, to_value(v));
    return vl::text::jinja::renderer(std::move(globals)).render(t);
}

}  // namespace

BOOST_AUTO_TEST_CASE(golden_cases_match_hf) {
    const json cases = read_json(data_dir / "golden" / "chat_template_cases.json")["cases"];
    BOOST_REQUIRE_EQUAL(cases.size(), 10u);
    int rendered = 0;
    for (const json& c : cases) {
        const std::string name = c["name"];
        BOOST_TEST_CONTEXT(name) {
            if (c["kwargs"].contains("tools")) continue;  // with the tool cases below (their key order matters)
            const std::string out = qwen_template().render(q::parse_messages(c["messages"]), options_of(c["kwargs"]));
            BOOST_TEST(out == c["rendered"].get<std::string>());
            ++rendered;
            if (!c.contains("image_grid_thw")) continue;
            std::vector<std::int64_t> tokens;
            for (const json& g : c["image_grid_thw"]) tokens.push_back(g[0].get<std::int64_t>() * g[1].get<std::int64_t>() * g[2].get<std::int64_t>() / 4);
            const std::string expanded = q::expand_image_pads(out, tokens);
            const auto ids = c["input_ids"].get<std::vector<std::int64_t>>();
            BOOST_TEST(count(expanded, "<|image_pad|>") == static_cast<std::size_t>(std::count(ids.begin(), ids.end(), 2027)));
            BOOST_TEST(count(expanded, "<|vision_start|>") == tokens.size());
        }
    }
    BOOST_TEST(rendered == 9);
}

// Tools, tool calls and tool results (tools/reference/dump_chat_tools.py): read with their key order, through
// the parse path the server uses (parse_messages over nlohmann::ordered_json, tools as sent).
BOOST_AUTO_TEST_CASE(tool_cases_match_hf) {
    using ojson = nlohmann::ordered_json;
    const auto read_ordered = [](const fs::path& p) {
        std::ifstream f(p);
        BOOST_REQUIRE_MESSAGE(f, "cannot open " << p);
        return ojson::parse(f);
    };
    std::vector<ojson> cases;
    const ojson tools = read_ordered(data_dir / "golden" / "chat_template_tools.json"), first = read_ordered(data_dir / "golden" / "chat_template_cases.json");
    for (const ojson& c : tools["cases"]) cases.push_back(c);
    for (const ojson& c : first["cases"])
        if (c["kwargs"].contains("tools")) cases.push_back(c);
    BOOST_REQUIRE_GE(cases.size(), 19u);
    for (const ojson& c : cases) {
        const std::string name = c["name"];
        BOOST_TEST_CONTEXT(name) {
            q::chat_options o = options_of(json::parse(c["kwargs"].dump()));
            if (c["kwargs"].contains("tools")) o.tools = c["kwargs"]["tools"];
            const std::vector<q::message> msgs = q::parse_messages(c["messages"]);
            if (c.contains("error")) {
                vt::check_throws<vl::error>([&] { (void)render(msgs, o); }, {"chat template raised an exception", c["error"].get<std::string>()}, name);
                continue;
            }
            BOOST_TEST(render(msgs, o) == c["rendered"].get<std::string>());
        }
    }
    // Arguments sent as a JSON string (OpenAI's form) render as the same object.
    const ojson as_string = ojson::parse(R"([{"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\", \"days\": 2}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"}])");
    const std::string rendered = render(q::parse_messages(as_string));
    BOOST_TEST(rendered.find("<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n2\n</parameter>\n</function>") != std::string::npos, rendered);
    BOOST_TEST(rendered.find("<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>") != std::string::npos, rendered);
}

BOOST_AUTO_TEST_CASE(malformed_tool_calls_are_refused) {
    using ojson = nlohmann::ordered_json;
    const auto refuse = [](const std::string& calls, std::initializer_list<std::string_view> needles) {
        const ojson msgs = ojson::parse(R"([{"role": "user", "content": "q"}, {"role": "assistant", "content": "", "tool_calls": )" + calls + "}]");
        vt::check_throws<vl::error>([&] { (void)q::parse_messages(msgs); }, needles, calls);
    };
    refuse(R"({"a": 1})", {"messages[1].tool_calls", "must be a list"});
    refuse(R"([1])", {"tool_calls[0]", "must be an object"});
    refuse(R"([{"function": {"arguments": {}}}])", {"tool_calls[0].function.name", "non-empty string"});
    refuse(R"([{"function": {"name": "f", "arguments": "not json"}}])", {"tool_calls[0].function.arguments", "JSON object"});
    refuse(R"([{"function": {"name": "f", "arguments": "[1, 2]"}}])", {"tool_calls[0].function.arguments", "JSON object"});
    refuse(R"([{"function": {"name": "f", "arguments": 3}}])", {"tool_calls[0].function.arguments", "JSON object"});
    vt::check_throws<vl::error>([&] { (void)render({user("q"), {"tool", {q::content_part::of_text("r")}, std::nullopt, ojson::array({ojson::object()})}}); },
                                {"only assistant messages carry tool calls"}, "tool calls on a tool message");
    vt::check_throws<vl::error>([&] { (void)q::parse_messages(ojson::parse(R"([{"role": "tool", "content": "x", "tool_call_id": 5}])")); },
                                {"messages[0].tool_call_id", "must be a string"}, "tool_call_id");
}

BOOST_AUTO_TEST_CASE(tool_filters_match_transformers) {
    std::ifstream f(data_dir / "golden" / "chat_template_tools.json");
    const nlohmann::ordered_json cases = nlohmann::ordered_json::parse(f)["jinja"];  // dict order is what tojson prints
    BOOST_REQUIRE_GE(cases.size(), 5u);
    for (const nlohmann::ordered_json& c : cases)
        BOOST_TEST_CONTEXT(c["name"].get<std::string>()) {
            BOOST_TEST(render_source(c["template"].template get<std::string>(), c["vars"]) == c["rendered"].template get<std::string>());
        }
}

BOOST_AUTO_TEST_CASE(extra_cases_match_hf) {
    const json cases = read_json(data_dir / "golden" / "chat_template_extra.json")["cases"];
    BOOST_REQUIRE_GE(cases.size(), 20u);
    for (const json& c : cases) {
        const std::string name = c["name"];
        BOOST_TEST_CONTEXT(name) {
            const auto msgs = q::parse_messages(c["messages"]);
            const q::chat_options o = options_of(c["kwargs"]);
            if (c.contains("error")) {
                vt::check_throws<vl::error>([&] { (void)render(msgs, o); }, {"chat template raised an exception", c["error"].get<std::string>()}, name);
                continue;
            }
            const std::string out = render(msgs, o);
            BOOST_TEST(out == c["rendered"].get<std::string>());
            if (c.contains("expanded"))
                BOOST_TEST(q::expand_image_pads(out, c["tokens_per_image"].get<std::vector<std::int64_t>>()) == c["expanded"].get<std::string>());
        }
    }
}

BOOST_AUTO_TEST_CASE(jinja_features_match_jinja2) {
    const json cases = read_json(data_dir / "golden" / "chat_template_extra.json")["jinja"];
    BOOST_REQUIRE_GE(cases.size(), 8u);
    for (const json& c : cases)
        BOOST_TEST_CONTEXT(c["name"].get<std::string>()) {
            BOOST_TEST(render_source(c["template"].template get<std::string>(), c["vars"]) == c["rendered"].template get<std::string>());
        }
}

BOOST_AUTO_TEST_CASE(message_struct_api) {
    // The struct form renders like the JSON form; a lone text part is the plain-string form.
    const std::vector<q::message> msgs{
        {"system", {q::content_part::of_text("Be brief.")}, std::nullopt},
        {"user", {q::content_part::of_text("Compare "), q::content_part::of_image("a.png"), q::content_part::of_image(), q::content_part::of_text(" please.")}, std::nullopt},
        {"assistant", {q::content_part::of_text("Same.")}, "Looked at both."},
        user("Why?"),
    };
    q::chat_options o;
    o.enable_thinking = false;
    BOOST_TEST(render(msgs, o) ==
               "<|im_start|>system\nBe brief.<|im_end|>\n"
               "<|im_start|>user\nCompare <|vision_start|><|image_pad|><|vision_end|><|vision_start|><|image_pad|><|vision_end|> please.<|im_end|>\n"
               "<|im_start|>assistant\nSame.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
    o.preserve_thinking = true;
    o.add_generation_prompt = false;
    BOOST_TEST(render(msgs, o).find("<|im_start|>assistant\n<think>\nLooked at both.\n</think>\n\nSame.<|im_end|>\n") != std::string::npos);
    // An empty reasoning string is not "no reasoning": it stops `<think>` in the content from being taken as it.
    const std::vector<q::message> empty_reasoning{user("Q"), {"assistant", {q::content_part::of_text("<think>x</think>y")}, ""}};
    q::chat_options plain;
    plain.add_generation_prompt = false;
    BOOST_TEST(render(empty_reasoning, plain) == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n<think>x</think>y<|im_end|>\n");
}

BOOST_AUTO_TEST_CASE(parse_messages_forms) {
    const auto msgs = q::parse_messages(json::parse(R"({"messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                                     {"type": "image", "path": "x.png"}, {"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": null, "reasoning_content": null, "thinking": "t", "reasoning": "r", "tool_calls": []}]})"));
    BOOST_REQUIRE_EQUAL(msgs.size(), 2u);
    BOOST_REQUIRE_EQUAL(msgs[0].content.size(), 3u);
    BOOST_TEST((msgs[0].content[0].kind == q::part_kind::image && msgs[0].content[0].image == "data:image/png;base64,AA=="));
    BOOST_TEST(msgs[0].content[1].image == "x.png");
    BOOST_TEST(msgs[0].content[2].text == "hi");
    BOOST_TEST(msgs[1].content.empty());
    BOOST_TEST(msgs[1].reasoning.value_or("") == "t");  // first non-null of reasoning_content, thinking, reasoning
}

BOOST_AUTO_TEST_CASE(refusals_of_unsupported_input) {
    const auto parse = [](const char* text) { return [text] { (void)q::parse_messages(json::parse(text)); }; };
    vt::check_throws<vl::error>(parse(R"([{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": ""}}]}])"), {"function.name"}, "tool calls");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": [{"type": "video", "video": "v.mp4"}]}])"), {"content[0]", "video input is not supported"}, "video");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": [{"type": "audio"}]}])"), {"unsupported content type \"audio\""}, "audio");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": [{"text": "no type"}]}])"), {"string \"type\""}, "no type");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": [{"type": "text"}]}])"), {"needs a string \"text\""}, "text without text");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": 5}])"), {"content: must be"}, "content type");
    vt::check_throws<vl::error>(parse(R"([{"role": "user", "content": "x", "nickname": "bob"}])"), {"unsupported message field \"nickname\""}, "unknown field");
    vt::check_throws<vl::error>(parse(R"([{"content": "x"}])"), {"missing \"role\""}, "no role");
    vt::check_throws<vl::error>(parse(R"({"role": "user"})"), {"expected a JSON array"}, "not an array");
    vt::check_throws<vl::error>(parse(R"([{"role": "assistant", "content": "x", "thinking": 3}])"), {"thinking: must be a string"}, "reasoning type");

    const auto rend = [](std::vector<q::message> m) { return [m] { (void)render(m); }; };
    vt::check_throws<vl::error>(rend({}), {"no messages"}, "empty");
    vt::check_throws<vl::error>(rend({user("a"), {"system", {q::content_part::of_text("s")}, std::nullopt}}), {"message 1 (system)", "must be the first"}, "late system");
    vt::check_throws<vl::error>(rend({{"system", {q::content_part::of_image()}, std::nullopt}, user("a")}), {"system message cannot contain images"}, "system image");
    vt::check_throws<vl::error>(rend({{"developer", {}, std::nullopt}, user("a")}), {"unknown role"}, "role");
    vt::check_throws<vl::error>(rend({{"tool", {}, std::nullopt}}), {"No user query found"}, "a tool result alone (the template's own check)");
    vt::check_throws<vl::error>(rend({{"user", {q::content_part::of_text("q")}, "r"}}), {"only assistant messages carry reasoning"}, "user reasoning");
    vt::check_throws<vl::error>(rend({user("bad \xC3\x28 utf8")}), {"message 0 (user)", "not valid UTF-8"}, "invalid utf8");
    vt::check_throws<vl::error>(rend({user("q"), {"assistant", {}, std::string("\xED\xA0\x80")}}), {"reasoning is not valid UTF-8"}, "surrogate");
}

BOOST_AUTO_TEST_CASE(unsupported_jinja_is_refused) {
    const auto load = [](std::string src) { return [src] { (void)q::chat_template::from_source(src, "my.jinja"); }; };
    vt::check_throws<vl::format_error>(load("{% include 'x' %}"), {"my.jinja", "line 1", "unsupported Jinja statement 'include'"}, "include");
    vt::check_throws<vl::format_error>(load("a\n{% raw %}{% endraw %}"), {"line 2", "'raw'"}, "raw");
    vt::check_throws<vl::format_error>(load("{{ {'a': 1} }}"), {"dict literals"}, "dict");
    vt::check_throws<vl::format_error>(load("{{ 1.5 }}"), {"only decimal integers"}, "float");
    vt::check_throws<vl::format_error>(load("{{ 1 / 2 }}"), {"operator '/'"}, "division");
    vt::check_throws<vl::format_error>(load("{% for x in y if x %}{% endfor %}"), {"loop filters"}, "loop filter");
    vt::check_throws<vl::format_error>(load("{% if x %}"), {"missing {% endif %}"}, "unclosed");
    vt::check_throws<vl::format_error>(load("{% endfor %}"), {"unexpected {% endfor %}"}, "stray end");
    vt::check_throws<vl::format_error>(load("{{ 'a }}"), {"unterminated string"}, "string");
    vt::check_throws<vl::format_error>(load("{{ x"), {"unterminated {{"}, "tag");
    vt::check_throws<vl::format_error>(load("{{ '\\N{DASH}' }}"), {"unsupported escape \\N"}, "escape");
    vt::check_throws<vl::format_error>(load("{{ '\\ud800' }}"), {"not a Unicode scalar"}, "surrogate escape");
    vt::check_throws<vl::format_error>(load("{{ 99999999999999999999 }}"), {"integer literal too large"}, "big literal");
    vt::check_throws<vl::format_error>(load("\xFF"), {"not valid UTF-8"}, "utf8 template");
    // Found by fuzz_chat_template: `x[]` parsed as an item with no index, which the renderer dereferenced.
    vt::check_throws<vl::format_error>(load("{{ messages[] }}"), {"my.jinja", "line 1", "an empty subscript []"}, "empty subscript");

    const auto run = [](std::string src) {
        return [src] { (void)q::chat_template::from_source(src, "my.jinja").render(std::vector<q::message>{user("hi")}); };
    };
    vt::check_throws<vl::error>(run("{{ bos_token }}"), {"my.jinja", "'bos_token', which vlgraph does not provide"}, "unknown variable");
    vt::check_throws<vl::error>(run("{{ messages|upper }}"), {"filter 'upper' is not supported"}, "upper");
    vt::check_throws<vl::error>(run("{{ messages|tojson(indent=2) }}"), {"keyword arguments to filters"}, "tojson with arguments");
    vt::check_throws<vl::error>(run("{{ namespace(a=1)|tojson }}"), {"tojson of a namespace is not supported"}, "tojson of a namespace");
    vt::check_throws<vl::error>(run("{{ messages[0].content.upper() }}"), {"string method 'upper'"}, "method");
    vt::check_throws<vl::error>(run("{{ messages[0].items }}"), {"dict method 'items'"}, "dict method");
    vt::check_throws<vl::error>(run("{{ messages[0].__class__ }}"), {"unsafe"}, "dunder");
    vt::check_throws<vl::error>(run("{{ messages }}"), {"printing a list"}, "print list");
    vt::check_throws<vl::error>(run("{{ messages is divisibleby }}"), {"test 'divisibleby'"}, "test");
    vt::check_throws<vl::error>(run("{{ nothing.x }}{% set nothing = 1 %}"), {"'nothing'"}, "unset");
    vt::check_throws<vl::error>(run("{{ messages[0].missing.x }}"), {"attribute 'x' of an undefined value"}, "undefined attribute");
    vt::check_throws<vl::error>(run("{{ messages[0].missing + 1 }}"), {"'+' on an undefined value"}, "undefined arithmetic");
    vt::check_throws<vl::error>(run("{{ raise_exception('custom stop') }}"), {"raised an exception: custom stop"}, "raise");
    vt::check_throws<vl::error>(run("{% set x = 1 %}{% set x.a = 2 %}"), {"'x' is not one"}, "set attr on non-namespace");
    vt::check_throws<vl::error>(run("{{ 9223372036854775807 + 1 }}"), {"integer overflow"}, "overflow");
    vt::check_throws<vl::error>(run("{{ 1 // 0 }}"), {"division or modulo by zero"}, "div zero");
}

BOOST_AUTO_TEST_CASE(template_errors_surface) {
    // The Qwen template's own checks reach the caller with its message.
    vt::check_throws<vl::error>([] { (void)render({{"assistant", {q::content_part::of_text("a")}, std::nullopt}}); },
                                {"chat_template.jinja", "No user query found in messages."}, "no user query");
}

BOOST_AUTO_TEST_CASE(resource_bounds) {
    const auto run = [](std::string src) {
        return [src] { (void)q::chat_template::from_source(src).render(std::vector<q::message>{user("hi")}); };
    };
    vt::check_throws<vl::error>(run("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}"), {"macro calls nested deeper"}, "recursion");
    vt::check_throws<vl::error>(run("{% macro d(s, n) %}{% if n > 0 %}{{ d(s ~ s, n - 1) }}{% else %}{{ s }}{% endif %}{% endmacro %}{{ d('abcdefgh', 30) }}"),
                                {"exceeds"}, "doubling");
    vt::check_throws<vl::format_error>([] { (void)q::chat_template::from_source("{{ " + std::string(1000, '(') + "1" + std::string(1000, ')') + " }}"); },
                                       {"nesting deeper"}, "parentheses");
}

// Issue 13 B5: templates that never end, or grow a list without bound, fail on the work / list budgets.
BOOST_AUTO_TEST_CASE(work_and_list_budgets) {
    const auto run = [](std::string src) {
        return [src] { (void)q::chat_template::from_source(src).render(std::vector<q::message>{user("hi")}); };
    };
    // 2^31 macro calls that print nothing (each nests only 30 deep).
    vt::check_throws<vl::error>(run("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(30) }}"),
                                {"too much work"}, "exponential macro");
    // Nested loops that print nothing: 2^40 iterations.
    vt::check_throws<vl::error>(
        run("{% set ns = namespace(l=[1]) %}"
            "{% set ns.l = [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1] %}"
            "{% for a in ns.l %}{% for b in ns.l %}{% for c in ns.l %}{% for d in ns.l %}{% for e in ns.l %}{% for f in ns.l %}{% for g in ns.l %}"
            "{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}"),
        {"too much work"}, "nested empty loops");
    // A list doubled in a loop: list + is capped as strings are.
    vt::check_throws<vl::error>(run("{% set ns = namespace(l=[1]) %}{% for i in [1,2,3,4,5,6,7,8] %}{% for j in [1,2,3,4,5,6,7,8] %}"
                                    "{% set ns.l = ns.l + ns.l %}{% endfor %}{% endfor %}{{ ns.l | length }}"),
                                {"exceeds the limit"}, "list doubling");
    // The real template is far from the budget.
    BOOST_TEST(!render({user("hi")}).empty());
}

BOOST_AUTO_TEST_CASE(expand_image_pads_counts) {
    const std::string p = "a<|image_pad|>b<|image_pad|>c";
    const std::vector<std::int64_t> two{2, 1};
    BOOST_TEST(q::expand_image_pads(p, two) == "a<|image_pad|><|image_pad|>b<|image_pad|>c");
    BOOST_TEST(q::expand_image_pads("no images", std::vector<std::int64_t>{}) == "no images");
    vt::check_throws<vl::error>([&] { (void)q::expand_image_pads(p, std::vector<std::int64_t>{3}); }, {"2 <|image_pad|> placeholders but 1 images"}, "too few");
    vt::check_throws<vl::error>([&] { (void)q::expand_image_pads("x", two); }, {"0 <|image_pad|> placeholders but 2 images"}, "too many");
    vt::check_throws<vl::error>([&] { (void)q::expand_image_pads(p, std::vector<std::int64_t>{2, 0}); }, {"image 1 has 0 tokens"}, "zero");
    vt::check_throws<vl::error>([&] { (void)q::expand_image_pads(p, std::vector<std::int64_t>{int64_t{1} << 40, 1}); }, {"image 0 has"}, "huge");
}

BOOST_AUTO_TEST_CASE(load_from_checkpoint_files) {
    const std::string source = qwen_template().source();
    const fs::path dir = fs::temp_directory_path() / ("vl_chat_template_" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto write = [&](const char* name, const std::string& text) { std::ofstream(dir / name, std::ios::binary) << text; };
    const std::vector<q::message> msgs{user("Hello!")};
    const std::string expected = render(msgs);

    vt::check_throws<vl::io_error>([&] { (void)q::chat_template::load(dir); }, {"no chat template"}, "none");
    write("tokenizer_config.json", json{{"chat_template", json::array({json{{"name", "tool_use"}, {"template", "x"}}, json{{"name", "default"}, {"template", source}}})}}.dump());
    BOOST_TEST(q::chat_template::load(dir).render(msgs) == expected);  // named list: "default"
    write("tokenizer_config.json", json{{"chat_template", source}}.dump());
    BOOST_TEST(q::chat_template::load(dir).render(msgs) == expected);
    write("chat_template.json", json{{"chat_template", "{{ 'from json' }}"}}.dump());
    BOOST_TEST(q::chat_template::load(dir).render(msgs) == "from json");  // processor file before tokenizer_config
    write("chat_template.jinja", "{{ 'from jinja' }}\n");
    BOOST_TEST(q::chat_template::load(dir).render(msgs) == "from jinja");  // .jinja first; final newline dropped
    write("chat_template.jinja", "{% if %}");
    vt::check_throws<vl::format_error>([&] { (void)q::chat_template::load(dir); }, {"chat_template.jinja", "line 1"}, "bad template");
    fs::remove(dir / "chat_template.jinja");
    write("chat_template.json", "{not json");
    vt::check_throws<vl::format_error>([&] { (void)q::chat_template::load(dir); }, {"chat_template.json", "not valid JSON"}, "bad json");
    write("chat_template.json", json{{"chat_template", json::array({json{{"name", "other"}}})}}.dump());
    vt::check_throws<vl::format_error>([&] { (void)q::chat_template::load(dir); }, {"\"default\""}, "no default");
    fs::remove_all(dir);
}

// Issue 13 B6 / B10: template files are regular files of bounded size inside the checkpoint directory.
BOOST_AUTO_TEST_CASE(template_files_are_regular_bounded_and_confined) {
    const fs::path base = fs::temp_directory_path() / ("vl_chat_template_files_" + std::to_string(::getpid()));
    fs::remove_all(base);
    const fs::path dir = base / "model";
    fs::create_directories(dir);
    // /dev/zero would be read forever; a FIFO would block the open.
    fs::create_symlink("/dev/zero", dir / "chat_template.jinja");
    vt::check_throws<vl::error>([&] { (void)q::chat_template::load(dir); }, {"chat_template.jinja"}, "/dev/zero");
    fs::remove(dir / "chat_template.jinja");
    BOOST_REQUIRE(::mkfifo((dir / "chat_template.jinja").c_str(), 0600) == 0);
    vt::check_throws<vl::io_error>([&] { (void)q::chat_template::load(dir); }, {"not a regular file"}, "fifo");
    fs::remove(dir / "chat_template.jinja");
    // A symlink out of the directory is refused (an explicit path would be the user's choice).
    std::ofstream(base / "outside.jinja") << "{{ 'outside' }}";
    fs::create_symlink(base / "outside.jinja", dir / "chat_template.jinja");
    vt::check_throws<vl::format_error>([&] { (void)q::chat_template::load(dir); }, {"outside the model directory"}, "symlink out");
    fs::remove(dir / "chat_template.jinja");
    // A symlink that stays inside is fine.
    std::ofstream(dir / "real.jinja") << "{{ 'inside' }}";
    fs::create_symlink("real.jinja", dir / "chat_template.jinja");
    BOOST_TEST(q::chat_template::load(dir).render(std::vector<q::message>{user("hi")}) == "inside");
    // Too large.
    fs::remove(dir / "chat_template.jinja");
    fs::resize_file(dir / "real.jinja", q::chat_template::max_file_bytes + 1);
    fs::create_symlink("real.jinja", dir / "chat_template.jinja");
    vt::check_throws<vl::format_error>([&] { (void)q::chat_template::load(dir); }, {"too large"}, "size cap");
    fs::remove_all(base);
}
