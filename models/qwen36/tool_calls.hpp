// vlgraph/models/qwen36/tool_calls.hpp — the model's tool calls, in the form the Qwen3.6 chat template
// teaches it, parsed into OpenAI `tool_calls` (a name and JSON arguments), streamed or whole:
//
//     <tool_call>
//     <function=get_weather>
//     <parameter=city>
//     Paris
//     </parameter>
//     <parameter=days>
//     3
//     </parameter>
//     </function>
//     </tool_call>
//
//     vl::qwen36::tool_call_parser p(&tools);                // the request's `tools` (types the arguments)
//     for (each content piece) { auto d = p.push(piece); send(d.content, d.calls); }
//     auto last = p.finish();                               // p.calls(): every call, whole
//
// Rules (those of the peers' Qwen3-Coder/Qwen3.6 parsers):
//   - Text outside `<tool_call>` blocks is content. A block is a call once its `<function=NAME>` header is
//     complete; a block that turns out not to start with one is content after all, as it stands.
//   - A parameter's value is the text between `<parameter=NAME>` and `</parameter>` (or the next
//     `<parameter=`, `</function>`, or the end of the output), one leading and one trailing newline removed.
//     It is typed by the tool's JSON schema for that parameter: "string" stays text; "integer" and "number"
//     are numbers when they parse as such (a number with no fraction is an integer); "boolean" is true/false;
//     "object", "array" and other types are JSON when they parse as JSON. `null` (any case) is null. A
//     parameter the schema does not name, or a value that does not parse as its type, stays text.
//   - The arguments are a JSON object, written as Python's json.dumps writes it (", ", ": ", not ASCII-
//     escaped), parameters in their order of appearance. Streaming sends it in pieces: "{" + the first
//     parameter once its value is complete, ", " + each next one, "}" at `</function>` (or at the end).
//   - An output that ends inside a call closes it (the arguments so far); `</tool_call>` is optional.
//     Whitespace after a call is dropped (content between or after calls is what else the model wrote).
// Streaming gives the same content and calls however the text is cut into pieces: what may be the start of a
// tag is held back until the next piece decides it.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vl::qwen36 {

struct tool_call {
    std::string name;
    std::string arguments;  // a JSON object
};

// A piece of a call: its first piece has the name (and arguments ""), the next ones pieces of the arguments.
struct tool_call_delta {
    std::size_t index = 0;
    std::string name;
    std::string arguments;
};

struct tool_call_output {
    std::string content;
    std::vector<tool_call_delta> calls;
};

// The JSON value of a parameter's text, typed by its schema (null: no schema for it).
inline nlohmann::ordered_json tool_argument_value(const std::string& text, const nlohmann::ordered_json* schema) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "null") return nullptr;
    if (!schema || !schema->is_object()) return text;
    std::vector<std::string> types;
    if (const auto t = schema->find("type"); t != schema->end()) {
        if (t->is_string()) types.push_back(t->get<std::string>());
        else if (t->is_array())
            for (const auto& e : *t)
                if (e.is_string()) types.push_back(e.get<std::string>());
    }
    const auto has = [&](std::initializer_list<std::string_view> names) {
        return std::any_of(types.begin(), types.end(), [&](const std::string& t) { return std::find(names.begin(), names.end(), t) != names.end(); });
    };
    if (types.empty() || has({"string", "str", "text"})) return text;
    if (has({"integer", "int"})) {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return v;
    }
    if (has({"number", "float", "integer", "int"})) {
        const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (j.is_number()) {
            if (j.is_number_float() && std::isfinite(j.get<double>()) && j.get<double>() == static_cast<double>(static_cast<std::int64_t>(j.get<double>())) &&
                std::abs(j.get<double>()) < 9.0e15)
                return static_cast<std::int64_t>(j.get<double>());
            return j;
        }
        return text;
    }
    if (has({"boolean", "bool"})) {
        if (lower == "true") return true;
        if (lower == "false") return false;
        return text;
    }
    const nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
    return j.is_discarded() ? nlohmann::ordered_json(text) : j;
}

class tool_call_parser {
public:
    // tools: the request's `tools` array (OpenAI form), for the parameters' types; null: every value is text.
    explicit tool_call_parser(const nlohmann::ordered_json* tools = nullptr) : tools_(tools) {}

    tool_call_output push(std::string_view text) {
        buffer_ += text;
        tool_call_output out;
        run(out, false);
        return out;
    }
    tool_call_output finish() {
        tool_call_output out;
        run(out, true);
        return out;
    }
    // Every call so far (whole once finish() returned).
    const std::vector<tool_call>& calls() const { return calls_; }

private:
    static constexpr std::string_view open_call = "<tool_call>", close_call = "</tool_call>", open_function = "<function=",
                                      close_function = "</function>", open_parameter = "<parameter=", close_parameter = "</parameter>";
    enum class state { content, header, function, after, gap };

    // The length of the longest suffix of s that is a proper prefix of tag.
    static std::size_t partial_suffix(std::string_view s, std::string_view tag) {
        for (std::size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n)
            if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
        return 0;
    }
    static std::size_t skip_space(std::string_view s, std::size_t i) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) ++i;
        return i;
    }
    // Whether s (from i) could still become `tag` (it is a prefix of it, or starts with it).
    static bool could_be(std::string_view s, std::size_t i, std::string_view tag) {
        const std::string_view rest = s.substr(i);
        return rest.size() >= tag.size() ? rest.starts_with(tag) : tag.starts_with(rest);
    }

    const nlohmann::ordered_json* schema_of(const std::string& function, const std::string& parameter) const {
        if (!tools_ || !tools_->is_array()) return nullptr;
        for (const auto& t : *tools_) {
            const auto f = t.find("function");
            if (f == t.end() || !f->is_object() || f->value("name", std::string()) != function) continue;
            const auto p = f->find("parameters");
            if (p == f->end() || !p->is_object()) return nullptr;
            const auto props = p->find("properties");
            if (props == p->end() || !props->is_object()) return nullptr;
            const auto s = props->find(parameter);
            return s == props->end() ? nullptr : &*s;
        }
        return nullptr;
    }

    void begin_call(tool_call_output& out, std::string name) {
        calls_.push_back({name, ""});
        out.calls.push_back({calls_.size() - 1, std::move(name), ""});
        parameters_ = 0;
    }
    void arguments(tool_call_output& out, const std::string& piece) {
        calls_.back().arguments += piece;
        if (!out.calls.empty() && out.calls.back().index == calls_.size() - 1) out.calls.back().arguments += piece;
        else out.calls.push_back({calls_.size() - 1, "", piece});
    }
    void parameter(tool_call_output& out, const std::string& name, std::string value) {
        if (value.starts_with('\n')) value.erase(0, 1);
        if (value.ends_with('\n')) value.pop_back();
        const nlohmann::ordered_json v = tool_argument_value(value, schema_of(calls_.back().name, name));
        const auto dump = [](const nlohmann::ordered_json& j) { return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace); };
        std::string piece = parameters_++ == 0 ? "{" : ", ";
        piece += dump(name) + ": " + dump(v);
        arguments(out, piece);
    }
    void end_call(tool_call_output& out) {
        arguments(out, parameters_ == 0 ? "{}" : "}");
        state_ = state::after;
    }

    void run(tool_call_output& out, bool last) {
        for (;;) {
            const std::string_view b = buffer_;
            switch (state_) {
                case state::content: {
                    const std::size_t at = b.find(open_call);
                    if (at == std::string_view::npos) {
                        const std::size_t keep = last ? 0 : partial_suffix(b, open_call);
                        out.content.append(b.substr(0, b.size() - keep));
                        buffer_.erase(0, b.size() - keep);
                        return;
                    }
                    out.content.append(b.substr(0, at));
                    buffer_.erase(0, at + open_call.size());
                    raw_.assign(open_call);
                    state_ = state::header;
                    continue;
                }
                case state::header: {
                    const std::size_t i = skip_space(b, 0);
                    const std::size_t close = b.find('>', i);
                    const bool shaped = could_be(b, i, open_function);
                    if (shaped && close != std::string_view::npos && i + open_function.size() <= close) {
                        std::string name(b.substr(i + open_function.size(), close - i - open_function.size()));
                        if (!name.empty() && name.find_first_of("\n<") == std::string::npos) {
                            buffer_.erase(0, close + 1);
                            begin_call(out, std::move(name));
                            state_ = state::function;
                            continue;
                        }
                    } else if (shaped && !last) {
                        return;  // not decided yet
                    }
                    // Not a call: the block is content as it stands.
                    out.content += raw_;
                    state_ = state::content;
                    continue;
                }
                case state::function: {
                    const std::size_t i = skip_space(b, 0);
                    if (b.substr(i).starts_with(close_function)) {
                        buffer_.erase(0, i + close_function.size());
                        end_call(out);
                        continue;
                    }
                    if (b.substr(i).starts_with(open_parameter)) {
                        const std::size_t close = b.find('>', i);
                        if (close == std::string_view::npos) {
                            if (!last) return;
                            end_call(out);  // an unfinished parameter header at the end
                            buffer_.clear();
                            continue;
                        }
                        const std::string name(b.substr(i + open_parameter.size(), close - i - open_parameter.size()));
                        const std::size_t from = close + 1;
                        std::size_t end = std::string_view::npos, next = 0;
                        for (const std::string_view stop : {close_parameter, open_parameter, close_function}) {
                            const std::size_t at = b.find(stop, from);
                            if (at < end) end = at, next = stop == close_parameter ? at + stop.size() : at;
                        }
                        if (end == std::string_view::npos) {
                            if (!last) return;  // the value goes on
                            end = next = b.size();
                        }
                        parameter(out, name, std::string(b.substr(from, end - from)));
                        buffer_.erase(0, next);
                        continue;
                    }
                    if (i == b.size() || (!last && (could_be(b, i, open_parameter) || could_be(b, i, close_function)))) {
                        if (!last) return;
                        end_call(out);  // the output ended inside the call
                        continue;
                    }
                    // Stray text inside a call: skipped up to the next tag.
                    const std::size_t lt = b.find('<', i + 1);
                    buffer_.erase(0, lt == std::string_view::npos ? b.size() : lt);
                    continue;
                }
                case state::after:  // a call's `</function>` seen: `</tool_call>` (optional), whitespace around it dropped
                case state::gap: {
                    const std::size_t i = skip_space(b, 0);
                    buffer_.erase(0, i);
                    const std::string_view rest = buffer_;
                    if (rest.empty() && !last) return;
                    if (state_ == state::after && rest.starts_with(close_call)) {
                        buffer_.erase(0, close_call.size());
                        state_ = state::gap;
                        continue;
                    }
                    if (state_ == state::after && !last && could_be(rest, 0, close_call)) return;
                    state_ = state::content;
                    continue;
                }
            }
        }
    }

    const nlohmann::ordered_json* tools_;
    std::string buffer_;  // text not yet decided
    std::string raw_;     // a block's text as it came, until its header decides it is a call
    state state_ = state::content;
    std::vector<tool_call> calls_;
    int parameters_ = 0;
};

}  // namespace vl::qwen36
