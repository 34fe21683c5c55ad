// vlgraph/io/json.hpp — the one way vlgraph reads JSON from untrusted files (config.json,
// preprocessor_config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
// chat_template.json, safetensors headers and index files), and the one way it quotes JSON values in
// error messages.
//
//   nlohmann::json j = vl::parse_json(text, "config.json");     // vl::format_error beyond max_json_depth
//   throw vl::config_error("x: got " + vl::json_summary(j["x"]));  // at most ~64 characters, no recursion
//
// Why: nlohmann's parser is iterative, but dump(), copying and comparison recurse once per nesting level,
// so a value nested ~2M deep ("[[[[...") overflows the stack as soon as anything walks it (an error message
// that dump()s the offending value did). Every reader therefore refuses documents nested deeper than
// max_json_depth (real Hugging Face files nest 3 to 6 levels), and error messages print a bounded
// summary made by an explicit-stack walk that stops after a few dozen characters.
#pragma once

#include <vlgraph/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vl {

// The deepest nesting (arrays and objects) any JSON document read by vlgraph may have.
inline constexpr int max_json_depth = 32;

inline std::string json_depth_message(int limit = max_json_depth) {
    return "JSON nested deeper than " + std::to_string(limit) + " levels";
}

// Parses `text`; invalid JSON or nesting beyond max_json_depth is a vl::format_error "<where>: ...".
inline nlohmann::json parse_json(std::string_view text, const std::string& where) {
    int depth = 0;
    auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json&) {
        using ev = nlohmann::json::parse_event_t;
        if (event == ev::object_start || event == ev::array_start) {
            if (++depth > max_json_depth) throw format_error(where + ": " + json_depth_message());
        } else if (event == ev::object_end || event == ev::array_end) {
            --depth;
        }
        return true;
    };
    try {
        return nlohmann::json::parse(text.begin(), text.end(), callback);
    } catch (const nlohmann::json::exception& e) {
        // Without the library's "[json.exception.parse_error.101] " tag: the message is for the user.
        std::string_view what = e.what();
        if (what.starts_with("[json.exception.")) {
            const std::size_t close = what.find("] ");
            if (close != std::string_view::npos) what.remove_prefix(close + 2);
        }
        throw format_error(where + ": not valid JSON: " + std::string(what));
    }
}

// A short printable rendering of `v` for error messages: JSON syntax, cut after about `max_chars`
// characters ("..." marks the cut). Walks with an explicit stack and stops early, so neither the depth
// nor the size of `v` matters.
inline std::string json_summary(const nlohmann::json& v, std::size_t max_chars = 64) {
    using json = nlohmann::json;
    std::string out;
    auto quote = [&](const std::string& s) {
        std::string q = json(s.substr(0, max_chars)).dump(-1, ' ', false, json::error_handler_t::replace);
        out += q;
    };
    struct frame {
        const json* j;
        json::const_iterator it;
        bool first;
    };
    std::vector<frame> stack;
    auto open = [&](const json& j) {
        if (j.is_object() || j.is_array()) {
            out += j.is_object() ? '{' : '[';
            stack.push_back({&j, j.cbegin(), true});
        } else if (j.is_string()) {
            quote(j.get_ref<const std::string&>());
        } else if (j.is_binary()) {
            out += "<binary>";
        } else {
            out += j.dump();  // a number, boolean or null: short
        }
    };
    open(v);
    while (!stack.empty() && out.size() <= max_chars) {
        frame& f = stack.back();
        if (f.it == f.j->cend()) {
            out += f.j->is_object() ? '}' : ']';
            stack.pop_back();
            continue;
        }
        if (!f.first) out += ", ";
        f.first = false;
        const auto it = f.it++;
        if (f.j->is_object()) {
            quote(it.key());
            out += ": ";
        }
        open(*it);  // may grow the stack: `f` is not used after this
    }
    if (out.size() > max_chars || !stack.empty()) {
        out.resize(std::min(out.size(), max_chars));
        // do not end inside a UTF-8 sequence
        while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
        if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
        out += "...";
    }
    return out;
}

}  // namespace vl
