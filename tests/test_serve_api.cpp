// The OpenAI API library of `vlgraph serve` without HTTP (include/vlgraph/serve/openai.hpp): request
// parsing and every refusal naming its field, image URL policy, response / chunk / error JSON shapes and
// SSE framing; streaming stop strings (text/stop_strings.hpp) and the Qwen3 reasoning split
// (models/qwen36/reasoning.hpp), each checked streamed against whole-text results over random splits.
#define BOOST_TEST_MODULE serve_api
#include <boost/test/unit_test.hpp>

#include <vlgraph/models/qwen36/chat.hpp>
#include <vlgraph/models/qwen36/reasoning.hpp>
#include <vlgraph/models/qwen36/tool_calls.hpp>
#include <vlgraph/serve/openai.hpp>
#include <vlgraph/text/stop_strings.hpp>
#include <vlgraph/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace {

namespace s = vl::serve;
namespace q = vl::qwen36;
using nlohmann::json;

const s::request_limits limits{};

json base_request() { return {{"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}}; }

s::chat_request parse(const json& body) { return s::parse_chat_request(body.dump(), limits); }

// Requires `body` to be refused with `status`, naming `param`, with a message containing `needle`.
void check_refused(const std::string& body, int status, const std::string& param, const std::string& needle,
                   const s::request_limits& l = limits) {
    BOOST_TEST_CONTEXT(body.substr(0, 200)) {
        try {
            (void)s::parse_chat_request(body, l);
            BOOST_ERROR("accepted");
        } catch (const s::api_error& e) {
            BOOST_TEST(e.status == status);
            BOOST_TEST(e.param == param);
            BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, "message \"" << e.what() << "\" lacks \"" << needle << "\"");
        }
    }
}

void check_refused(const json& body, const std::string& param, const std::string& needle) { check_refused(body.dump(), 400, param, needle); }

json with(const std::string& key, const json& value) {
    json b = base_request();
    b[key] = value;
    return b;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_field_type_error_names_its_field) {
    struct bad {
        const char* field;
        json value;
        const char* param;
        const char* expected;
    };
    const std::vector<bad> cases{
        {"model", 7, "model", "expected a string"},
        {"messages", "hi", "messages", "expected an array"},
        {"messages", json::array({"hi"}), "messages[0]", "expected a message object"},
        {"temperature", "hot", "temperature", "expected a number"},
        {"top_p", true, "top_p", "expected a number"},
        {"top_k", 1.5, "top_k", "expected an integer"},
        {"top_k", "5", "top_k", "expected an integer"},
        {"repetition_penalty", json::array(), "repetition_penalty", "expected a number"},
        {"seed", "42", "seed", "expected an integer"},
        {"max_tokens", "10", "max_tokens", "expected an integer"},
        {"max_completion_tokens", json::object(), "max_completion_tokens", "expected an integer"},
        {"stop", 3, "stop", "expected a string or an array of strings"},
        {"stop", json::array({"a", 1}), "stop[1]", "expected a string"},
        {"n", "1", "n", "expected an integer"},
        {"stream", "yes", "stream", "expected a boolean"},
        {"chat_template_kwargs", json::array(), "chat_template_kwargs", "expected an object"},
        {"chat_template_kwargs", {{"enable_thinking", "no"}}, "chat_template_kwargs.enable_thinking", "expected a boolean"},
        {"chat_template_kwargs", {{"preserve_thinking", 1}}, "chat_template_kwargs.preserve_thinking", "expected a boolean"},
        {"tools", json::object(), "tools", "expected an array"},
    };
    for (const bad& c : cases) check_refused(with(c.field, c.value), c.param, std::string(c.param) + ": " + c.expected);

    json b = with("stream", true);
    b["stream_options"] = 1;
    check_refused(b, "stream_options", "expected an object");
    b["stream_options"] = {{"include_usage", "y"}};
    check_refused(b, "stream_options.include_usage", "expected a boolean");
    // the message quotes what was sent
    check_refused(with("temperature", "hot"), "temperature", "got \"hot\"");
}

BOOST_AUTO_TEST_CASE(out_of_range_values_are_refused) {
    check_refused(with("temperature", -0.5), "temperature", ">= 0");
    check_refused(with("top_p", 0), "top_p", "(0, 1]");
    check_refused(with("top_p", 1.5), "top_p", "(0, 1]");
    check_refused(with("top_k", -2), "top_k", "-1 or 0");
    check_refused(with("repetition_penalty", 0), "repetition_penalty", "> 0");
    check_refused(with("max_tokens", 0), "max_tokens", "at least 1");
    check_refused(with("max_completion_tokens", -3), "max_completion_tokens", "at least 1");
    check_refused(with("max_tokens", std::uint64_t{18446744073709551615u}), "max_tokens", "too large");
    check_refused(with("seed", 1e300), "seed", "expected an integer");
    check_refused(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": 1e400})", 400, "", "number overflow parsing '1e400'");
    check_refused(with("messages", json::array()), "messages", "must not be empty");
    check_refused(json{{"model", "m"}}, "messages", "required");
    check_refused(with("stream_options", {{"include_usage", true}}), "stream_options", "only allowed when stream is true");
    check_refused(with("chat_template_kwargs", {{"tools_in_system", true}}), "chat_template_kwargs.tools_in_system", "unsupported");
}

BOOST_AUTO_TEST_CASE(n_other_than_one_is_refused) {
    check_refused(with("n", 2), "n", "only n = 1");
    check_refused(with("n", 0), "n", "only n = 1");
    BOOST_TEST(parse(with("n", 1)).messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(stop_strings) {
    check_refused(with("stop", json::array({"a", "b", "c", "d", "e"})), "stop", "at most 4");
    check_refused(with("stop", ""), "stop", "must not be empty");
    check_refused(with("stop", json::array({"a", ""})), "stop[1]", "must not be empty");
    check_refused(with("stop", std::string(limits.max_stop_bytes + 1, 'x')), "stop", "over the limit");
    BOOST_TEST(parse(with("stop", json::array({"a", "b", "c", "d"}))).stop == (std::vector<std::string>{"a", "b", "c", "d"}));
    BOOST_TEST(parse(with("stop", "###")).stop == std::vector<std::string>{"###"});
    BOOST_TEST(parse(with("stop", json::array())).stop.empty());
}

BOOST_AUTO_TEST_CASE(null_fields_are_absent) {
    json b = base_request();
    for (const char* k : {"model", "temperature", "top_p", "top_k", "repetition_penalty", "seed", "max_tokens", "max_completion_tokens", "stop",
                          "n", "stream", "stream_options", "chat_template_kwargs", "tools", "tool_choice"})
        b[k] = nullptr;
    b["chat_template_kwargs"] = {{"enable_thinking", nullptr}};
    const s::chat_request r = parse(b);
    BOOST_TEST(!r.model);
    BOOST_TEST(!r.temperature);
    BOOST_TEST(!r.top_p);
    BOOST_TEST(!r.top_k);
    BOOST_TEST(!r.repetition_penalty);
    BOOST_TEST(!r.seed);
    BOOST_TEST(!r.max_tokens);
    BOOST_TEST(r.stop.empty());
    BOOST_TEST(!r.stream);
    BOOST_TEST(!r.include_usage);
    BOOST_TEST(!r.enable_thinking);
    BOOST_TEST(!r.preserve_thinking);
    BOOST_TEST(r.tools.is_null());
    BOOST_TEST(r.tool_choice == "auto");
    BOOST_TEST(r.tool_choice_function.empty());
}

BOOST_AUTO_TEST_CASE(fields_are_read) {
    json b = base_request();
    b.update({{"model", "qwen"}, {"temperature", 0.7}, {"top_p", 0.9}, {"top_k", -1}, {"repetition_penalty", 1.1}, {"seed", -5},
              {"max_tokens", 10}, {"max_completion_tokens", 20.0}, {"stream", true}, {"stream_options", {{"include_usage", true}}},
              {"chat_template_kwargs", {{"enable_thinking", false}, {"preserve_thinking", true}}}, {"tools", json::array()},
              {"tool_choice", "auto"}});
    const s::chat_request r = parse(b);
    BOOST_TEST(*r.model == "qwen");
    BOOST_TEST(*r.temperature == 0.7);
    BOOST_TEST(*r.top_p == 0.9);
    BOOST_TEST(*r.top_k == 0);  // -1 (vLLM's "disabled") is 0 here
    BOOST_TEST(*r.repetition_penalty == 1.1);
    BOOST_TEST(*r.seed == -5);
    BOOST_TEST(*r.max_tokens == 20);  // max_completion_tokens wins, and 20.0 is an integer
    BOOST_TEST(r.stream);
    BOOST_TEST(r.include_usage);
    BOOST_TEST(*r.enable_thinking == false);
    BOOST_TEST(*r.preserve_thinking == true);
    BOOST_TEST(r.tool_choice == "auto");
    BOOST_TEST(json::parse(r.messages.dump()) == b["messages"]);
    BOOST_TEST(*parse(with("max_tokens", 7)).max_tokens == 7);
    BOOST_TEST(*parse(with("top_k", 5)).top_k == 5);
}

BOOST_AUTO_TEST_CASE(unknown_fields_are_ignored) {
    json b = base_request();
    b.update({{"frobnicate", {{"deep", json::array({1, 2})}}}, {"user", "u"}, {"logit_bias", json::object()}});
    BOOST_TEST(parse(b).messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(tools_and_tool_choice) {
    // Accepted in the order sent (the template prints them with tojson).
    const std::string body = R"({"messages": [{"role": "user", "content": "hi", "name": "u"}], "tools": [{"type": "function", "function": {"name": "zeta",
        "parameters": {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"type": "string"}}}}}, {"type": "function", "function": {"name": "alpha"}}],
        "tool_choice": {"type": "function", "function": {"name": "alpha"}}})";
    const s::chat_request r = s::parse_chat_request(body, limits);
    BOOST_TEST(r.tools.dump() == R"([{"type":"function","function":{"name":"zeta","parameters":{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}}}}},{"type":"function","function":{"name":"alpha"}}])");
    BOOST_TEST(r.messages[0].dump() == R"({"role":"user","content":"hi","name":"u"})");
    BOOST_TEST(r.tool_choice == "function");
    BOOST_TEST(r.tool_choice_function == "alpha");
    const json f = {{"type", "function"}, {"function", {{"name", "f"}}}};
    json b = with("tools", json::array({f}));
    b["tool_choice"] = "none";
    BOOST_TEST(parse(b).tool_choice == "none");
    BOOST_TEST(parse(with("tools", json::array())).tools.is_null(), "an empty list is no tools");
    // Refused, naming the field.
    check_refused(with("tools", json::object()), "tools", "an array");
    check_refused(with("tools", json::array({1})), "tools[0]", "a tool object");
    check_refused(with("tools", json::array({{{"type", "code"}, {"function", {{"name", "f"}}}}})), "tools[0].type", "\"function\"");
    check_refused(with("tools", json::array({{{"type", "function"}}})), "tools[0].function", "required");
    check_refused(with("tools", json::array({{{"type", "function"}, {"function", {{"name", ""}}}}})), "tools[0].function.name", "non-empty");
    check_refused(with("tools", json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}})), "tools[0].function.parameters", "JSON schema");
    b["tool_choice"] = "required";
    check_refused(b, "tool_choice", "not supported");
    b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "g"}}}};
    check_refused(b, "tool_choice", "no tool named \"g\"");
    b["tool_choice"] = 3;
    check_refused(b, "tool_choice", "\"auto\", \"none\"");
    b["tool_choice"] = {{"type", "function"}};
    check_refused(b, "tool_choice", "expected {");
}

BOOST_AUTO_TEST_CASE(malformed_bodies) {
    check_refused("{\"messages\": [", 400, "", "line 1, column");
    check_refused("{\"messages\": [}", 400, "", "not valid JSON");
    check_refused("", 400, "", "not valid JSON");
    check_refused("[1, 2]", 400, "", "expected a JSON object");
    check_refused("\"hi\"", 400, "", "expected a JSON object");
    check_refused(std::string(100000, '['), 400, "", "nested deeper than 32");
    check_refused("{\"messages\": \"\xff\"}", 400, "", "not valid JSON");
    s::request_limits small = limits;
    small.max_body_bytes = 16;
    check_refused(base_request().dump(), 413, "", "over the limit of 16 bytes", small);
}

BOOST_AUTO_TEST_CASE(image_urls) {
    const std::string png = "data:image/png;base64,iVBORw0KGgo=";
    auto messages_with = [](std::vector<json> parts) {
        return json::array({{{"role", "user"}, {"content", json::array({{{"type", "text"}, {"text", "look"}}})}},
                            {{"role", "user"}, {"content", json(parts)}}});
    };
    auto refused = [&](const json& messages, const std::string& param, const std::string& needle, const s::request_limits& l = limits) {
        BOOST_TEST_CONTEXT(messages.dump()) {
            try {
                (void)s::image_sources(messages, l);
                BOOST_ERROR("accepted");
            } catch (const s::api_error& e) {
                BOOST_TEST(e.status == 400);
                BOOST_TEST(e.param == param);
                BOOST_TEST(std::string(e.what()).find(needle) != std::string::npos, "message \"" << e.what() << "\" lacks \"" << needle << "\"");
            }
        }
    };
    const json url_part = {{"type", "image_url"}, {"image_url", {{"url", png}}}};
    const json string_part = {{"type", "image_url"}, {"image_url", png + "x"}};
    const auto sources = s::image_sources(messages_with({url_part, {{"type", "text"}, {"text", "and"}}, string_part}), limits);
    BOOST_TEST_REQUIRE(sources.size() == 2u);
    BOOST_TEST(sources[0].url == png);
    BOOST_TEST(sources[0].param == "messages[1].content[0].image_url");
    BOOST_TEST(sources[1].url == png + "x");
    BOOST_TEST(sources[1].param == "messages[1].content[2].image_url");

    for (const char* url : {"http://127.0.0.1/x.png", "https://example.com/cat.jpg", "HTTP://169.254.169.254/"})
        refused(messages_with({{{"type", "image_url"}, {"image_url", {{"url", url}}}}}), "messages[1].content[0].image_url", "are not fetched");
    refused(messages_with({{{"type", "image_url"}, {"image_url", {{"url", "file:///etc/passwd"}}}}}), "messages[1].content[0].image_url",
            "file: URLs are not fetched");
    for (const char* path : {"/etc/passwd", "../x.png", "cat.png", ""})
        refused(messages_with({{{"type", "image_url"}, {"image_url", {{"url", path}}}}}), "messages[1].content[0].image_url",
                "file paths are not accepted");
    // the other spellings parse_messages accepts are held to the same rule
    refused(messages_with({{{"type", "image"}, {"path", "/etc/passwd"}}}), "messages[1].content[0].path", "file paths are not accepted");
    refused(messages_with({{{"type", "image"}, {"image", "http://x/y.png"}}}), "messages[1].content[0].image", "are not fetched");
    refused(messages_with({{{"type", "image"}}}), "messages[1].content[0]", "needs an \"image_url\"");
    refused(messages_with({{{"type", "image_url"}, {"image_url", 5}}}), "messages[1].content[0].image_url", "expected a string or {\"url\": string}");

    s::request_limits two = limits;
    two.max_images = 2;
    BOOST_TEST(s::image_sources(messages_with({url_part, url_part}), two).size() == 2u);
    refused(messages_with({url_part, url_part, url_part}), "messages", "more than 2 images", two);
    // shapes that are not image parts are left to the message parser
    BOOST_TEST(s::image_sources(json::array({{{"role", "user"}, {"content", 5}}, 7}), limits).empty());
}

BOOST_AUTO_TEST_CASE(error_body_shape) {
    const json e = s::error_body(s::bad_request("temperature: expected a number, got \"hot\"", "temperature"));
    BOOST_TEST(e == json::parse(R"({"error": {"message": "temperature: expected a number, got \"hot\"", "type": "invalid_request_error",
                                       "param": "temperature", "code": null}})"));
    const json n = s::error_body(s::server_error("boom"));
    BOOST_TEST(n["error"]["param"].is_null());
    BOOST_TEST(n["error"]["code"].is_null());
    BOOST_TEST(n["error"]["type"] == "server_error");
    const json c = s::error_body(s::api_error(429, "rate_limit_exceeded", "slow down", {}, "rate_limit_exceeded"));
    BOOST_TEST(c["error"]["code"] == "rate_limit_exceeded");
    // ill-formed UTF-8 and megabytes of quoted input never reach the client as such
    const json bad = s::error_body(s::bad_request("x\xff" + std::string(100000, 'y') + "\xe2\x82\xac"));
    const std::string m = bad["error"]["message"];
    BOOST_TEST(m.size() < 1100u);
    BOOST_TEST(vl::text::utf8::find_invalid(m) == std::string::npos);
    BOOST_TEST(m.ends_with("..."));
    (void)bad.dump();  // does not throw
    BOOST_TEST(s::payload_too_large("big").status == 413);
}

BOOST_AUTO_TEST_CASE(response_shapes) {
    const s::token_usage u{.prompt_tokens = 300, .completion_tokens = 20, .cached_tokens = 256};
    const json r = s::completion_response("chatcmpl-1", 1700000000, "qwen", "Hello.", "Let me think.", "stop", u);
    BOOST_TEST(r == json::parse(R"({"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "qwen",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello.", "reasoning_content": "Let me think."},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 300, "completion_tokens": 20, "total_tokens": 320, "prompt_tokens_details": {"cached_tokens": 256}}})"));
    const json plain = s::completion_response("chatcmpl-1", 1, "qwen", "Hi", "", "length", u);
    BOOST_TEST(!plain["choices"][0]["message"].contains("reasoning_content"));
    BOOST_TEST(plain["choices"][0]["finish_reason"] == "length");

    const json first = s::chunk("chatcmpl-2", 5, "qwen", {.role = true, .content = "", .reasoning = ""});
    BOOST_TEST(first == json::parse(R"({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 5, "model": "qwen",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]})"));
    const json text = s::chunk("chatcmpl-2", 5, "qwen", {.role = false, .content = "Hel", .reasoning = ""});
    BOOST_TEST(text["choices"][0]["delta"] == json({{"content", "Hel"}}));
    const json thought = s::chunk("chatcmpl-2", 5, "qwen", {.role = false, .content = "", .reasoning = "hmm"});
    BOOST_TEST(thought["choices"][0]["delta"] == json({{"reasoning_content", "hmm"}}));
    const json last = s::chunk("chatcmpl-2", 5, "qwen", {}, "stop");
    BOOST_TEST(last["choices"][0]["delta"] == json::object());
    BOOST_TEST(last["choices"][0]["finish_reason"] == "stop");

    const json uc = s::usage_chunk("chatcmpl-2", 5, "qwen", u);
    BOOST_TEST(uc["object"] == "chat.completion.chunk");
    BOOST_TEST(uc["choices"] == json::array());
    BOOST_TEST(uc["usage"]["total_tokens"] == 320);

    const json models = s::models_response("qwen", 1700000000, 262144, true);
    BOOST_TEST(models == json::parse(R"({"object": "list", "data": [{"id": "qwen", "object": "model", "created": 1700000000,
        "owned_by": "vlgraph", "max_model_len": 262144, "capabilities": {"vision": true}}]})"));
}

BOOST_AUTO_TEST_CASE(sse_framing) {
    BOOST_TEST(s::sse_event(json{{"a", 1}, {"b", "x y"}}) == "data: {\"a\":1,\"b\":\"x y\"}\n\n");
    BOOST_TEST(s::sse_done() == "data: [DONE]\n\n");
    // an ill-formed string is replaced, not thrown on mid-stream
    BOOST_TEST(s::sse_event(json{{"c", "a\xff"}}) == "data: {\"c\":\"a\xef\xbf\xbd\"}\n\n");
}

// ---- stop strings ----

namespace {

struct stop_outcome {
    std::string text;
    bool stopped = false;
    bool operator==(const stop_outcome&) const = default;
};

std::ostream& operator<<(std::ostream& os, const stop_outcome& o) { return os << '"' << o.text << "\" stopped=" << o.stopped; }

// The definition: cut before the stop string whose end comes first (the longest of those ending there).
stop_outcome stop_reference(const std::string& text, const std::vector<std::string>& stops) {
    std::size_t best_end = std::string::npos, best_len = 0;
    for (const std::string& s : stops) {
        const std::size_t at = text.find(s);
        if (at == std::string::npos) continue;
        const std::size_t end = at + s.size();
        if (end < best_end || (end == best_end && s.size() > best_len)) best_end = end, best_len = s.size();
    }
    if (best_end == std::string::npos) return {text, false};
    return {text.substr(0, best_end - best_len), true};
}

stop_outcome stream_stops(const std::vector<std::string>& pieces, const std::vector<std::string>& stops) {
    vl::text::stop_matcher m(stops);
    stop_outcome out;
    auto take = [&](const vl::text::stop_matcher::result& r) {
        BOOST_TEST(vl::text::utf8::find_invalid(r.emit) == std::string::npos, "released half a character: " << r.emit);
        out.text += r.emit;
        out.stopped = out.stopped || r.stopped;
    };
    for (const std::string& p : pieces) {
        take(m.push(p));
        if (out.stopped) return out;
    }
    take(m.finish());
    return out;
}

std::vector<std::string> random_split(const std::string& text, std::mt19937& rng, std::size_t max_piece = 5) {
    std::vector<std::string> pieces;
    for (std::size_t at = 0; at < text.size();) {
        const std::size_t n = std::min(text.size() - at, std::uniform_int_distribution<std::size_t>(0, max_piece)(rng));
        pieces.push_back(text.substr(at, n));
        at += n;
    }
    return pieces;
}

}  // namespace

BOOST_AUTO_TEST_CASE(stop_string_split_over_pieces) {
    BOOST_TEST(stream_stops({"Hello ##", "#", "# world"}, {"###"}) == (stop_outcome{"Hello ", true}));
    BOOST_TEST(stream_stops({"a", "<", "|", "e", "n", "d", "|", ">", "b"}, {"<|end|>"}) == (stop_outcome{"a", true}));
    // a held prefix that turns out not to be a stop string is released
    BOOST_TEST(stream_stops({"x##", "y"}, {"###"}) == (stop_outcome{"x##y", false}));
    BOOST_TEST(stream_stops({"x##"}, {"###"}) == (stop_outcome{"x##", false}));
    // text after a completed stop is never released
    vl::text::stop_matcher m({"END"});
    BOOST_TEST(m.push("aEN").emit == "a");
    const auto r = m.push("Dtail");
    BOOST_TEST(r.emit == "");
    BOOST_TEST(r.stopped);
    BOOST_TEST(m.push("more").stopped);
    BOOST_TEST(m.finish().emit == "");
}

BOOST_AUTO_TEST_CASE(stop_strings_overlapping_and_repetitive) {
    // "ab" completes at the second character, before "bc": nothing is released
    BOOST_TEST(stream_stops({"abc"}, {"ab", "bc"}) == (stop_outcome{"", true}));
    BOOST_TEST(stream_stops({"abc"}, {"bc", "ab"}) == (stop_outcome{"", true}));
    BOOST_TEST(stream_stops({"x", "bc"}, {"ab", "bc"}) == (stop_outcome{"x", true}));
    // "bc" completes before "abcd" does, whatever the pieces
    BOOST_TEST(stream_stops({"abcd"}, {"abcd", "bc"}) == (stop_outcome{"a", true}));
    // ending at the same character, the longer one wins
    BOOST_TEST(stream_stops({"xabc"}, {"bc", "abc"}) == (stop_outcome{"x", true}));
    // self-overlapping stop strings (the automaton's fallback)
    BOOST_TEST(stream_stops({"aaaa", "ab"}, {"aaab"}) == (stop_outcome{"aa", true}));
    BOOST_TEST(stream_stops({"abab", "abac"}, {"ababac"}) == (stop_outcome{"ab", true}));
}

BOOST_AUTO_TEST_CASE(no_false_stop) {
    BOOST_TEST(stream_stops({"The ", "end", " is near"}, {"END", "the end."}) == (stop_outcome{"The end is near", false}));
    BOOST_TEST(stream_stops({"a b c"}, {}) == (stop_outcome{"a b c", false}));
}

BOOST_AUTO_TEST_CASE(stop_strings_with_multibyte_text) {
    const std::string text = "d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac \xf0\x9f\x98\x80 fin \xe6\x97\xa5\xe6\x9c\xac";  // déjà vu € 😀 fin 日本
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
        const auto pieces = random_split(text, rng, 4);  // cuts inside characters
        BOOST_TEST(stream_stops(pieces, {"\xf0\x9f\x98\x80"}) == (stop_outcome{"d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac ", true}));
        BOOST_TEST(stream_stops(pieces, {"\xe6\x97\xa5\xe6\x9c\xac!"}) == (stop_outcome{text, false}));
        BOOST_TEST(stream_stops(pieces, {"\xe2\x82\xac \xf0\x9f\x98\x81"}) == (stop_outcome{text, false}));  // shares a prefix with the text
    }
    // an unfinished character at the end becomes U+FFFD
    BOOST_TEST(stream_stops({"ab\xe2\x82"}, {"zz"}) == (stop_outcome{"ab\xef\xbf\xbd", false}));
    BOOST_CHECK_THROW(vl::text::stop_matcher({""}), vl::error);
    BOOST_CHECK_THROW(vl::text::stop_matcher({"\xff"}), vl::error);
}

BOOST_AUTO_TEST_CASE(stop_strings_streamed_equal_the_definition) {
    // the text may hold ill-formed bytes (released as U+FFFD); stop strings are well-formed
    const std::vector<std::string> alphabet{"a", "b", "c", "\n", "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xe2\x82"};
    std::mt19937 rng(11);
    auto random_text = [&](std::size_t max, std::size_t letters) {
        std::string t;
        for (std::size_t n = std::uniform_int_distribution<std::size_t>(1, max)(rng); n > 0; --n)
            t += alphabet[std::uniform_int_distribution<std::size_t>(0, letters - 1)(rng)];
        return t;
    };
    for (int trial = 0; trial < 3000; ++trial) {
        const std::string text = random_text(40, alphabet.size());
        std::vector<std::string> stops;
        for (int k = std::uniform_int_distribution<int>(1, 4)(rng); k > 0; --k) stops.push_back(random_text(4, 6));
        std::string decoded;
        vl::text::utf8::append_lossy(decoded, text, true);
        const stop_outcome expected = stop_reference(decoded, stops);
        BOOST_TEST_CONTEXT("text " << text << " trial " << trial) { BOOST_TEST(stream_stops(random_split(text, rng), stops) == expected); }
    }
}

// ---- the reasoning split ----

namespace {

q::reasoning_delta stream_reasoning(const std::vector<std::string>& pieces, bool starts_in_reasoning) {
    q::reasoning_splitter splitter(starts_in_reasoning);
    q::reasoning_delta all;
    auto take = [&](const q::reasoning_delta& d) {
        BOOST_TEST(vl::text::utf8::find_invalid(d.reasoning) == std::string::npos);
        BOOST_TEST(vl::text::utf8::find_invalid(d.content) == std::string::npos);
        all.reasoning += d.reasoning;
        all.content += d.content;
    };
    for (const std::string& p : pieces) take(splitter.push(p));
    take(splitter.finish());
    return all;
}

void check_split(const std::string& text, bool starts, const std::string& reasoning, const std::string& content) {
    BOOST_TEST_CONTEXT(text) {
        const q::reasoning_delta whole = q::split_reasoning(text, starts);
        BOOST_TEST(whole.reasoning == reasoning);
        BOOST_TEST(whole.content == content);
        std::vector<std::string> bytes;
        for (char c : text) bytes.emplace_back(1, c);
        const q::reasoning_delta streamed = stream_reasoning(bytes, starts);
        BOOST_TEST(streamed.reasoning == reasoning);
        BOOST_TEST(streamed.content == content);
    }
}

}  // namespace

BOOST_AUTO_TEST_CASE(reasoning_split_rules) {
    // the Qwen3.6 template's generation prompt ends "<think>\n": the output starts inside reasoning
    check_split("Let me see.\n</think>\n\nThe answer is 4.", true, "Let me see.", "The answer is 4.");
    check_split("\n\nA\n\nB\n\n</think>\n\n\nC\n\nD\n", true, "A\n\nB", "C\n\nD\n");
    // no tags, not in reasoning: all content, newlines and all
    check_split("\n\nJust text.\n\n", false, "", "\n\nJust text.\n\n");
    // no end tag (max_tokens hit while thinking): all reasoning
    check_split("still thinking\n\n", true, "still thinking", "");
    // a <think> in content opens reasoning again; tags never appear
    check_split("Intro\n<think>\nhmm\n</think>\n\nOutro", false, "hmm", "Intro\nOutro");
    check_split("<think>\nr1\n</think>\n\nc1<think>r2</think>c2", false, "r1r2", "c1c2");
    // stray tags are dropped
    check_split("r</think>c</think>\nd", true, "r", "cd");
    check_split("<think>a<think>\nb</think>", false, "ab", "");
    // text that only looks like the start of a tag
    check_split("a < b <thin </thinking> <", true, "a < b <thin </thinking> <", "");
    check_split("x</th", true, "x</th", "");
    check_split("\xe2\x82\xac</think>\xf0\x9f\x98\x80", true, "\xe2\x82\xac", "\xf0\x9f\x98\x80");
}

BOOST_AUTO_TEST_CASE(reasoning_tag_split_over_pieces) {
    const q::reasoning_delta d = stream_reasoning({"thinking\n", "\n</th", "ink>", "\n", "\nanswer"}, true);
    BOOST_TEST(d.reasoning == "thinking");
    BOOST_TEST(d.content == "answer");
    // streamed deltas: nothing of the tag or the newlines around it leaks out early
    q::reasoning_splitter sp(true);
    BOOST_TEST(sp.push("abc\n").reasoning == "abc");
    const q::reasoning_delta held = sp.push("</th");
    BOOST_TEST(held.reasoning == "");
    BOOST_TEST(held.content == "");
    const q::reasoning_delta after = sp.push("ink>\n\nHi");
    BOOST_TEST(after.reasoning == "");
    BOOST_TEST(after.content == "Hi");
    q::reasoning_splitter reopen(false);
    BOOST_TEST(reopen.push("a<thi").content == "a");
    const q::reasoning_delta r = reopen.push("nk>b");
    BOOST_TEST(r.reasoning == "b");
    BOOST_TEST(r.content == "");
}

BOOST_AUTO_TEST_CASE(reasoning_streamed_equals_whole_over_random_splits) {
    const std::vector<std::string> alphabet{"a", "\n", "\n\n", "<", ">", "/", "<think>", "</think>", "<th", "ink>", "\xc3\xa9", "\xf0\x9f\x98\x80", " ",
                                            "\xff", "\xf0\x9f"};
    std::mt19937 rng(3);
    for (int trial = 0; trial < 2000; ++trial) {
        std::string text;
        for (int n = std::uniform_int_distribution<int>(0, 30)(rng); n > 0; --n)
            text += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
        const bool starts = trial % 2 == 0;
        const q::reasoning_delta whole = q::split_reasoning(text, starts);
        for (int split = 0; split < 5; ++split) {
            const q::reasoning_delta streamed = stream_reasoning(random_split(text, rng, 6), starts);
            BOOST_TEST_CONTEXT("text " << text << " starts " << starts) {
                BOOST_TEST(streamed.reasoning == whole.reasoning);
                BOOST_TEST(streamed.content == whole.content);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(prompt_opens_reasoning_on_the_real_template) {
    const q::chat_template t = q::chat_template::load(std::filesystem::path(VLGRAPH_TEST_DATA) / "tiny-qwen36");
    const std::vector<q::message> msgs{{"user", {q::content_part::of_text("What is <think>? 2+2?")}, std::nullopt}};
    q::chat_options o;
    o.enable_thinking = true;
    const std::string thinking = t.render(msgs, o);
    BOOST_TEST(thinking.ends_with("<|im_start|>assistant\n<think>\n"));
    BOOST_TEST(q::prompt_opens_reasoning(thinking));
    o.enable_thinking = false;
    const std::string direct = t.render(msgs, o);
    BOOST_TEST(direct.ends_with("<think>\n\n</think>\n\n"));
    BOOST_TEST(!q::prompt_opens_reasoning(direct));
    o.add_generation_prompt = false;  // the user's "<think>" does not count
    BOOST_TEST(!q::prompt_opens_reasoning(t.render(msgs, o)));
    BOOST_TEST(!q::prompt_opens_reasoning(""));
}

// ---------------------------------------------------------------------------------------------------------
// Tool calls in the Qwen3.6 form (qwen36/tool_calls.hpp): well-formed, malformed and streamed.

namespace {

const nlohmann::ordered_json weather_tools = nlohmann::ordered_json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
   "parameters": {"type": "object", "properties": {
     "city": {"type": "string"}, "days": {"type": "integer"}, "scale": {"type": "number"}, "metric": {"type": "boolean"},
     "hours": {"type": "array", "items": {"type": "integer"}}, "where": {"type": "object"}, "note": {"type": ["string", "null"]}},
   "required": ["city"]}}},
  {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}}])");

struct parsed_calls {
    std::string content;
    std::vector<q::tool_call> calls;     // the parser's whole calls
    std::vector<q::tool_call> streamed;  // the deltas put together
};

parsed_calls parse_calls(const std::vector<std::string>& pieces, const nlohmann::ordered_json* tools = &weather_tools) {
    q::tool_call_parser p(tools);
    parsed_calls out;
    const auto take = [&](const q::tool_call_output& o) {
        out.content += o.content;
        for (const q::tool_call_delta& d : o.calls) {
            if (d.index == out.streamed.size()) {
                BOOST_TEST(!d.name.empty(), "a call's first delta names it");
                out.streamed.push_back({d.name, ""});
            } else {
                BOOST_TEST(d.name.empty(), "only the first delta names the call");
            }
            BOOST_TEST_REQUIRE(d.index < out.streamed.size());
            out.streamed[d.index].arguments += d.arguments;
        }
    };
    for (const std::string& piece : pieces) take(p.push(piece));
    take(p.finish());
    out.calls = p.calls();
    return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tool_calls_well_formed) {
    const std::string text =
        "Let me check.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nSão Paulo \"SP\"\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
        "<parameter=scale>\n0.5\n</parameter>\n<parameter=metric>\nTrue\n</parameter>\n<parameter=hours>\n[1, 2]\n</parameter>\n"
        "<parameter=where>\n{\"lat\": 1.5}\n</parameter>\n<parameter=note>\nnull\n</parameter>\n<parameter=extra>\n42\n</parameter>\n</function>\n</tool_call>\n"
        "<tool_call>\n<function=noop>\n</function>\n</tool_call>";
    const parsed_calls r = parse_calls({text});
    BOOST_TEST(r.content == "Let me check.\n\n");
    BOOST_TEST_REQUIRE(r.calls.size() == 2u);
    BOOST_TEST(r.calls[0].name == "get_weather");
    BOOST_TEST(r.calls[0].arguments ==
               R"({"city": "São Paulo \"SP\"", "days": 3, "scale": 0.5, "metric": true, "hours": [1,2], "where": {"lat":1.5}, "note": null, "extra": "42"})");
    BOOST_TEST(r.calls[1].name == "noop");
    BOOST_TEST(r.calls[1].arguments == "{}");
    BOOST_TEST(nlohmann::json::parse(r.calls[0].arguments)["days"] == 3, "the arguments are JSON");
    BOOST_TEST(r.streamed.size() == 2u);
    BOOST_TEST(r.streamed[0].arguments == r.calls[0].arguments);
}

BOOST_AUTO_TEST_CASE(tool_call_values_follow_the_schema_or_stay_text) {
    const auto one = [](const std::string& param, const std::string& value) {
        const parsed_calls r = parse_calls({"<tool_call>\n<function=get_weather>\n<parameter=" + param + ">\n" + value + "\n</parameter>\n</function>\n</tool_call>"});
        BOOST_TEST_REQUIRE(r.calls.size() == 1u);
        return r.calls[0].arguments;
    };
    BOOST_TEST(one("days", "three") == R"({"days": "three"})", "not an integer: text");
    BOOST_TEST(one("days", "4.0") == R"({"days": 4})");
    BOOST_TEST(one("scale", "2") == R"({"scale": 2})");
    BOOST_TEST(one("scale", "1e-05") == R"({"scale": 1e-05})");
    BOOST_TEST(one("metric", "yes") == R"({"metric": "yes"})");
    BOOST_TEST(one("where", "{not json") == R"({"where": "{not json"})");
    BOOST_TEST(one("city", "42") == R"({"city": "42"})", "a string parameter stays text even when it looks like a number");
    BOOST_TEST(one("city", "line 1\nline 2\n") == "{\"city\": \"line 1\\nline 2\\n\"}", "one trailing newline is the tag's, the other the value's");
    BOOST_TEST(one("city", "NULL") == R"({"city": null})");
    const parsed_calls untyped = parse_calls({"<tool_call>\n<function=x>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"}, nullptr);
    BOOST_TEST(untyped.calls.at(0).arguments == R"({"a": "1"})", "without tools every value is text");
}

BOOST_AUTO_TEST_CASE(tool_calls_malformed) {
    // Not a call: the block is content as it stands.
    BOOST_TEST(parse_calls({"a <tool_call>\nno function here</tool_call> b"}).content == "a <tool_call>\nno function here</tool_call> b");
    BOOST_TEST(parse_calls({"x <tool_call>"}).content == "x <tool_call>");
    BOOST_TEST(parse_calls({"x <tool_call>\n<function="}).content == "x <tool_call>\n<function=");
    BOOST_TEST(parse_calls({"<tool_call><function=>"}).calls.empty(), "an empty name is no call");
    BOOST_TEST(parse_calls({"<tool_ca"}).content == "<tool_ca");
    // Unfinished at the end: closed with what it has.
    {
        const parsed_calls r = parse_calls({"<tool_call>\n<function=get_weather>\n<parameter=city>\nRome"});
        BOOST_TEST_REQUIRE(r.calls.size() == 1u);
        BOOST_TEST(r.calls[0].arguments == R"({"city": "Rome"})");
        BOOST_TEST(r.streamed.at(0).arguments == r.calls[0].arguments);
    }
    {
        const parsed_calls r = parse_calls({"<tool_call>\n<function=get_weather>\n<parameter=ci"});
        BOOST_TEST_REQUIRE(r.calls.size() == 1u);
        BOOST_TEST(r.calls[0].arguments == "{}");
    }
    // A missing </parameter> ends at the next tag; a missing </tool_call> is tolerated; stray text skipped.
    {
        const parsed_calls r = parse_calls({"<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n<parameter=days>\n2\n</function>\nThanks"});
        BOOST_TEST_REQUIRE(r.calls.size() == 1u);
        BOOST_TEST(r.calls[0].arguments == R"({"city": "Oslo", "days": 2})");
        BOOST_TEST(r.content == "Thanks");
    }
    {
        const parsed_calls r = parse_calls({"<tool_call>\n<function=noop>\nstray words\n</function>\n</tool_call>"});
        BOOST_TEST(r.calls.at(0).arguments == "{}");
        BOOST_TEST(r.content.empty());
    }
    // Ill-formed UTF-8 in a value becomes U+FFFD: the arguments stay valid JSON.
    BOOST_TEST(nlohmann::json::accept(parse_calls({"<tool_call>\n<function=get_weather>\n<parameter=city>\n\xff\n</parameter>\n</function>"}).calls.at(0).arguments));
}

BOOST_AUTO_TEST_CASE(tool_calls_streamed_equal_whole_over_random_splits) {
    const std::vector<std::string> alphabet{"a",  "\n", " ", "<tool_call>", "</tool_call>", "<function=get_weather>", "<function=noop>", "</function>",
                                            "<parameter=city>", "<parameter=days>", "</parameter>", "3", "<", ">", "<tool", "_call>", "\xc3\xa9"};
    std::mt19937 rng(11);
    for (int trial = 0; trial < 1500; ++trial) {
        std::string text;
        for (int n = std::uniform_int_distribution<int>(0, 24)(rng); n > 0; --n)
            text += alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
        const parsed_calls whole = parse_calls({text});
        for (int split = 0; split < 4; ++split) {
            const parsed_calls streamed = parse_calls(random_split(text, rng, 7));
            BOOST_TEST_CONTEXT("text " << text) {
                BOOST_TEST(streamed.content == whole.content);
                BOOST_TEST_REQUIRE(streamed.calls.size() == whole.calls.size());
                BOOST_TEST_REQUIRE(streamed.streamed.size() == whole.calls.size());
                for (std::size_t i = 0; i < whole.calls.size(); ++i) {
                    BOOST_TEST(streamed.calls[i].name == whole.calls[i].name);
                    BOOST_TEST(streamed.calls[i].arguments == whole.calls[i].arguments);
                    BOOST_TEST(streamed.streamed[i].arguments == whole.calls[i].arguments);
                    BOOST_TEST(nlohmann::json::accept(whole.calls[i].arguments), whole.calls[i].arguments);
                }
            }
        }
    }
}
