// vlgraph/serve/openai.hpp — the OpenAI chat-completions API without HTTP: request bodies parsed and
// validated, responses, stream chunks and errors as JSON, and their server-sent-event framing. What the
// fields mean and accept follows OpenAI where vLLM and llama-server agree, and vLLM where they extend it
// (top_k, repetition_penalty, chat_template_kwargs).
//
//   vl::serve::chat_request r = vl::serve::parse_chat_request(body, limits);   // vl::serve::api_error
//   auto images = vl::serve::image_sources(r.messages, limits);               // data: URLs only
//   vl::serve::chunk_delta d;  d.role = true;                                 // the first chunk
//   std::string event = vl::serve::sse_event(vl::serve::chunk(id, created, model, d));
//
// A request body is untrusted: it is read by the one JSON reader (vl::parse_json, nesting ≤ 32), every
// known field is type- and range-checked with an error that names it (OpenAI's `param`), and `null` means
// absent, as OpenAI's clients send it. Unknown fields are ignored. Fields the client may omit are
// std::optional, so the server applies the checkpoint's generation_config defaults. Image parts must be
// data: URLs: an http(s) URL is refused, never fetched (no request can make the server connect anywhere),
// and a path is refused (no request can make it read a file).
//
// Every string that goes out is well-formed UTF-8: request strings are (the JSON reader refuses anything
// else), generated text is produced by the streaming detokenizer, stop matcher and reasoning splitter,
// which never release half a character, and sse_event/error_body replace anything ill-formed with U+FFFD.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/data_url.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl::serve {

// An error for the client: an HTTP status and OpenAI's error object.
struct api_error : error {
    api_error(int http_status, std::string error_type, const std::string& message, std::string field = {}, std::string error_code = {})
        : error(message), status(http_status), type(std::move(error_type)), param(std::move(field)), code(std::move(error_code)) {}
    int status;         // HTTP status
    std::string type;   // "invalid_request_error", "server_error", ...
    std::string param;  // the request field at fault, e.g. "messages[0].content", "temperature"; empty: none
    std::string code;   // a machine-readable code; empty: null
};

inline api_error bad_request(const std::string& message, std::string param = {}) {
    return {400, "invalid_request_error", message, std::move(param)};
}
inline api_error payload_too_large(const std::string& message) { return {413, "invalid_request_error", message}; }
inline api_error server_error(const std::string& message) { return {500, "server_error", message}; }

namespace detail {
// Longer messages and params are cut (at a character boundary): they may quote a client's bytes.
inline constexpr std::size_t max_error_text_bytes = 1024;

// `s` well-formed (ill-formed bytes as U+FFFD) and at most about max_error_text_bytes long.
inline std::string bounded_text(std::string_view s) {
    std::string out;
    text::utf8::append_lossy(out, s.substr(0, max_error_text_bytes + 4), true);
    if (out.size() <= max_error_text_bytes) return out;
    std::size_t cut = max_error_text_bytes;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
    return out + "...";
}
}  // namespace detail

// {"error": {"message", "type", "param", "code"}}; param and code are null when empty.
inline nlohmann::json error_body(const api_error& e) {
    auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(detail::bounded_text(s)); };
    return {{"error", {{"message", detail::bounded_text(e.what())}, {"type", e.type}, {"param", or_null(e.param)}, {"code", or_null(e.code)}}}};
}

struct request_limits {
    std::size_t max_body_bytes = std::size_t{64} << 20;  // also checked by the HTTP layer (413) before reading
    int max_images = 16;                                  // image parts over all messages
    std::int64_t max_stop_strings = 4;                    // OpenAI's limit
    std::size_t max_stop_bytes = 1024;                    // each stop string
};

struct chat_request {
    std::optional<std::string> model;
    nlohmann::ordered_json messages;  // an array of objects, keys in the order sent; the model layer parses them (qwen36::parse_messages)
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<std::int64_t> top_k;  // 0 disables (the request's -1 is mapped to 0)
    std::optional<double> repetition_penalty;
    std::optional<std::int64_t> seed;
    std::optional<std::int64_t> max_tokens;  // max_completion_tokens when given, else max_tokens
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
    std::optional<bool> enable_thinking;    // chat_template_kwargs
    std::optional<bool> preserve_thinking;  // chat_template_kwargs
    nlohmann::ordered_json tools;  // the tool definitions as sent (checked: [{"type": "function", "function": {"name", ...}}]); null when absent
    // tool_choice: "auto" (the default with tools), "none" (the tools are not shown to the model) or a named
    // function (the answer is made to begin with a call of it).
    std::string tool_choice = "auto";
    std::string tool_choice_function;  // the named function
};

namespace detail {

using json = nlohmann::json;

// The value of `key` in `obj`, or nullptr when absent or null.
inline const json* field(const json& obj, const char* key) {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
}

[[noreturn]] inline void wrong_type(const json& v, const std::string& param, std::string_view expected) {
    throw bad_request(param + ": expected " + std::string(expected) + ", got " + json_summary(v), param);
}

// Always finite: the JSON reader refuses numbers that overflow a double (1e400).
inline double number(const json& v, const std::string& param) {
    if (!v.is_number()) wrong_type(v, param, "a number");
    return v.get<double>();
}

// Integral numbers in int64 range; 2.0 is 2, as OpenAI's (pydantic) validation takes it.
inline std::int64_t integer(const json& v, const std::string& param) {
    if (v.is_number_unsigned()) {
        if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            throw bad_request(param + ": " + v.dump() + " is too large", param);
        return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        // 2^63 is the first double outside int64
        if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return static_cast<std::int64_t>(d);
    }
    wrong_type(v, param, "an integer");
}

inline bool boolean(const json& v, const std::string& param) {
    if (!v.is_boolean()) wrong_type(v, param, "a boolean");
    return v.get<bool>();
}

inline std::string string(const json& v, const std::string& param) {
    if (!v.is_string()) wrong_type(v, param, "a string");
    return v.get<std::string>();
}

inline std::vector<std::string> stop_strings(const json& v, const request_limits& limits) {
    std::vector<std::string> out;
    auto add = [&](const json& s, const std::string& param) {
        std::string text = string(s, param);
        if (text.empty()) throw bad_request(param + ": a stop string must not be empty", param);
        if (text.size() > limits.max_stop_bytes)
            throw bad_request(param + ": a stop string of " + std::to_string(text.size()) + " bytes is over the limit of " +
                                  std::to_string(limits.max_stop_bytes),
                              param);
        out.push_back(std::move(text));
    };
    if (v.is_string()) {
        add(v, "stop");
    } else if (v.is_array()) {
        if (static_cast<std::int64_t>(v.size()) > limits.max_stop_strings)
            throw bad_request("stop: " + std::to_string(v.size()) + " stop strings, at most " + std::to_string(limits.max_stop_strings) +
                                  " are allowed",
                              "stop");
        for (std::size_t i = 0; i < v.size(); ++i) add(v[i], "stop[" + std::to_string(i) + "]");
    } else {
        wrong_type(v, "stop", "a string or an array of strings");
    }
    return out;
}

}  // namespace detail

inline chat_request parse_chat_request(std::string_view body, const request_limits& limits) {
    using detail::field;
    if (body.size() > limits.max_body_bytes)
        throw payload_too_large("request body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                                std::to_string(limits.max_body_bytes) + " bytes");
    nlohmann::json j;
    try {
        j = parse_json(body, "request body");
    } catch (const format_error& e) {
        throw bad_request(e.what());
    }
    if (!j.is_object()) throw bad_request("request body: expected a JSON object, got " + json_summary(j));

    chat_request r;
    if (const auto* v = field(j, "model")) r.model = detail::string(*v, "model");

    const auto* messages = field(j, "messages");
    if (!messages) throw bad_request("messages: required", "messages");
    if (!messages->is_array()) detail::wrong_type(*messages, "messages", "an array of messages");
    if (messages->empty()) throw bad_request("messages: must not be empty", "messages");
    for (std::size_t i = 0; i < messages->size(); ++i)
        if (!(*messages)[i].is_object()) detail::wrong_type((*messages)[i], "messages[" + std::to_string(i) + "]", "a message object");

    if (const auto* v = field(j, "temperature")) {
        r.temperature = detail::number(*v, "temperature");
        if (*r.temperature < 0) throw bad_request("temperature: must be >= 0, got " + v->dump(), "temperature");
    }
    if (const auto* v = field(j, "top_p")) {
        r.top_p = detail::number(*v, "top_p");
        if (!(*r.top_p > 0 && *r.top_p <= 1)) throw bad_request("top_p: must be in (0, 1], got " + v->dump(), "top_p");
    }
    if (const auto* v = field(j, "top_k")) {
        const std::int64_t k = detail::integer(*v, "top_k");
        if (k < -1) throw bad_request("top_k: must be -1 or 0 (disabled) or a positive integer, got " + v->dump(), "top_k");
        r.top_k = k == -1 ? 0 : k;
    }
    if (const auto* v = field(j, "repetition_penalty")) {
        r.repetition_penalty = detail::number(*v, "repetition_penalty");
        if (!(*r.repetition_penalty > 0)) throw bad_request("repetition_penalty: must be > 0, got " + v->dump(), "repetition_penalty");
    }
    if (const auto* v = field(j, "seed")) r.seed = detail::integer(*v, "seed");
    for (const char* name : {"max_tokens", "max_completion_tokens"}) {  // the second wins
        if (const auto* v = field(j, name)) {
            r.max_tokens = detail::integer(*v, name);
            if (*r.max_tokens < 1) throw bad_request(std::string(name) + ": must be at least 1, got " + v->dump(), name);
        }
    }
    if (const auto* v = field(j, "stop")) r.stop = detail::stop_strings(*v, limits);
    if (const auto* v = field(j, "n"); v && detail::integer(*v, "n") != 1)
        throw bad_request("n: only n = 1 is supported, got " + v->dump(), "n");
    if (const auto* v = field(j, "stream")) r.stream = detail::boolean(*v, "stream");
    if (const auto* v = field(j, "stream_options")) {
        if (!v->is_object()) detail::wrong_type(*v, "stream_options", "an object");
        if (!r.stream) throw bad_request("stream_options: only allowed when stream is true", "stream_options");
        if (const auto* u = field(*v, "include_usage")) r.include_usage = detail::boolean(*u, "stream_options.include_usage");
    }
    if (const auto* v = field(j, "chat_template_kwargs")) {
        if (!v->is_object()) detail::wrong_type(*v, "chat_template_kwargs", "an object");
        for (const auto& [key, value] : v->items()) {
            const std::string param = "chat_template_kwargs." + key;
            if (value.is_null()) continue;
            if (key == "enable_thinking") r.enable_thinking = detail::boolean(value, param);
            else if (key == "preserve_thinking") r.preserve_thinking = detail::boolean(value, param);
            // the template would render differently from what the client asked: refused, not ignored
            else throw bad_request(param + ": unsupported (supported: enable_thinking, preserve_thinking)", param);
        }
    }
    std::vector<std::string> tool_names;
    if (const auto* v = field(j, "tools")) {
        if (!v->is_array()) detail::wrong_type(*v, "tools", "an array");
        for (std::size_t i = 0; i < v->size(); ++i) {
            const std::string at = "tools[" + std::to_string(i) + "]";
            const nlohmann::json& t = (*v)[i];
            if (!t.is_object()) detail::wrong_type(t, at, "a tool object");
            const auto* type = field(t, "type");
            if (!type || !type->is_string() || *type != "function") throw bad_request(at + ".type: must be \"function\"", at + ".type");
            const auto* f = field(t, "function");
            if (!f || !f->is_object()) throw bad_request(at + ".function: required, an object", at + ".function");
            const auto* name = field(*f, "name");
            if (!name || !name->is_string() || name->get<std::string>().empty())
                throw bad_request(at + ".function.name: required, a non-empty string", at + ".function.name");
            if (const auto* params = field(*f, "parameters"); params && !params->is_object()) detail::wrong_type(*params, at + ".function.parameters", "a JSON schema object");
            tool_names.push_back(name->get<std::string>());
        }
        // The order of keys is the client's (the template prints the tools with tojson): read them again in order.
        if (!v->empty()) r.tools = nlohmann::ordered_json::parse(body)["tools"];
    }
    if (const auto* v = field(j, "tool_choice")) {
        if (v->is_string() && (*v == "auto" || *v == "none")) {
            r.tool_choice = v->get<std::string>();
        } else if (v->is_string() && *v == "required") {
            throw bad_request("tool_choice: \"required\" is not supported (use \"auto\" or name a function)", "tool_choice");
        } else if (v->is_object()) {
            const auto* f = field(*v, "function");
            const auto* name = f && f->is_object() ? field(*f, "name") : nullptr;
            if (!name || !name->is_string()) throw bad_request("tool_choice: expected {\"type\": \"function\", \"function\": {\"name\": ...}}", "tool_choice");
            if (std::find(tool_names.begin(), tool_names.end(), name->get<std::string>()) == tool_names.end())
                throw bad_request("tool_choice: no tool named \"" + detail::bounded_text(name->get<std::string>()) + "\" in tools", "tool_choice");
            r.tool_choice = "function";
            r.tool_choice_function = name->get<std::string>();
        } else {
            detail::wrong_type(*v, "tool_choice", "\"auto\", \"none\" or {\"type\": \"function\", \"function\": {\"name\": ...}}");
        }
    }
    r.messages = nlohmann::ordered_json::parse(body)["messages"];  // (checked above; now in the order sent)
    return r;
}

// An image of a request: its URL and the field it came from (for errors found when it is decoded).
struct image_source {
    std::string url;
    std::string param;  // e.g. "messages[1].content[0].image_url"
};

// The images of `messages` in order: every content part of type "image_url" or "image", with the source
// qwen36::parse_messages takes (the first of "image", "url", "path", "image_url"; a string or {"url"}).
// Only data: URLs are accepted; parts of other shapes are left to the model layer's message parser.
inline std::vector<image_source> image_sources(const nlohmann::ordered_json& messages, const request_limits& limits) {
    std::vector<image_source> out;
    if (!messages.is_array()) return out;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        const nlohmann::ordered_json& m = messages[i];
        if (!m.is_object()) continue;
        const auto content = m.find("content");
        if (content == m.end() || !content->is_array()) continue;
        for (std::size_t k = 0; k < content->size(); ++k) {
            const nlohmann::ordered_json& part = (*content)[k];
            const std::string at = "messages[" + std::to_string(i) + "].content[" + std::to_string(k) + "]";
            if (!part.is_object()) continue;
            const auto type = part.find("type");
            if (type == part.end() || !type->is_string() || (*type != "image_url" && *type != "image")) continue;
            std::string param = at, url;
            bool found = false;
            for (const char* key : {"image", "url", "path", "image_url"}) {
                const auto s = part.find(key);
                if (s == part.end()) continue;
                param = at + "." + key;
                if (s->is_string()) url = s->get<std::string>();
                else if (s->is_object() && s->contains("url") && (*s)["url"].is_string()) url = (*s)["url"].get<std::string>();
                else detail::wrong_type(nlohmann::json::parse(s->dump()), param, "a string or {\"url\": string}");
                found = true;
                break;
            }
            if (!found) throw bad_request(at + ": an image part needs an \"image_url\": {\"url\": \"data:...\"}", at);
            const auto scheme = image::url_scheme(url);
            if (!scheme)
                throw bad_request(param + ": file paths are not accepted; send the image as a data:image/...;base64 URL", param);
            if (*scheme != "data")
                throw bad_request(param + ": " + *scheme + ": URLs are not fetched; send the image as a data:image/...;base64 URL", param);
            if (static_cast<std::int64_t>(out.size()) >= limits.max_images)
                throw bad_request("messages: more than " + std::to_string(limits.max_images) + " images in one request", "messages");
            out.push_back({std::move(url), std::move(param)});
        }
    }
    return out;
}

// Token counts of one request. Prompt tokens include the image tokens.
struct token_usage {
    std::int64_t prompt_tokens = 0;
    std::int64_t completion_tokens = 0;
    std::int64_t cached_tokens = 0;  // prompt tokens whose cache entries were reused
};

inline nlohmann::json usage(const token_usage& u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

// A non-streamed answer: object "chat.completion" with one choice. reasoning_content only when non-empty.
// tool_calls: [{"id", "type": "function", "function": {"name", "arguments"}}] or empty; with calls and no
// text, content is null (as OpenAI sends it).
inline nlohmann::json completion_response(std::string_view id, std::int64_t created, std::string_view model, std::string_view content,
                                          std::string_view reasoning, std::string_view finish_reason, const token_usage& u,
                                          const nlohmann::json& tool_calls = nlohmann::json::array()) {
    nlohmann::json message{{"role", "assistant"}, {"content", content}};
    if (!reasoning.empty()) message["reasoning_content"] = reasoning;
    if (!tool_calls.empty()) {
        message["tool_calls"] = tool_calls;
        if (content.empty()) message["content"] = nullptr;
    }
    return {{"id", id},
            {"object", "chat.completion"},
            {"created", created},
            {"model", model},
            {"choices", nlohmann::json::array({{{"index", 0}, {"message", std::move(message)}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}})},
            {"usage", usage(u)}};
}

// What one stream chunk adds. The first chunk of a stream carries the role (and content "" as OpenAI
// sends it); later ones only the text they add.
struct chunk_delta {
    bool role = false;
    std::string content;
    std::string reasoning;
    nlohmann::json tool_calls = nlohmann::json::array();  // [{"index", "id"?, "type"?, "function": {"name"?, "arguments"}}]
};

// Object "chat.completion.chunk" with one choice; finish_reason null until the last chunk.
inline nlohmann::json chunk(std::string_view id, std::int64_t created, std::string_view model, const chunk_delta& d,
                            std::optional<std::string_view> finish_reason = std::nullopt) {
    nlohmann::json delta = nlohmann::json::object();
    if (d.role) delta["role"] = "assistant";
    if (d.role || !d.content.empty()) delta["content"] = d.content;
    if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
    if (!d.tool_calls.empty()) delta["tool_calls"] = d.tool_calls;
    nlohmann::json choice{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
    if (finish_reason) choice["finish_reason"] = *finish_reason;
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"choices", nlohmann::json::array({std::move(choice)})}};
}

// The chunk stream_options.include_usage asks for, after the last choice chunk: no choices, the usage.
inline nlohmann::json usage_chunk(std::string_view id, std::int64_t created, std::string_view model, const token_usage& u) {
    return {{"id", id},
            {"object", "chat.completion.chunk"},
            {"created", created},
            {"model", model},
            {"choices", nlohmann::json::array()},
            {"usage", usage(u)}};
}

// GET /v1/models: the one model served. max_model_len as vLLM reports it.
inline nlohmann::json models_response(std::string_view id, std::int64_t created, std::int64_t max_context, bool vision) {
    return {{"object", "list"},
            {"data", nlohmann::json::array({{{"id", id},
                                             {"object", "model"},
                                             {"created", created},
                                             {"owned_by", "vlgraph"},
                                             {"max_model_len", max_context},
                                             {"capabilities", {{"vision", vision}}}}})}};
}

// One server-sent event: "data: <compact JSON>\n\n". Ill-formed UTF-8 (which the text path never makes)
// is replaced rather than thrown on mid-stream.
inline std::string sse_event(const nlohmann::json& j) {
    return "data: " + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}
inline std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace vl::serve
