// vlgraph/text/jinja/value.hpp — values, bounds and the UTF-8 / Python string helpers (see jinja.hpp for semantics, strictness and bounds).
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/text/utf8.hpp>


#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vl::text::jinja {


inline constexpr int max_nesting = 128;                                // blocks and expression depth when parsing
inline constexpr int max_call_depth = 32;                              // nested macro calls when rendering
inline constexpr std::size_t max_string_bytes = std::size_t{1} << 26;  // any string made while rendering (64 MiB)
inline constexpr std::size_t max_list_items = std::size_t{1} << 20;    // any list made while rendering
// The work of one render: a unit per statement, expression and loop iteration, per list item built and per
// 64 bytes of string built. The real Qwen template over a long chat uses well under 1%; a template that
// never ends (exponential macros, nested loops printing nothing, lists doubled in a loop) fails in a second.
inline constexpr std::uint64_t max_work = std::uint64_t{1} << 23;

// ---------------------------------------------------------------------------------------------------------
// UTF-8 helpers. Python's str works on code points, so lengths, slices and strip() decode UTF-8.

namespace detail {

// Decodes the code point at s[i], advancing i; s must be valid UTF-8 (checked by utf8_valid on entry).
inline char32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const int n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    char32_t c = n == 1 ? b : b & (0x7F >> n);
    for (int k = 1; k < n; ++k) c = c << 6 | (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0x3F);
    i += static_cast<std::size_t>(n);
    return c;
}

// Byte offsets of the code points of s, plus s.size() at the end.
inline std::vector<std::size_t> code_point_offsets(std::string_view s) {
    std::vector<std::size_t> off;
    for (std::size_t i = 0; i < s.size();) {
        off.push_back(i);
        next_code_point(s, i);
    }
    off.push_back(s.size());
    return off;
}

// Python's str.isspace() set (what str.strip() with no argument removes): Python's definition, listed from
// CPython 3.11 (`[c for c in range(0x110000) if chr(c).isspace()]`).
inline bool python_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Bytes of the Python-whitespace code point at s[i], or 0. Jinja2's whitespace control uses Python's
// Unicode-aware `\s` and str.rstrip(), so `{%-` also eats e.g. U+3000 before a tag.
inline std::size_t space_at(std::string_view s, std::size_t i) {
    std::size_t j = i;
    return python_space(next_code_point(s, j)) ? j - i : 0;
}

// Python's str.strip/lstrip/rstrip: `chars` null -> Python whitespace, else the code points of *chars.
inline std::string py_strip(std::string_view s, const std::string* chars, bool left, bool right) {
    const auto strippable = [&](char32_t c) {
        if (!chars) return python_space(c);
        for (std::size_t i = 0; i < chars->size();)
            if (next_code_point(*chars, i) == c) return true;
        return false;
    };
    const auto off = code_point_offsets(s);
    std::size_t b = 0, e = off.size() - 1;
    const auto cp = [&](std::size_t k) {
        std::size_t i = off[k];
        return next_code_point(s, i);
    };
    while (left && b < e && strippable(cp(b))) ++b;
    while (right && e > b && strippable(cp(e - 1))) --e;
    return std::string(s.substr(off[b], off[e] - off[b]));
}

// Python's repr(float): the shortest digits that read back to v, positional for exponents -4 <= e < 16,
// otherwise d.ddde±XX (at least two exponent digits); inf/nan as Python prints them.
inline std::string python_float(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const std::string sci(buf, r.ptr);  // e.g. "-1.2345e+02": shortest round-trip digits
    const std::size_t epos = sci.find('e');
    const bool negative = sci[0] == '-';
    std::string digits;
    for (std::size_t i = negative ? 1 : 0; i < epos; ++i)
        if (sci[i] != '.') digits += sci[i];
    const int exp = std::stoi(sci.substr(epos + 1));
    std::string out = negative ? "-" : "";
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            out += "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
        } else if (static_cast<int>(digits.size()) <= exp + 1) {
            out += digits + std::string(static_cast<std::size_t>(exp + 1 - static_cast<int>(digits.size())), '0') + ".0";
        } else {
            out += digits.substr(0, static_cast<std::size_t>(exp + 1)) + "." + digits.substr(static_cast<std::size_t>(exp + 1));
        }
        return out;
    }
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int a = exp < 0 ? -exp : exp;
    out += std::string(exp < 0 ? "e-" : "e+") + (a < 10 ? "0" : "") + std::to_string(a);
    return out;
}

// A JSON string as Python's json.dumps(ensure_ascii=False) writes it: ", \, \n, \r, \t, \b, \f escaped,
// other control characters as \u00XX, everything else as it is.
inline void json_string(std::string& out, std::string_view s) {
    out += '"';
    for (const char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    static constexpr char hex[] = "0123456789abcdef";
                    out += "\\u00";
                    out += hex[(static_cast<unsigned char>(c) >> 4) & 0xF];
                    out += hex[static_cast<unsigned char>(c) & 0xF];
                } else {
                    out += c;
                }
        }
    }
    out += '"';
}

}  // namespace detail

// True when s is well-formed UTF-8 (vl::text::utf8: shortest forms, no surrogates, at most U+10FFFF).
inline bool utf8_valid(std::string_view s) { return vl::text::utf8::find_invalid(s) == std::string_view::npos; }

// ---------------------------------------------------------------------------------------------------------
// Values: the JSON-like data HF passes to templates, plus namespaces and macros.

struct stmt;

struct value {
    enum class kind : std::uint8_t { undefined, none, boolean, integer, floating, string, list, dict, namespace_, macro, builtin };
    using list_type = std::vector<value>;
    using fields_type = std::vector<std::pair<std::string, value>>;  // insertion-ordered like a Python dict

    kind k = kind::undefined;
    bool b = false;
    std::int64_t i = 0;
    double f = 0;   // floating: a JSON number with a fraction or an exponent (Python float)
    std::string s;  // string; builtin: its name (namespace, raise_exception)
    std::shared_ptr<const list_type> items;  // list
    std::shared_ptr<fields_type> fields;     // dict (mutated only as a for loop's `loop`) or namespace (by `set ns.x`)
    const stmt* macro = nullptr;             // macro: its definition, owned by the parsed template

    static value none() { return with_kind(kind::none); }
    static value boolean(bool v) {
        value r = with_kind(kind::boolean);
        r.b = v;
        return r;
    }
    static value integer(std::int64_t v) {
        value r = with_kind(kind::integer);
        r.i = v;
        return r;
    }
    static value floating(double v) {
        value r = with_kind(kind::floating);
        r.f = v;
        return r;
    }
    static value string(std::string v) {
        value r = with_kind(kind::string);
        r.s = std::move(v);
        return r;
    }
    static value list(list_type v) {
        value r = with_kind(kind::list);
        r.items = std::make_shared<const list_type>(std::move(v));
        return r;
    }
    static value dict(fields_type v) {
        value r = with_kind(kind::dict);
        r.fields = std::make_shared<fields_type>(std::move(v));
        return r;
    }

    // The field named `name` of a dict or namespace, or nullptr.
    const value* field(std::string_view name) const {
        if (!fields) return nullptr;
        for (const auto& [key, v] : *fields)
            if (key == name) return &v;
        return nullptr;
    }

private:
    static value with_kind(kind kk) {
        value r;
        r.k = kk;
        return r;
    }
};

}  // namespace vl::text::jinja
