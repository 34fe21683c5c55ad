// vlgraph/models/qwen36/chat.hpp — Qwen3.5 / Qwen3.6 prompts: conversation -> text, exactly as HF
// `processor.apply_chat_template(messages, tokenize=False, ...)` renders it (spec §8.1), then
// `<|image_pad|>` expansion to the per-image token counts (what Qwen3VLProcessor does before tokenising).
//
// Design: the checkpoint's own chat template is *run* by a small strict Jinja2-subset interpreter
// (vlgraph/text/jinja/jinja.hpp) instead of re-implementing the Qwen rules in C++. HF renders whatever template ships
// with the checkpoint, so this is the only way "any checkpoint of this family" (Qwen3.5, Qwen3.6 with
// `preserve_thinking`, later template fixes) renders byte-identically without per-revision code; a native
// renderer would have to recognise templates by hash and refuse every revision it was not written for.
// Fidelity comes from strictness: an unsupported Jinja construct, filter, method or variable is a clear
// vl::error, never an approximation.
//
// What a conversation can express is limited to what vlgraph can run: roles system / user / assistant / tool,
// text and image content, assistant reasoning and tool calls, tool definitions. Video is refused by the JSON
// parser and cannot be expressed in `message`, so it is never rendered half-way. Messages are checked
// before rendering (role, system first only, no images in the system turn, valid UTF-8); the template's own
// checks (e.g. "No user query found in messages.") surface as vl::error too.
//
// Template variables passed, as HF does with the same options: `messages`, `add_generation_prompt`,
// `enable_thinking`, `preserve_thinking`, `add_vision_id`, `tools` (the OpenAI tool definitions as sent, or
// none) and `documents` = none. Each message is a dict {role, content[, reasoning_content, thinking][,
// tool_calls]}: content is a string when it is a single text part (the OpenAI-style plain form), else a list
// of {type: "text", text} / {type: "image"} items; reasoning is passed as both `reasoning_content` and
// `thinking`, as transformers' _alias_reasoning_fields does; tool_calls as sent, arguments as objects.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/text/jinja/jinja.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace vl::qwen36 {

namespace jinja = vl::text::jinja;

enum class part_kind : std::uint8_t { text, image };

struct content_part {
    part_kind kind = part_kind::text;
    std::string text;   // text parts: the text
    std::string image;  // image parts: where the image comes from (path, URL or data URI) when the JSON gave it;
                        // not seen by the template, which only needs to know an image is there

    static content_part of_text(std::string t) { return {part_kind::text, std::move(t), {}}; }
    static content_part of_image(std::string source = {}) { return {part_kind::image, {}, std::move(source)}; }
};

struct message {
    std::string role;  // "system" (first message only), "user", "assistant" or "tool" (a tool's result)
    std::vector<content_part> content;
    // Assistant reasoning (HF `reasoning_content`). Optional rather than empty-by-default because the template
    // tells them apart: without it, a `<think>...</think>` prefix inside the content is taken as the reasoning.
    std::optional<std::string> reasoning;
    // Assistant tool calls as OpenAI sends them ([{"id", "type": "function", "function": {"name", "arguments"}}]),
    // each `arguments` a JSON object (parse_messages parses one sent as a JSON string). Null: none.
    nlohmann::ordered_json tool_calls = nullptr;
};

struct chat_options {
    bool add_generation_prompt = true;  // end with `<|im_start|>assistant\n` and the thinking prefix
    bool enable_thinking = true;        // false: the generation prompt closes an empty `<think>` block
    bool preserve_thinking = false;     // Qwen3.6: keep the reasoning of every assistant turn, not only the last
    bool add_vision_id = false;         // prefix images with "Picture k: "
    nlohmann::ordered_json tools = nullptr;  // OpenAI tool definitions ([{"type": "function", "function": {...}}]), as sent; null: none
};

inline constexpr std::string_view image_pad_token = "<|image_pad|>";
inline constexpr std::int64_t max_tokens_per_image = std::int64_t{1} << 24;

class chat_template {
public:
    // Largest chat_template.jinja / chat_template.json / tokenizer_config.json read (real ones: KBs to a few MB).
    static constexpr std::uint64_t max_file_bytes = std::uint64_t{64} << 20;

    // The template shipped in a checkpoint directory, looked up where transformers looks: chat_template.jinja,
    // then chat_template.json {"chat_template": "..."} (processor), then tokenizer_config.json "chat_template"
    // (a string, or a list of {name, template} from which "default" is used).
    // Each file is a regular file inside checkpoint_dir (no symlink out of it, no FIFO or device) of at most
    // max_file_bytes, read once by descriptor (vlgraph/io/file.hpp); JSON goes through vl::parse_json.
    static chat_template load(const std::filesystem::path& checkpoint_dir) {
        const auto jinja = checkpoint_dir / "chat_template.jinja";
        if (present(jinja)) return from_source(read_file_in_dir(checkpoint_dir, "chat_template.jinja", max_file_bytes, "a chat template"), jinja.string());
        for (const char* name : {"chat_template.json", "tokenizer_config.json"}) {
            const auto path = checkpoint_dir / name;
            if (!present(path)) continue;
            const nlohmann::json j = vl::parse_json(read_file_in_dir(checkpoint_dir, name, max_file_bytes, "a chat template JSON file"), path.string());
            if (!j.is_object() || !j.contains("chat_template")) continue;
            return from_source(template_from_json(j.at("chat_template"), path.string()), path.string() + " chat_template");
        }
        throw vl::io_error(checkpoint_dir.string() + ": no chat template (looked for chat_template.jinja, chat_template.json and "
                           "\"chat_template\" in tokenizer_config.json)");
    }

    // `origin` names the template in error messages.
    static chat_template from_source(std::string source, std::string origin = "chat template") {
        chat_template t;
        t.origin_ = std::move(origin);
        try {
            t.parsed_ = std::make_shared<const jinja::parsed_template>(source);
        } catch (const vl::error& e) {
            throw vl::format_error(t.origin_ + ": " + e.what());
        }
        t.source_ = std::move(source);
        return t;
    }

    const std::string& source() const { return source_; }

    std::string render(std::span<const message> messages, const chat_options& options = {}) const {
        validate(messages);
        jinja::value::list_type msgs;
        for (const message& m : messages) msgs.push_back(to_value(m));
        jinja::renderer r({{"messages", jinja::value::list(std::move(msgs))},
                           {"add_generation_prompt", jinja::value::boolean(options.add_generation_prompt)},
                           {"enable_thinking", jinja::value::boolean(options.enable_thinking)},
                           {"preserve_thinking", jinja::value::boolean(options.preserve_thinking)},
                           {"add_vision_id", jinja::value::boolean(options.add_vision_id)},
                           {"tools", options.tools.is_null() ? jinja::value::none() : json_value(options.tools)},
                           {"documents", jinja::value::none()}});
        try {
            return std::move(r).render(*parsed_);
        } catch (const vl::error& e) {
            throw vl::error(origin_ + ": " + e.what());
        }
    }

private:
    std::string origin_;
    std::string source_;
    std::shared_ptr<const jinja::parsed_template> parsed_;

    static bool present(const std::filesystem::path& path) {
        std::error_code ec;
        return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
    }

    static std::string template_from_json(const nlohmann::json& t, const std::string& where) {
        if (t.is_string()) return t.get<std::string>();
        if (t.is_array())
            for (const auto& entry : t)
                if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") && entry["template"].is_string())
                    return entry["template"].get<std::string>();
        throw vl::format_error(where + ": \"chat_template\" must be a string or a list with a {\"name\": \"default\", \"template\": ...} entry");
    }

    static void validate(std::span<const message> messages) {
        if (messages.empty()) throw vl::error("chat: no messages");
        for (std::size_t i = 0; i < messages.size(); ++i) {
            const message& m = messages[i];
            const std::string at = "chat: message " + std::to_string(i) + " (" + m.role + ")";
            if (m.role != "system" && m.role != "user" && m.role != "assistant" && m.role != "tool")
                throw vl::error(at + ": unknown role, expected system, user, assistant or tool");
            if (!m.tool_calls.is_null() && m.role != "assistant") throw vl::error(at + ": only assistant messages carry tool calls");
            if (m.role == "system" && i != 0) throw vl::error(at + ": a system message must be the first message");
            if (m.reasoning && m.role != "assistant") throw vl::error(at + ": only assistant messages carry reasoning");
            if (m.reasoning && !jinja::utf8_valid(*m.reasoning)) throw vl::error(at + ": reasoning is not valid UTF-8");
            for (const content_part& p : m.content) {
                if (p.kind == part_kind::image && m.role == "system") throw vl::error(at + ": a system message cannot contain images");
                if (p.kind == part_kind::text && !jinja::utf8_valid(p.text)) throw vl::error(at + ": text is not valid UTF-8");
            }
        }
    }

    static jinja::value to_value(const message& m) {
        jinja::value content;
        if (m.content.size() == 1 && m.content[0].kind == part_kind::text) {
            content = jinja::value::string(m.content[0].text);
        } else {
            jinja::value::list_type items;
            for (const content_part& p : m.content) {
                if (p.kind == part_kind::text) items.push_back(jinja::value::dict({{"type", jinja::value::string("text")}, {"text", jinja::value::string(p.text)}}));
                else items.push_back(jinja::value::dict({{"type", jinja::value::string("image")}}));
            }
            content = jinja::value::list(std::move(items));
        }
        jinja::value::fields_type fields{{"role", jinja::value::string(m.role)}, {"content", std::move(content)}};
        if (m.reasoning) {
            fields.emplace_back("reasoning_content", jinja::value::string(*m.reasoning));
            fields.emplace_back("thinking", jinja::value::string(*m.reasoning));
        }
        if (!m.tool_calls.is_null()) fields.emplace_back("tool_calls", json_value(m.tool_calls));
        return jinja::value::dict(std::move(fields));
    }

    // JSON as the template sees it (Python's json.loads): objects keep their order, numbers with a fraction or
    // an exponent are floats. Strings must be valid UTF-8 (the interpreter's rule).
    static jinja::value json_value(const nlohmann::ordered_json& j, int depth = 0) {
        if (depth > jinja::max_nesting) throw vl::error("chat: JSON nested deeper than " + std::to_string(jinja::max_nesting));
        switch (j.type()) {
            case nlohmann::ordered_json::value_t::null: return jinja::value::none();
            case nlohmann::ordered_json::value_t::boolean: return jinja::value::boolean(j.get<bool>());
            case nlohmann::ordered_json::value_t::number_integer: return jinja::value::integer(j.get<std::int64_t>());
            case nlohmann::ordered_json::value_t::number_unsigned:
                if (j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                    throw vl::error("chat: the integer " + j.dump() + " is too large");
                return jinja::value::integer(static_cast<std::int64_t>(j.get<std::uint64_t>()));
            case nlohmann::ordered_json::value_t::number_float: return jinja::value::floating(j.get<double>());
            case nlohmann::ordered_json::value_t::string:
                if (!jinja::utf8_valid(j.get_ref<const std::string&>())) throw vl::error("chat: a JSON string is not valid UTF-8");
                return jinja::value::string(j.get<std::string>());
            case nlohmann::ordered_json::value_t::array: {
                jinja::value::list_type items;
                for (const auto& e : j) items.push_back(json_value(e, depth + 1));
                return jinja::value::list(std::move(items));
            }
            case nlohmann::ordered_json::value_t::object: {
                jinja::value::fields_type fields;
                for (const auto& [key, e] : j.items()) fields.emplace_back(key, json_value(e, depth + 1));
                return jinja::value::dict(std::move(fields));
            }
            default: throw vl::error("chat: unsupported JSON value " + std::string(j.type_name()));
        }
    }
};

// Replaces the k-th `<|image_pad|>` of a rendered prompt by tokens_per_image[k] copies (k in order), as
// Qwen3VLProcessor does; tokens per image = t·h·w / merge² of its grid. Throws when the placeholder count
// differs from the number of images or a count is not in [1, 2^24].
inline std::string expand_image_pads(std::string_view rendered, std::span<const std::int64_t> tokens_per_image) {
    std::vector<std::size_t> at;
    for (std::size_t p = rendered.find(image_pad_token); p != std::string_view::npos; p = rendered.find(image_pad_token, p + image_pad_token.size()))
        at.push_back(p);
    if (at.size() != tokens_per_image.size())
        throw vl::error("expand_image_pads: the prompt has " + std::to_string(at.size()) + " " + std::string(image_pad_token) +
                        " placeholders but " + std::to_string(tokens_per_image.size()) + " images were given");
    std::size_t total = rendered.size();
    for (std::size_t k = 0; k < at.size(); ++k) {
        const std::int64_t n = tokens_per_image[k];
        if (n < 1 || n > max_tokens_per_image)
            throw vl::error("expand_image_pads: image " + std::to_string(k) + " has " + std::to_string(n) + " tokens, expected 1.." +
                            std::to_string(max_tokens_per_image));
        total += static_cast<std::size_t>(n - 1) * image_pad_token.size();
    }
    std::string out;
    out.reserve(total);
    std::size_t from = 0;
    for (std::size_t k = 0; k < at.size(); ++k) {
        out.append(rendered, from, at[k] - from);
        for (std::int64_t i = 0; i < tokens_per_image[k]; ++i) out += image_pad_token;
        from = at[k] + image_pad_token.size();
    }
    out.append(rendered, from);
    return out;
}

// An assistant message's tool_calls, checked, each function's `arguments` made an object.
inline nlohmann::ordered_json parse_tool_calls(nlohmann::ordered_json calls, const std::string& at) {
    if (!calls.is_array()) throw vl::error(at + ": must be a list of tool calls");
    for (std::size_t k = 0; k < calls.size(); ++k) {
        const std::string cat = at + "[" + std::to_string(k) + "]";
        nlohmann::ordered_json& c = calls[k];
        if (!c.is_object()) throw vl::error(cat + ": a tool call must be an object");
        nlohmann::ordered_json* f = c.contains("function") ? &c["function"] : &c;
        if (!f->is_object()) throw vl::error(cat + ".function: must be an object");
        if (!f->contains("name") || !(*f)["name"].is_string() || (*f)["name"].template get<std::string>().empty())
            throw vl::error(cat + ".function.name: must be a non-empty string");
        if (f->contains("arguments")) {
            nlohmann::ordered_json& a = (*f)["arguments"];
            if (a.is_string()) {
                nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(a.template get<std::string>(), nullptr, /*allow_exceptions=*/false);
                if (!parsed.is_object()) throw vl::error(cat + ".function.arguments: must be a JSON object (or a string holding one)");
                a = std::move(parsed);
            } else if (!a.is_object()) {
                throw vl::error(cat + ".function.arguments: must be a JSON object (or a string holding one)");
            }
        }
    }
    return calls;
}

// Messages from OpenAI-style JSON: an array of {"role", "content"[, "reasoning_content" | "thinking" |
// "reasoning"]} (or an object {"messages": [...]}). content is a string, null, or a list of
// {"type": "text", "text"} and {"type": "image" | "image_url", with the source in "image", "url", "path" or
// "image_url": {"url"} | "..."}. Anything else (video, unknown fields) is refused with a vl::error naming it.
// Tool results are {"role": "tool", "content", "tool_call_id"?, "name"?}; assistant messages may carry
// "tool_calls" (each {"id"?, "type": "function", "function": {"name", "arguments"}}, `arguments` an object or
// a JSON string holding one: parsed here, as vLLM does, because the template iterates `arguments|items`).
// Objects keep their key order when Json is nlohmann::ordered_json (what the template's tojson and |items
// see; a server should parse requests with it).
template <class Json = nlohmann::json>
std::vector<message> parse_messages(const Json& j) {
    const Json& arr = j.is_object() && j.contains("messages") ? j.at("messages") : j;
    if (!arr.is_array()) throw vl::error("chat messages: expected a JSON array of messages");
    std::vector<message> out;
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const Json& m = arr[i];
        const std::string at = "chat messages[" + std::to_string(i) + "]";
        if (!m.is_object()) throw vl::error(at + ": a message must be a JSON object");
        message msg;
        bool has_role = false;
        for (const auto& [key, v] : m.items()) {
            if (key == "role") {
                if (!v.is_string()) throw vl::error(at + ".role: must be a string");
                msg.role = v.template get<std::string>();
                has_role = true;
            } else if (key == "content") {
                if (v.is_string()) {
                    msg.content.push_back(content_part::of_text(v.template get<std::string>()));
                } else if (v.is_array()) {
                    for (std::size_t k = 0; k < v.size(); ++k) {
                        const Json& item = v[k];
                        const std::string iat = at + ".content[" + std::to_string(k) + "]";
                        if (!item.is_object() || !item.contains("type") || !item["type"].is_string())
                            throw vl::error(iat + ": a content item must be an object with a string \"type\"");
                        const std::string type = item["type"].template get<std::string>();
                        if (type == "text") {
                            if (!item.contains("text") || !item["text"].is_string()) throw vl::error(iat + ": a text item needs a string \"text\"");
                            msg.content.push_back(content_part::of_text(item["text"].template get<std::string>()));
                        } else if (type == "image" || type == "image_url") {
                            std::string source;
                            for (const char* k2 : {"image", "url", "path", "image_url"}) {
                                if (!item.contains(k2)) continue;
                                const Json& s = item[k2];
                                if (s.is_string()) source = s.template get<std::string>();
                                else if (s.is_object() && s.contains("url") && s["url"].is_string()) source = s["url"].template get<std::string>();
                                else throw vl::error(iat + "." + k2 + ": must be a string or {\"url\": string}");
                                break;
                            }
                            msg.content.push_back(content_part::of_image(std::move(source)));
                        } else if (type == "video" || type == "video_url") {
                            throw vl::error(iat + ": video input is not supported");
                        } else {
                            throw vl::error(iat + ": unsupported content type \"" + type + "\" (expected text or image)");
                        }
                    }
                } else if (!v.is_null()) {
                    throw vl::error(at + ".content: must be a string, a list of content items or null");
                }
            } else if (key == "reasoning_content" || key == "thinking" || key == "reasoning") {
                if (!v.is_null() && !v.is_string()) throw vl::error(at + "." + key + ": must be a string or null");
            } else if (key == "tool_calls") {
                if (!v.is_null() && !(v.is_array() && v.empty())) msg.tool_calls = parse_tool_calls(nlohmann::ordered_json::parse(v.dump()), at + ".tool_calls");
            } else if (key == "tool_call_id" || key == "name") {
                if (!v.is_null() && !v.is_string()) throw vl::error(at + "." + key + ": must be a string");
            } else {
                throw vl::error(at + ": unsupported message field \"" + key + "\"");
            }
        }
        if (!has_role) throw vl::error(at + ": missing \"role\"");
        // HF (_alias_reasoning_fields) takes the first non-null of these names, in this order.
        for (const char* key : {"reasoning_content", "thinking", "reasoning"})
            if (m.contains(key) && m[key].is_string()) {
                msg.reasoning = m[key].template get<std::string>();
                break;
            }
        out.push_back(std::move(msg));
    }
    return out;
}

}  // namespace vl::qwen36
