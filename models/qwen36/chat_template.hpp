// vlgraph/models/qwen36/chat_template.hpp — a small, strict interpreter for the subset of Jinja2 that
// HF chat templates of the Qwen3.5 / Qwen3.6 family use (the engine behind vl::qwen36::chat_template).
//
// Why an interpreter and not a native renderer: running the checkpoint's own chat_template.jinja is what
// HF apply_chat_template does, so template revisions (Qwen3.5 vs 3.6 `preserve_thinking`, fixes in later
// uploads) render exactly as HF renders them with no per-revision code here. The risk of an interpreter is
// rendering something subtly different from Jinja2; that is contained by being *strict*: every construct,
// filter, test, method or variable outside the supported subset is a vl::error naming it, never a guess.
//
// Semantics follow Jinja2 3.1 as configured by transformers (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, keep_trailing_newline false, autoescape off):
//  * whitespace control `{%-`/`-%}` (strip all whitespace), `+` modifiers, lstrip_blocks (spaces/tabs before a
//    block tag on its own line), trim_blocks (one newline after a block tag); `\r\n` and `\r` become `\n`;
//  * statements: if/elif/else, for (one target; `loop.index0/index/first/last/length/previtem/nextitem`), set
//    (name or namespace attribute), macro (positional parameters with defaults), comments;
//  * expressions: string/integer/boolean/none literals, list literals, names, `.attr` and `[key]` (a dict key or
//    a list/string index), Python slices, calls of macros, `namespace(...)`, `raise_exception(msg)` and the string
//    methods startswith/endswith/split(sep)/strip/lstrip/rstrip, filters trim/length/tojson (transformers' json.dumps)/items/string/safe, tests
//    defined/undefined/none/string/number/mapping/iterable/sequence/true/false, `not and or`, `== != < <= > >=`,
//    `in`/`not in`, `+ - * // %` on integers, `+` on strings and lists, `~`, and `a if c else b`;
//  * Jinja2's default Undefined: a missing key or attribute is undefined (prints as '', is falsy, iterates empty,
//    `is defined` false); any other use of it (attribute, arithmetic, ordering) is an error as in Jinja2.
// Stricter than Jinja2 on purpose: a variable that is neither set by the template nor passed in is an error
// (Jinja2 would render '' — e.g. a revision reading `bos_token`, which vlgraph does not pass, must not render
// wrongly); strings must be valid UTF-8 (Python strings are code points: len/strip/slices work on those).
// Resource bounds make hostile templates fail cleanly: nesting depth, macro recursion, string and list sizes
// and the total work of a render are capped (see the constants below).
#pragma once

#include <vlgraph/error.hpp>

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

namespace vl::qwen36::jinja {

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

// True when s is well-formed UTF-8 (shortest forms, no surrogates, at most U+10FFFF).
inline bool utf8_valid(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        char32_t lo = 0;
        if (b < 0x80) {
            ++i;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) n = 2, lo = 0x80;
        else if (b >= 0xE0 && b <= 0xEF) n = 3, lo = 0x800;
        else if (b >= 0xF0 && b <= 0xF4) n = 4, lo = 0x10000;
        else return false;
        if (i + n > s.size()) return false;
        char32_t c = b & (0x7F >> n);
        for (std::size_t k = 1; k < n; ++k) {
            const auto t = static_cast<unsigned char>(s[i + k]);
            if ((t & 0xC0) != 0x80) return false;
            c = c << 6 | (t & 0x3F);
        }
        if (c < lo || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

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
    std::shared_ptr<fields_type> fields;     // dict (never mutated) or namespace (mutated by `set ns.x`)
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

// ---------------------------------------------------------------------------------------------------------
// Syntax tree.

struct expr {
    enum class op : std::uint8_t { literal, name, attr, item, slice, call, filter, test, not_, neg, and_, or_, binary, cond, list };
    op o = op::literal;
    int line = 0;
    value lit;         // literal
    std::string name;  // name, attr, call keyword names are in `keywords`, filter/test name, binary operator
    bool negated = false;                      // test: `is not`
    std::vector<std::unique_ptr<expr>> args;   // operands; absent slice parts and `else` are nullptr
    std::vector<std::string> keywords;         // call: names of the trailing keyword arguments
};

struct stmt {
    enum class op : std::uint8_t { text, output, if_, for_, set, macro };
    op o = op::text;
    int line = 0;
    std::string text;                                     // text: the literal data
    std::unique_ptr<expr> e;                              // output / for iterable / set value
    std::vector<std::unique_ptr<expr>> conditions;        // if: one per if/elif branch
    std::vector<std::vector<stmt>> bodies;                // if: branch bodies (+ else body last); for/macro: [body]
    std::string name, attr;                               // set target (attr: `set ns.attr`) / macro name
    std::vector<std::string> params;                      // macro parameters / for targets (several: unpacking)
    std::vector<std::unique_ptr<expr>> defaults;          // macro: default per parameter, nullptr when none
};

// ---------------------------------------------------------------------------------------------------------
// Lexer: template source -> data and tag tokens, whitespace control applied.

namespace detail {

struct token {
    enum class kind : std::uint8_t { data, block_begin, block_end, var_begin, var_end, name, string, integer, op, eof };
    kind k;
    std::string text;
    int line;
};

[[noreturn]] inline void fail(int line, const std::string& what) {
    throw vl::error("chat template line " + std::to_string(line) + ": " + what);
}

class lexer {
public:
    explicit lexer(std::string_view source) {
        // Jinja2 normalises every newline to "\n" and (keep_trailing_newline=False) drops one final newline.
        src_.reserve(source.size());
        for (std::size_t i = 0; i < source.size(); ++i) {
            if (source[i] == '\r') {
                src_ += '\n';
                if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
            } else {
                src_ += source[i];
            }
        }
        if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    }

    std::vector<token> run() {
        while (pos_ < src_.size()) {
            const std::size_t open = find_tag(pos_);
            std::string data = src_.substr(pos_, open - pos_);
            const int data_line = line_;
            count_lines(pos_, open);
            pos_ = open;
            if (open == src_.size()) {
                push_data(std::move(data), data_line);
                break;
            }
            const char kind = src_[open + 1];
            const char mod = open + 2 < src_.size() ? src_[open + 2] : '\0';
            const bool data_at_line_start = open - data.size() == 0 || src_[open - data.size() - 1] == '\n';
            if (mod == '-') {
                data = py_strip(data, nullptr, false, true);
            } else if (kind != '{' && mod != '+') {
                lstrip_block(data, data_at_line_start);
            }
            push_data(std::move(data), data_line);
            pos_ += (mod == '-' || mod == '+') ? 3 : 2;
            if (kind == '#') skip_comment();
            else tag(kind == '%');
        }
        tokens_.push_back({token::kind::eof, "", line_});
        return std::move(tokens_);
    }

private:
    std::string src_;
    std::size_t pos_ = 0;
    int line_ = 1;
    std::vector<token> tokens_;

    std::size_t find_tag(std::size_t from) const {
        for (std::size_t i = from; i + 1 < src_.size(); ++i)
            if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
        return src_.size();
    }
    void count_lines(std::size_t from, std::size_t to) {
        line_ += static_cast<int>(std::count(src_.begin() + static_cast<std::ptrdiff_t>(from), src_.begin() + static_cast<std::ptrdiff_t>(to), '\n'));
    }
    void push_data(std::string data, int line) {
        if (!data.empty()) tokens_.push_back({token::kind::data, std::move(data), line});
    }
    // lstrip_blocks: spaces and tabs between the start of the line and a block or comment tag are removed.
    static void lstrip_block(std::string& data, bool data_at_line_start) {
        const std::size_t nl = data.rfind('\n');
        const std::size_t from = nl == std::string::npos ? 0 : nl + 1;
        if (nl == std::string::npos && !data_at_line_start) return;
        if (data.find_first_not_of(" \t", from) == std::string::npos) data.erase(from);
    }
    // After a block or comment end: `-` strips all following whitespace; otherwise trim_blocks drops one
    // newline unless the end is written `+%}`.
    void after_block_end(bool strip, bool plus) {
        if (strip) {
            const std::size_t from = pos_;
            while (pos_ < src_.size()) {
                const std::size_t n = space_at(src_, pos_);
                if (n == 0) break;
                pos_ += n;
            }
            count_lines(from, pos_);
        } else if (!plus && pos_ < src_.size() && src_[pos_] == '\n') {
            ++pos_;
            ++line_;
        }
    }
    void skip_comment() {
        const std::size_t end = src_.find("#}", pos_);
        if (end == std::string::npos) fail(line_, "unterminated comment");
        const bool strip = end > pos_ && src_[end - 1] == '-';
        const bool plus = end > pos_ && src_[end - 1] == '+';
        count_lines(pos_, end + 2);
        pos_ = end + 2;
        after_block_end(strip, plus);
    }
    void tag(bool block) {
        tokens_.push_back({block ? token::kind::block_begin : token::kind::var_begin, "", line_});
        int depth = 0;  // open brackets: `}}` inside a list/call is not the tag end
        for (;;) {
            for (std::size_t n; pos_ < src_.size() && (n = space_at(src_, pos_)) != 0; pos_ += n)
                if (src_[pos_] == '\n') ++line_;
            if (pos_ >= src_.size()) fail(line_, block ? "unterminated {% ... %} tag" : "unterminated {{ ... }} tag");
            const std::string_view rest = std::string_view(src_).substr(pos_);
            const std::string_view end = block ? "%}" : "}}";
            for (std::string_view mod : {"-", "+", ""}) {
                if (depth == 0 && rest.substr(0, mod.size()) == mod && rest.substr(mod.size(), 2) == end &&
                    (mod != "+" || block)) {
                    pos_ += mod.size() + 2;
                    tokens_.push_back({block ? token::kind::block_end : token::kind::var_end, "", line_});
                    if (block) after_block_end(mod == "-", mod == "+");
                    else if (mod == "-") after_block_end(true, false);
                    return;
                }
            }
            const char c = src_[pos_];
            if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                std::size_t e = pos_;
                while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
                tokens_.push_back({token::kind::name, src_.substr(pos_, e - pos_), line_});
                pos_ = e;
            } else if (std::isdigit(static_cast<unsigned char>(c))) {
                std::size_t e = pos_;
                while (e < src_.size() && std::isdigit(static_cast<unsigned char>(src_[e]))) ++e;
                if (e < src_.size() && (src_[e] == '.' || src_[e] == 'e' || src_[e] == 'E' || src_[e] == '_'))
                    fail(line_, "unsupported number literal (only decimal integers are supported)");
                std::int64_t v = 0;
                if (std::from_chars(src_.data() + pos_, src_.data() + e, v).ec != std::errc()) fail(line_, "integer literal too large");
                tokens_.push_back({token::kind::integer, src_.substr(pos_, e - pos_), line_});
                pos_ = e;
            } else if (c == '\'' || c == '"') {
                tokens_.push_back({token::kind::string, string_literal(c), line_});
            } else {
                static constexpr std::array<std::string_view, 6> two{"==", "!=", "<=", ">=", "//", "**"};
                std::string op(1, c);
                for (std::string_view t : two)
                    if (rest.substr(0, 2) == t) op = std::string(t);
                if (op.size() == 1 && std::string_view("+-*/%~<>()[]{}.,:|=").find(c) == std::string_view::npos)
                    fail(line_, std::string("unexpected character '") + c + "' in a tag");
                if (c == '(' || c == '[' || c == '{') ++depth;
                if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
                tokens_.push_back({token::kind::op, op, line_});
                pos_ += op.size();
            }
        }
    }
    // A quoted literal with Python's backslash escapes (Jinja2 decodes literals with "unicode-escape").
    std::string string_literal(char quote) {
        std::string out;
        std::size_t i = pos_ + 1;
        for (;; ++i) {
            if (i >= src_.size()) fail(line_, "unterminated string literal");
            const char c = src_[i];
            if (c == quote) break;
            if (c == '\n') ++line_;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (++i >= src_.size()) fail(line_, "unterminated string literal");
            switch (src_[i]) {
                case 'n': out += '\n'; break;
                case 't': out += '\t'; break;
                case 'r': out += '\r'; break;
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case '\n': ++line_; break;  // a backslash-newline continues the literal
                case 'x': i = hex_escape(i, 2, out); break;
                case 'u': i = hex_escape(i, 4, out); break;
                case 'U': i = hex_escape(i, 8, out); break;
                default: fail(line_, std::string("unsupported escape \\") + src_[i] + " in a string literal");
            }
        }
        pos_ = i + 1;
        return out;
    }
    // `\xHH`, `\uHHHH`, `\UHHHHHHHH` at src_[i] (the letter): appends the code point as UTF-8, returns the
    // index of the last digit.
    std::size_t hex_escape(std::size_t i, std::size_t digits, std::string& out) const {
        char32_t c = 0;
        for (std::size_t k = 1; k <= digits; ++k) {
            const char h = i + k < src_.size() ? src_[i + k] : '\0';
            if (!std::isxdigit(static_cast<unsigned char>(h))) fail(line_, "truncated \\" + std::string(1, src_[i]) + " escape");
            c = c * 16 + static_cast<char32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) fail(line_, "escape is not a Unicode scalar value");
        if (c < 0x80) {
            out += static_cast<char>(c);
        } else if (c < 0x800) {
            out += static_cast<char>(0xC0 | (c >> 6));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            out += static_cast<char>(0xE0 | (c >> 12));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (c >> 18));
            out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (c & 0x3F));
        }
        return i + digits;
    }
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------------------
// Parser: tokens -> statements.

class parsed_template {
public:
    explicit parsed_template(std::string_view source) {
        if (!utf8_valid(source)) throw vl::error("chat template is not valid UTF-8");
        toks_ = detail::lexer(source).run();
        std::string end;
        body_ = parse_body({}, end);
    }
    const std::vector<stmt>& body() const { return body_; }

private:
    using token = detail::token;
    std::vector<token> toks_;
    std::size_t p_ = 0;
    int depth_ = 0;
    std::vector<stmt> body_;

    const token& peek(std::size_t ahead = 0) const { return toks_[std::min(p_ + ahead, toks_.size() - 1)]; }
    const token& next() {
        const token& t = peek();
        if (p_ < toks_.size() - 1) ++p_;
        return t;
    }
    bool at_op(std::string_view op) const { return peek().k == token::kind::op && peek().text == op; }
    bool at_name(std::string_view n) const { return peek().k == token::kind::name && peek().text == n; }
    [[noreturn]] void fail(const std::string& what) const { detail::fail(peek().line, what); }
    void expect_op(std::string_view op) {
        if (!at_op(op)) fail("expected '" + std::string(op) + "', got " + describe(peek()));
        next();
    }
    std::string expect_name() {
        if (peek().k != token::kind::name) fail("expected a name, got " + describe(peek()));
        return next().text;
    }
    void expect_block_end() {
        if (peek().k != token::kind::block_end) fail("expected the end of the tag, got " + describe(peek()));
        next();
    }
    static std::string describe(const token& t) {
        switch (t.k) {
            case token::kind::block_end: return "'%}'";
            case token::kind::var_end: return "'}}'";
            case token::kind::eof: return "the end of the template";
            default: return "'" + t.text + "'";
        }
    }
    struct depth_guard {
        int& d;
        depth_guard(int& depth, const parsed_template& self) : d(depth) {
            if (++d > max_nesting) self.fail("nesting deeper than " + std::to_string(max_nesting));
        }
        ~depth_guard() { --d; }
        depth_guard(const depth_guard&) = delete;
        depth_guard& operator=(const depth_guard&) = delete;
    };

    // Statements until a block tag whose keyword is in `ends` (returned in `end`, the tag left open for the
    // caller) or, with empty `ends`, until the end of the template.
    std::vector<stmt> parse_body(std::initializer_list<std::string_view> ends, std::string& end) {
        const depth_guard g(depth_, *this);
        std::vector<stmt> out;
        for (;;) {
            const token& t = peek();
            if (t.k == token::kind::eof) {
                for (std::string_view closer : ends)
                    if (closer.starts_with("end")) fail("missing {% " + std::string(closer) + " %}");
                return out;
            }
            if (t.k == token::kind::data) {
                stmt s;
                s.o = stmt::op::text;
                s.line = t.line;
                s.text = next().text;
                out.push_back(std::move(s));
            } else if (t.k == token::kind::var_begin) {
                next();
                stmt s;
                s.o = stmt::op::output;
                s.line = t.line;
                s.e = parse_expr();
                if (peek().k != token::kind::var_end) fail("expected '}}', got " + describe(peek()));
                next();
                out.push_back(std::move(s));
            } else {
                next();  // block_begin
                const std::string kw = expect_name();
                if (std::find(ends.begin(), ends.end(), kw) != ends.end()) {
                    end = kw;
                    return out;
                }
                out.push_back(parse_statement(kw));
            }
        }
    }

    stmt parse_statement(const std::string& kw) {
        stmt s;
        s.line = peek().line;
        std::string end;
        if (kw == "if") {
            s.o = stmt::op::if_;
            s.conditions.push_back(parse_expr());
            expect_block_end();
            for (;;) {
                s.bodies.push_back(parse_body({"elif", "else", "endif"}, end));
                if (end == "elif") {
                    s.conditions.push_back(parse_expr());
                    expect_block_end();
                } else if (end == "else") {
                    expect_block_end();
                    s.bodies.push_back(parse_body({"endif"}, end));
                    expect_block_end();
                    return s;
                } else {
                    expect_block_end();
                    return s;
                }
            }
        }
        if (kw == "for") {
            s.o = stmt::op::for_;
            s.params.push_back(expect_name());
            while (at_op(",")) {
                next();
                s.params.push_back(expect_name());
            }
            if (!at_name("in")) fail("expected 'in' in the for loop, got " + describe(peek()));
            next();
            s.e = parse_or();  // not a full expression: `for x in y if cond` (a loop filter) is refused below
            if (peek().k != token::kind::block_end)
                fail("unsupported for-loop clause " + describe(peek()) + " (loop filters and `recursive`)");
            next();
            s.bodies.push_back(parse_body({"endfor", "else"}, end));
            if (end == "else") fail("for ... else is not supported");
            expect_block_end();
            return s;
        }
        if (kw == "set") {
            s.o = stmt::op::set;
            s.name = expect_name();
            if (at_op(".")) {
                next();
                s.attr = expect_name();
            }
            if (at_op(",")) fail("set with several targets (unpacking) is not supported");
            if (!at_op("=")) fail("block assignments ({% set x %}...{% endset %}) are not supported");
            next();
            s.e = parse_expr();
            expect_block_end();
            return s;
        }
        if (kw == "macro") {
            s.o = stmt::op::macro;
            s.name = expect_name();
            expect_op("(");
            while (!at_op(")")) {
                s.params.push_back(expect_name());
                if (at_op("=")) {
                    next();
                    s.defaults.push_back(parse_expr());
                } else {
                    if (!s.defaults.empty() && s.defaults.back()) fail("a macro parameter without a default follows one with a default");
                    s.defaults.push_back(nullptr);
                }
                if (!at_op(",")) break;
                next();
            }
            expect_op(")");
            expect_block_end();
            s.bodies.push_back(parse_body({"endmacro"}, end));
            if (peek().k == token::kind::name) next();  // `{% endmacro name %}` is allowed
            expect_block_end();
            return s;
        }
        if (kw.starts_with("end") || kw == "elif" || kw == "else") fail("unexpected {% " + kw + " %}");
        fail("unsupported Jinja statement '" + kw + "'");
    }

    // ---- expressions (Jinja2's precedence: cond < or < and < not < compare < +,- < ~ < *,//,% < unary < postfix)

    std::unique_ptr<expr> make(expr::op o, int line) {
        auto e = std::make_unique<expr>();
        e->o = o;
        e->line = line;
        return e;
    }
    std::unique_ptr<expr> binary(expr::op o, std::string name, std::unique_ptr<expr> l, std::unique_ptr<expr> r) {
        auto e = make(o, l->line);
        e->name = std::move(name);
        e->args.push_back(std::move(l));
        e->args.push_back(std::move(r));
        return e;
    }

    std::unique_ptr<expr> parse_expr() {
        const depth_guard g(depth_, *this);
        auto e = parse_or();
        if (!at_name("if")) return e;
        next();
        auto c = make(expr::op::cond, e->line);
        c->args.push_back(std::move(e));
        c->args.push_back(parse_or());
        if (at_name("else")) {
            next();
            c->args.push_back(parse_expr());
        } else {
            c->args.push_back(nullptr);
        }
        return c;
    }
    std::unique_ptr<expr> parse_or() {
        auto e = parse_and();
        while (at_name("or")) {
            next();
            e = binary(expr::op::or_, "or", std::move(e), parse_and());
        }
        return e;
    }
    std::unique_ptr<expr> parse_and() {
        auto e = parse_not();
        while (at_name("and")) {
            next();
            e = binary(expr::op::and_, "and", std::move(e), parse_not());
        }
        return e;
    }
    std::unique_ptr<expr> parse_not() {
        if (!at_name("not")) return parse_compare();
        const depth_guard g(depth_, *this);
        auto e = make(expr::op::not_, next().line);
        e->args.push_back(parse_not());
        return e;
    }
    std::unique_ptr<expr> parse_compare() {
        auto e = parse_additive();
        for (;;) {
            if (peek().k == token::kind::op && (at_op("==") || at_op("!=") || at_op("<") || at_op("<=") || at_op(">") || at_op(">="))) {
                const std::string op = next().text;
                e = binary(expr::op::binary, op, std::move(e), parse_additive());
            } else if (at_name("in")) {
                next();
                e = binary(expr::op::binary, "in", std::move(e), parse_additive());
            } else if (at_name("not") && peek(1).k == token::kind::name && peek(1).text == "in") {
                next();
                next();
                e = binary(expr::op::binary, "not in", std::move(e), parse_additive());
            } else {
                return e;
            }
        }
    }
    std::unique_ptr<expr> parse_additive() {
        auto e = parse_concat();
        while (at_op("+") || at_op("-")) {
            const std::string op = next().text;
            e = binary(expr::op::binary, op, std::move(e), parse_concat());
        }
        return e;
    }
    std::unique_ptr<expr> parse_concat() {
        auto e = parse_multiplicative();
        while (at_op("~")) {
            next();
            e = binary(expr::op::binary, "~", std::move(e), parse_multiplicative());
        }
        return e;
    }
    std::unique_ptr<expr> parse_multiplicative() {
        auto e = parse_unary();
        while (at_op("*") || at_op("//") || at_op("%") || at_op("/") || at_op("**")) {
            if (at_op("/") || at_op("**")) fail("operator '" + peek().text + "' is not supported (no floats)");
            const std::string op = next().text;
            e = binary(expr::op::binary, op, std::move(e), parse_unary());
        }
        return e;
    }
    // As Jinja2: `-x|f` is `(-x)|f`, the sign binds tighter than filters and tests.
    std::unique_ptr<expr> parse_unary(bool with_filters = true) {
        const depth_guard g(depth_, *this);
        std::unique_ptr<expr> e;
        if (at_op("-")) {
            e = make(expr::op::neg, next().line);
            e->args.push_back(parse_unary(false));
        } else {
            if (at_op("+")) next();
            e = parse_primary();
        }
        e = parse_postfix(std::move(e));
        return with_filters ? parse_filters(std::move(e)) : std::move(e);
    }
    std::unique_ptr<expr> parse_primary() {
        const token& t = peek();
        if (t.k == token::kind::string) {
            auto e = make(expr::op::literal, t.line);
            std::string s = next().text;
            while (peek().k == token::kind::string) s += next().text;  // adjacent literals concatenate
            e->lit = value::string(std::move(s));
            return e;
        }
        if (t.k == token::kind::integer) {
            auto e = make(expr::op::literal, t.line);
            std::int64_t v = 0;
            const std::string& digits = next().text;
            std::from_chars(digits.data(), digits.data() + digits.size(), v);  // range checked by the lexer
            e->lit = value::integer(v);
            return e;
        }
        if (t.k == token::kind::name) {
            auto e = make(expr::op::literal, t.line);
            const std::string& n = t.text;
            if (n == "true" || n == "True") e->lit = value::boolean(true);
            else if (n == "false" || n == "False") e->lit = value::boolean(false);
            else if (n == "none" || n == "None") e->lit = value::none();
            else e->o = expr::op::name, e->name = n;
            next();
            return e;
        }
        if (at_op("(")) {
            next();
            auto e = parse_expr();
            if (at_op(",")) fail("tuples are not supported");
            expect_op(")");
            return e;
        }
        if (at_op("[")) {
            auto e = make(expr::op::list, next().line);
            while (!at_op("]")) {
                e->args.push_back(parse_expr());
                if (!at_op(",")) break;
                next();
            }
            expect_op("]");
            return e;
        }
        if (at_op("{")) fail("dict literals are not supported");
        fail("unexpected " + describe(t) + " in an expression");
    }
    std::unique_ptr<expr> parse_postfix(std::unique_ptr<expr> e) {
        for (;;) {
            if (at_op(".")) {
                next();
                auto a = make(expr::op::attr, e->line);
                if (peek().k == token::kind::integer) fail("numeric attribute access (x.0) is not supported");
                a->name = expect_name();
                a->args.push_back(std::move(e));
                e = std::move(a);
            } else if (at_op("[")) {
                next();
                e = parse_subscript(std::move(e));
            } else if (at_op("(")) {
                e = parse_call(std::move(e));
            } else {
                return e;
            }
        }
    }
    std::unique_ptr<expr> parse_subscript(std::unique_ptr<expr> obj) {
        std::array<std::unique_ptr<expr>, 3> part;
        std::size_t n = 0;
        for (;;) {
            if (!at_op(":") && !at_op("]")) part[n] = parse_expr();
            if (!at_op(":")) break;
            if (++n == 3) fail("a slice has at most two ':'");
            next();
        }
        expect_op("]");
        if (n == 0 && !part[0]) fail("an empty subscript []");  // Jinja's syntax error too (it was evaluated as a null index)
        auto e = make(n == 0 ? expr::op::item : expr::op::slice, obj->line);
        e->args.push_back(std::move(obj));
        for (std::size_t k = 0; k <= (n == 0 ? 0 : 2); ++k) e->args.push_back(std::move(part[k]));
        return e;
    }
    // Appends `(args)` to e->args (positional first, then keyword values named in e->keywords).
    void parse_arguments(expr& e) {
        expect_op("(");
        while (!at_op(")")) {
            if (peek().k == token::kind::name && peek(1).k == token::kind::op && peek(1).text == "=") {
                e.keywords.push_back(next().text);
                next();
            } else if (!e.keywords.empty()) {
                fail("a positional argument follows a keyword argument");
            } else if (at_op("*") || at_op("**")) {
                fail("*args / **kwargs in calls are not supported");
            }
            e.args.push_back(parse_expr());
            if (!at_op(",")) break;
            next();
        }
        expect_op(")");
    }
    std::unique_ptr<expr> parse_call(std::unique_ptr<expr> callee) {
        auto e = make(expr::op::call, callee->line);
        e->args.push_back(std::move(callee));
        parse_arguments(*e);
        return e;
    }
    std::unique_ptr<expr> parse_filters(std::unique_ptr<expr> e) {
        for (;;) {
            if (at_op("|")) {
                next();
                auto f = make(expr::op::filter, e->line);
                f->name = expect_name();
                f->args.push_back(std::move(e));
                if (at_op("(")) parse_arguments(*f);
                if (!f->keywords.empty()) fail("keyword arguments to filters are not supported");
                e = std::move(f);
            } else if (at_name("is")) {
                next();
                auto t = make(expr::op::test, e->line);
                if (at_name("not")) {
                    next();
                    t->negated = true;
                }
                // `none`, `true` and `false` are keywords in expressions but test names here.
                t->name = expect_name();
                t->args.push_back(std::move(e));
                e = std::move(t);
            } else {
                return e;
            }
        }
    }
};

// ---------------------------------------------------------------------------------------------------------
// Renderer.

class renderer {
public:
    // `globals`: the variables HF passes to the template (messages, add_generation_prompt, ...).
    explicit renderer(value::fields_type globals) : globals_(std::move(globals)) {}

    // Rvalue-only: top-level `set`s write into the globals, so a renderer renders once.
    std::string render(const parsed_template& t) && {
        std::string out;
        scope top{&globals_, nullptr};
        exec_body(t.body(), top, out);
        return out;
    }

private:
    struct scope {
        value::fields_type* vars;
        scope* parent;
    };
    struct loop_exit {};

    value::fields_type globals_;
    int call_depth_ = 0;
    std::uint64_t work_ = 0;  // see max_work

    void charge(int line, std::uint64_t units) {
        work_ += units;
        if (work_ > max_work)
            fail(line, "the template does too much work (over " + std::to_string(max_work) +
                           " steps: an endless loop or recursion?)");
    }
    void check_items(int line, std::size_t n) {
        if (n > max_list_items) fail(line, "a list of " + std::to_string(n) + " items exceeds the limit of " + std::to_string(max_list_items));
        charge(line, n);
    }

    [[noreturn]] static void fail(int line, const std::string& what) { detail::fail(line, what); }

    void check_size(int line, std::size_t n) {
        if (n > max_string_bytes) fail(line, "rendered text exceeds " + std::to_string(max_string_bytes) + " bytes");
        charge(line, n / 64);
    }
    void append(std::string& out, std::string_view s, int line) {
        check_size(line, out.size() + s.size());
        out += s;
    }

    value* find(scope& sc, std::string_view name) {
        for (scope* s = &sc; s; s = s->parent)
            for (auto& [key, v] : *s->vars)
                if (key == name) return &v;
        return nullptr;
    }
    void assign(scope& sc, const std::string& name, value v) {
        for (auto& [key, old] : *sc.vars)
            if (key == name) {
                old = std::move(v);
                return;
            }
        sc.vars->emplace_back(name, std::move(v));
    }

    // ---- statements

    void exec_body(const std::vector<stmt>& body, scope& sc, std::string& out) {
        for (const stmt& s : body) exec(s, sc, out);
    }

    void exec(const stmt& s, scope& sc, std::string& out) {
        charge(s.line, 1);
        switch (s.o) {
            case stmt::op::text: append(out, s.text, s.line); return;
            case stmt::op::output: append(out, to_output(eval(*s.e, sc), s.line), s.line); return;
            case stmt::op::if_:
                for (std::size_t k = 0; k < s.conditions.size(); ++k)
                    if (truthy(eval(*s.conditions[k], sc))) return exec_body(s.bodies[k], sc, out);
                if (s.bodies.size() > s.conditions.size()) exec_body(s.bodies.back(), sc, out);
                return;
            case stmt::op::for_: return exec_for(s, sc, out);
            case stmt::op::set: {
                value v = eval(*s.e, sc);
                if (s.attr.empty()) return assign(sc, s.name, std::move(v));
                value* ns = find(sc, s.name);
                if (!ns || ns->k != value::kind::namespace_)
                    fail(s.line, "can only assign attributes of a namespace(), and '" + s.name + "' is not one");
                if (s.attr.front() == '_') fail(s.line, "namespace attributes must not start with '_'");
                for (auto& [key, old] : *ns->fields)
                    if (key == s.attr) {
                        old = std::move(v);
                        return;
                    }
                ns->fields->emplace_back(s.attr, std::move(v));
                return;
            }
            case stmt::op::macro: {
                value m;
                m.k = value::kind::macro;
                m.macro = &s;
                return assign(sc, s.name, std::move(m));
            }
        }
    }

    void exec_for(const stmt& s, scope& sc, std::string& out) {
        const value seq = eval(*s.e, sc);
        std::vector<value> elems;
        if (seq.k == value::kind::list) {
            elems = *seq.items;
        } else if (seq.k == value::kind::dict) {
            for (const auto& [key, v] : *seq.fields) elems.push_back(value::string(key));
        } else if (seq.k != value::kind::undefined) {
            fail(s.line, "cannot iterate over " + type_name(seq));
        }
        check_items(s.line, elems.size());
        const auto n = static_cast<std::int64_t>(elems.size());
        for (std::int64_t k = 0; k < n; ++k) {
            charge(s.line, 1);
            const auto uk = static_cast<std::size_t>(k);
            value::fields_type loop{{"index0", value::integer(k)},       {"index", value::integer(k + 1)},
                                    {"first", value::boolean(k == 0)},   {"last", value::boolean(k == n - 1)},
                                    {"length", value::integer(n)},       {"revindex", value::integer(n - k)},
                                    {"revindex0", value::integer(n - k - 1)}};
            if (k > 0) loop.emplace_back("previtem", elems[uk - 1]);
            if (k < n - 1) loop.emplace_back("nextitem", elems[uk + 1]);
            // Each iteration is its own scope: Jinja2's `set` inside a loop does not leak out of it.
            value::fields_type vars{{"loop", value::dict(std::move(loop))}};
            if (s.params.size() == 1) {
                vars.emplace_back(s.params[0], elems[uk]);
            } else {
                const value& e = elems[uk];
                if (e.k != value::kind::list || e.items->size() != s.params.size())
                    fail(s.line, "cannot unpack " + type_name(e) + " into " + std::to_string(s.params.size()) + " loop variables");
                for (std::size_t t = 0; t < s.params.size(); ++t) vars.emplace_back(s.params[t], (*e.items)[t]);
            }
            scope inner{&vars, &sc};
            exec_body(s.bodies[0], inner, out);
        }
    }

    // ---- expressions

    std::string type_name(const value& v) {
        switch (v.k) {
            case value::kind::undefined: return "an undefined value";
            case value::kind::none: return "none";
            case value::kind::boolean: return "a boolean";
            case value::kind::integer: return "an integer";
            case value::kind::floating: return "a float";
            case value::kind::string: return "a string";
            case value::kind::list: return "a list";
            case value::kind::dict: return "a dict";
            case value::kind::namespace_: return "a namespace";
            case value::kind::macro: return "a macro";
            case value::kind::builtin: return "a builtin function";
        }
        return "a value";
    }

    bool truthy(const value& v) {
        switch (v.k) {
            case value::kind::undefined:
            case value::kind::none: return false;
            case value::kind::boolean: return v.b;
            case value::kind::integer: return v.i != 0;
            case value::kind::floating: return v.f != 0;
            case value::kind::string: return !v.s.empty();
            case value::kind::list: return !v.items->empty();
            case value::kind::dict: return !v.fields->empty();
            case value::kind::namespace_:
            case value::kind::macro:
            case value::kind::builtin: return true;
        }
        return false;
    }

    // Python's str() for the scalar kinds; containers are refused rather than mimicking Python's repr().
    std::string to_output(const value& v, int line) {
        switch (v.k) {
            case value::kind::undefined: return "";
            case value::kind::none: return "None";
            case value::kind::boolean: return v.b ? "True" : "False";
            case value::kind::integer: return std::to_string(v.i);
            case value::kind::floating: return detail::python_float(v.f);
            case value::kind::string: return v.s;
            default: fail(line, "printing " + type_name(v) + " is not supported");
        }
    }

    // transformers' tojson filter: json.dumps(x, ensure_ascii=False), separators ", " and ": ", keys in order.
    void to_json(std::string& out, const value& v, int line, int depth = 0) {
        if (depth > max_nesting) fail(line, "tojson: nesting deeper than " + std::to_string(max_nesting));
        check_size(line, out.size());
        switch (v.k) {
            case value::kind::none: out += "null"; return;
            case value::kind::boolean: out += v.b ? "true" : "false"; return;
            case value::kind::integer: out += std::to_string(v.i); return;
            case value::kind::floating:
                if (std::isnan(v.f)) out += "NaN";
                else if (std::isinf(v.f)) out += v.f < 0 ? "-Infinity" : "Infinity";
                else out += detail::python_float(v.f);
                return;
            case value::kind::string: detail::json_string(out, v.s); return;
            case value::kind::list:
                out += '[';
                for (std::size_t k = 0; k < v.items->size(); ++k) {
                    if (k > 0) out += ", ";
                    to_json(out, (*v.items)[k], line, depth + 1);
                }
                out += ']';
                return;
            case value::kind::dict: {
                out += '{';
                bool first = true;
                for (const auto& [key, item] : *v.fields) {
                    if (!first) out += ", ";
                    first = false;
                    detail::json_string(out, key);
                    out += ": ";
                    to_json(out, item, line, depth + 1);
                }
                out += '}';
                return;
            }
            default: fail(line, "tojson of " + type_name(v) + " is not supported");
        }
    }

    static bool equal(const value& a, const value& b) {
        const bool an = a.k == value::kind::integer || a.k == value::kind::boolean;
        const bool bn = b.k == value::kind::integer || b.k == value::kind::boolean;
        if (an && bn) return (a.k == value::kind::boolean ? a.b : a.i) == (b.k == value::kind::boolean ? b.b : b.i);
        if ((an || a.k == value::kind::floating) && (bn || b.k == value::kind::floating)) {
            const auto as_double = [](const value& v) { return v.k == value::kind::floating ? v.f : static_cast<double>(v.k == value::kind::boolean ? v.b : v.i); };
            return as_double(a) == as_double(b);
        }
        if (a.k != b.k) return false;
        switch (a.k) {
            case value::kind::undefined:
            case value::kind::none: return true;
            case value::kind::string: return a.s == b.s;
            case value::kind::list:
                return a.items->size() == b.items->size() && std::equal(a.items->begin(), a.items->end(), b.items->begin(), equal);
            case value::kind::dict:
                if (a.fields->size() != b.fields->size()) return false;
                for (const auto& [key, v] : *a.fields) {
                    const value* o = b.field(key);
                    if (!o || !equal(v, *o)) return false;
                }
                return true;
            default: return a.fields == b.fields && a.macro == b.macro && a.s == b.s;  // identity
        }
    }

    bool contains(const value& hay, const value& needle, int line) {
        switch (hay.k) {
            case value::kind::undefined: return false;  // Undefined iterates as empty
            case value::kind::string:
                if (needle.k != value::kind::string) fail(line, "'in <string>' needs a string on the left");
                return hay.s.find(needle.s) != std::string::npos;
            case value::kind::list:
                return std::any_of(hay.items->begin(), hay.items->end(), [&](const value& v) { return equal(v, needle); });
            case value::kind::dict: return needle.k == value::kind::string && hay.field(needle.s) != nullptr;
            default: fail(line, "'in' is not supported on " + type_name(hay));
        }
    }

    std::int64_t to_int(const value& v, int line, std::string_view what) {
        if (v.k == value::kind::integer) return v.i;
        if (v.k == value::kind::boolean) return v.b ? 1 : 0;
        fail(line, std::string(what) + " needs integers, got " + type_name(v));
    }

    value arithmetic(const std::string& op, const value& a, const value& b, int line) {
        if (op == "+" && a.k == value::kind::string && b.k == value::kind::string) {
            check_size(line, a.s.size() + b.s.size());
            return value::string(a.s + b.s);
        }
        if (op == "+" && a.k == value::kind::list && b.k == value::kind::list) {
            check_items(line, a.items->size() + b.items->size());
            value::list_type r = *a.items;
            r.insert(r.end(), b.items->begin(), b.items->end());
            return value::list(std::move(r));
        }
        const std::int64_t x = to_int(a, line, "'" + op + "'"), y = to_int(b, line, "'" + op + "'");
        std::int64_t r = 0;
        bool overflow = false;
        if (op == "+") overflow = __builtin_add_overflow(x, y, &r);
        else if (op == "-") overflow = __builtin_sub_overflow(x, y, &r);
        else if (op == "*") overflow = __builtin_mul_overflow(x, y, &r);
        else {
            if (y == 0) fail(line, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) overflow = true;
            else {
                // Python floors: the quotient rounds towards -inf and the remainder takes the divisor's sign.
                std::int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) --q, m += y;
                r = op == "//" ? q : m;
            }
        }
        if (overflow) fail(line, "integer overflow in '" + op + "'");
        return value::integer(r);
    }

    bool less(const value& a, const value& b, int line) {
        if (a.k == value::kind::string && b.k == value::kind::string) return a.s < b.s;  // UTF-8 order = code point order
        return to_int(a, line, "ordering comparison") < to_int(b, line, "ordering comparison");
    }

    value eval(const expr& e, scope& sc) {
        charge(e.line, 1);
        switch (e.o) {
            case expr::op::literal: return e.lit;
            case expr::op::name: {
                if (const value* v = find(sc, e.name)) return *v;
                if (e.name == "namespace" || e.name == "raise_exception") {
                    value f = value::string(e.name);
                    f.k = value::kind::builtin;
                    return f;
                }
                fail(e.line, "the template uses the variable '" + e.name + "', which vlgraph does not provide");
            }
            case expr::op::attr: return get_attr(eval(*e.args[0], sc), e.name, e.line);
            case expr::op::item: return get_item(eval(*e.args[0], sc), eval(*e.args[1], sc), e.line);
            case expr::op::slice: return slice(e, sc);
            case expr::op::call: return call(e, sc);
            case expr::op::filter: return filter(e, sc);
            case expr::op::test: return value::boolean(test(e, sc) != e.negated);
            case expr::op::not_: return value::boolean(!truthy(eval(*e.args[0], sc)));
            case expr::op::neg: return arithmetic("-", value::integer(0), eval(*e.args[0], sc), e.line);
            case expr::op::and_: {
                value l = eval(*e.args[0], sc);
                return truthy(l) ? eval(*e.args[1], sc) : l;
            }
            case expr::op::or_: {
                value l = eval(*e.args[0], sc);
                return truthy(l) ? l : eval(*e.args[1], sc);
            }
            case expr::op::cond:
                if (truthy(eval(*e.args[1], sc))) return eval(*e.args[0], sc);
                return e.args[2] ? eval(*e.args[2], sc) : value{};
            case expr::op::list: {
                value::list_type items;
                check_items(e.line, e.args.size());
                for (const auto& a : e.args) items.push_back(eval(*a, sc));
                return value::list(std::move(items));
            }
            case expr::op::binary: return binary(e, sc);
        }
        fail(e.line, "unknown expression");
    }

    value binary(const expr& e, scope& sc) {
        const value a = eval(*e.args[0], sc), b = eval(*e.args[1], sc);
        const std::string& op = e.name;
        if (op == "==") return value::boolean(equal(a, b));
        if (op == "!=") return value::boolean(!equal(a, b));
        if (op == "in") return value::boolean(contains(b, a, e.line));
        if (op == "not in") return value::boolean(!contains(b, a, e.line));
        if (op == "~") {
            std::string s = to_output(a, e.line);
            check_size(e.line, s.size() + to_output(b, e.line).size());
            return value::string(s + to_output(b, e.line));
        }
        if (op == "<") return value::boolean(less(a, b, e.line));
        if (op == ">") return value::boolean(less(b, a, e.line));
        if (op == "<=") return value::boolean(!less(b, a, e.line));
        if (op == ">=") return value::boolean(!less(a, b, e.line));
        if (a.k == value::kind::undefined || b.k == value::kind::undefined) fail(e.line, "'" + op + "' on an undefined value");
        return arithmetic(op, a, b, e.line);
    }

    // Jinja2's sandboxed getattr on plain data: `x.name` is a dict key, a namespace or loop attribute, or
    // undefined when missing (also on none). Python attributes of the other kinds, and the methods of dicts
    // (which Jinja2 would return instead of a key of the same name), are refused; string methods are reachable
    // only through a call (see call()).
    value get_attr(const value& obj, const std::string& name, int line) {
        static constexpr std::array<std::string_view, 11> dict_methods{"items", "keys", "values", "get", "pop", "popitem", "update", "copy", "clear", "setdefault", "fromkeys"};
        if (name.front() == '_') fail(line, "access to the attribute '" + name + "' is unsafe and refused");
        if (obj.k == value::kind::none) return value{};
        if (obj.k != value::kind::dict && obj.k != value::kind::namespace_)
            fail(line, "the attribute '" + name + "' of " + type_name(obj) + " is not supported");
        if (obj.k == value::kind::dict && std::find(dict_methods.begin(), dict_methods.end(), name) != dict_methods.end())
            fail(line, "the dict method '" + name + "' is not supported");
        if (const value* v = obj.field(name)) return *v;
        return value{};
    }

    value get_item(const value& obj, const value& key, int line) {
        if (obj.k == value::kind::undefined) fail(line, "subscript of an undefined value");
        if (key.k == value::kind::string) {
            if (obj.k != value::kind::dict && obj.k != value::kind::namespace_) fail(line, "a string key on " + type_name(obj));
            const value* v = obj.field(key.s);
            return v ? *v : value{};
        }
        if (obj.k != value::kind::list && obj.k != value::kind::string) fail(line, "indexing " + type_name(obj) + " is not supported");
        const std::int64_t k = to_int(key, line, "an index");
        if (obj.k == value::kind::list) {
            const auto n = static_cast<std::int64_t>(obj.items->size());
            const std::int64_t idx = k < 0 ? k + n : k;
            // Jinja2 turns a failed lookup into undefined rather than raising.
            return idx < 0 || idx >= n ? value{} : (*obj.items)[static_cast<std::size_t>(idx)];
        }
        const auto off = detail::code_point_offsets(obj.s);
        const auto n = static_cast<std::int64_t>(off.size()) - 1;
        const std::int64_t idx = k < 0 ? k + n : k;
        if (idx < 0 || idx >= n) return value{};
        const auto u = static_cast<std::size_t>(idx);
        return value::string(obj.s.substr(off[u], off[u + 1] - off[u]));
    }

    value slice(const expr& e, scope& sc) {
        const value obj = eval(*e.args[0], sc);
        std::array<std::int64_t, 3> part{};
        std::array<bool, 3> given{};
        for (std::size_t k = 0; k < 3; ++k)
            if (e.args[k + 1]) {
                const value v = eval(*e.args[k + 1], sc);
                given[k] = v.k != value::kind::none;
                if (given[k]) part[k] = to_int(v, e.line, "a slice");
            }
        const std::int64_t step = given[2] ? part[2] : 1;
        if (step == 0) fail(e.line, "slice step cannot be zero");
        std::vector<std::size_t> off;
        std::int64_t n = 0;
        if (obj.k == value::kind::list) n = static_cast<std::int64_t>(obj.items->size());
        else if (obj.k == value::kind::string) off = detail::code_point_offsets(obj.s), n = static_cast<std::int64_t>(off.size()) - 1;
        else fail(e.line, "slicing " + type_name(obj) + " is not supported");
        // Python's slice.indices(n).
        const auto clamp = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
            if (v < 0) v += n;
            return std::clamp(v, lo, hi);
        };
        const std::int64_t start = given[0] ? clamp(part[0], step < 0 ? -1 : 0, step < 0 ? n - 1 : n) : (step < 0 ? n - 1 : 0);
        const std::int64_t stop = given[1] ? clamp(part[1], step < 0 ? -1 : 0, step < 0 ? n - 1 : n) : (step < 0 ? -1 : n);
        value::list_type items;
        std::string s;
        for (std::int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
            charge(e.line, 1);
            const auto u = static_cast<std::size_t>(k);
            if (obj.k == value::kind::list) items.push_back((*obj.items)[u]);
            else s.append(obj.s, off[u], off[u + 1] - off[u]);
        }
        return obj.k == value::kind::list ? value::list(std::move(items)) : value::string(std::move(s));
    }

    // ---- calls: macros, builtins, string methods

    value call(const expr& e, scope& sc) {
        const expr& callee = *e.args[0];
        std::vector<value> args;
        for (std::size_t k = 1; k < e.args.size(); ++k) args.push_back(eval(*e.args[k], sc));
        const std::size_t npos = args.size() - e.keywords.size();
        if (callee.o == expr::op::attr) {
            const value obj = eval(*callee.args[0], sc);
            if (obj.k == value::kind::string) {
                if (!e.keywords.empty()) fail(e.line, "keyword arguments to string methods are not supported");
                return string_method(obj.s, callee.name, args, e.line);
            }
            fail(e.line, "calling the method '" + callee.name + "' of " + type_name(obj) + " is not supported");
        }
        const value f = eval(callee, sc);
        if (f.k == value::kind::macro) return call_macro(*f.macro, args, e, sc);
        if (f.k != value::kind::builtin) fail(e.line, "calling " + type_name(f) + " is not supported");
        if (f.s == "namespace") {
            if (npos != 0) fail(e.line, "namespace() takes keyword arguments only");
            value ns = value::dict({});
            ns.k = value::kind::namespace_;
            for (std::size_t k = 0; k < e.keywords.size(); ++k) ns.fields->emplace_back(e.keywords[k], args[npos + k]);
            return ns;
        }
        if (args.size() != 1 || !e.keywords.empty() || args[0].k != value::kind::string)
            fail(e.line, "raise_exception() takes one string");
        throw vl::error("chat template raised an exception: " + args[0].s);
    }

    value call_macro(const stmt& m, std::vector<value>& args, const expr& e, scope& sc) {
        const std::size_t npos = args.size() - e.keywords.size();
        if (npos > m.params.size()) fail(e.line, "macro '" + m.name + "' takes at most " + std::to_string(m.params.size()) + " arguments");
        std::vector<std::pair<std::string, value>> vars;
        std::vector<bool> bound(m.params.size(), false);
        for (std::size_t k = 0; k < npos; ++k) vars.emplace_back(m.params[k], std::move(args[k])), bound[k] = true;
        for (std::size_t k = 0; k < e.keywords.size(); ++k) {
            const auto it = std::find(m.params.begin(), m.params.end(), e.keywords[k]);
            if (it == m.params.end()) fail(e.line, "macro '" + m.name + "' has no parameter '" + e.keywords[k] + "'");
            const auto idx = static_cast<std::size_t>(it - m.params.begin());
            if (bound[idx]) fail(e.line, "macro '" + m.name + "' got '" + e.keywords[k] + "' twice");
            vars.emplace_back(e.keywords[k], std::move(args[npos + k]));
            bound[idx] = true;
        }
        // Macros see the template's top-level variables, not the caller's locals.
        scope* top = &sc;
        while (top->parent) top = top->parent;
        scope inner{nullptr, top};
        value::fields_type locals;
        inner.vars = &locals;
        for (std::size_t k = 0; k < m.params.size(); ++k) {
            if (bound[k]) continue;
            // A missing argument without a default is undefined, as in Jinja2.
            vars.emplace_back(m.params[k], m.defaults[k] ? eval(*m.defaults[k], inner) : value{});
        }
        locals = std::move(vars);
        if (++call_depth_ > max_call_depth) fail(e.line, "macro calls nested deeper than " + std::to_string(max_call_depth));
        std::string out;
        exec_body(m.bodies[0], inner, out);
        --call_depth_;
        return value::string(std::move(out));
    }

    value string_method(const std::string& s, const std::string& name, const std::vector<value>& args, int line) {
        const auto want = [&](std::size_t lo, std::size_t hi) {
            if (args.size() < lo || args.size() > hi) fail(line, "wrong number of arguments to str." + name + "()");
            for (const value& a : args)
                if (a.k != value::kind::string && a.k != value::kind::none) fail(line, "str." + name + "() takes string arguments");
        };
        if (name == "startswith" || name == "endswith") {
            want(1, 1);
            if (args[0].k != value::kind::string) fail(line, "str." + name + "() takes a string");
            const std::string& a = args[0].s;
            const bool r = a.size() <= s.size() && (name == "startswith" ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0);
            return value::boolean(r);
        }
        if (name == "strip" || name == "lstrip" || name == "rstrip") {
            want(0, 1);
            const std::string* chars = args.empty() || args[0].k == value::kind::none ? nullptr : &args[0].s;
            return value::string(detail::py_strip(s, chars, name != "rstrip", name != "lstrip"));
        }
        if (name == "split") {
            want(1, 1);
            if (args[0].k != value::kind::string) fail(line, "str.split() without a separator is not supported");
            const std::string& sep = args[0].s;
            if (sep.empty()) fail(line, "str.split(): empty separator");
            value::list_type parts;
            std::size_t from = 0;
            for (std::size_t at; (at = s.find(sep, from)) != std::string::npos; from = at + sep.size()) parts.push_back(value::string(s.substr(from, at - from)));
            parts.push_back(value::string(s.substr(from)));
            check_items(line, parts.size());
            return value::list(std::move(parts));
        }
        fail(line, "the string method '" + name + "' is not supported");
    }

    value filter(const expr& e, scope& sc) {
        const value v = eval(*e.args[0], sc);
        if (e.args.size() != 1) fail(e.line, "arguments to the filter '" + e.name + "' are not supported");
        if (e.name == "trim") {
            if (v.k != value::kind::string && v.k != value::kind::undefined) fail(e.line, "trim of " + type_name(v) + " is not supported");
            return value::string(detail::py_strip(v.s, nullptr, true, true));
        }
        if (e.name == "tojson") {
            std::string out;
            to_json(out, v, e.line);
            return value::string(std::move(out));
        }
        if (e.name == "string") return v.k == value::kind::string ? v : value::string(to_output(v, e.line));
        if (e.name == "safe") return v;  // autoescape is off: markup and text are the same
        if (e.name == "items") {
            if (v.k == value::kind::undefined) return value::list({});
            if (v.k != value::kind::dict) fail(e.line, "items of " + type_name(v) + " (a mapping is needed)");
            value::list_type pairs;
            for (const auto& [key, item] : *v.fields) pairs.push_back(value::list({value::string(key), item}));
            check_items(e.line, pairs.size());
            return value::list(std::move(pairs));
        }
        if (e.name == "length" || e.name == "count") {
            switch (v.k) {
                case value::kind::undefined: return value::integer(0);
                case value::kind::string: return value::integer(static_cast<std::int64_t>(detail::code_point_offsets(v.s).size()) - 1);
                case value::kind::list: return value::integer(static_cast<std::int64_t>(v.items->size()));
                case value::kind::dict: return value::integer(static_cast<std::int64_t>(v.fields->size()));
                default: fail(e.line, "length of " + type_name(v) + " is not supported");
            }
        }
        fail(e.line, "the filter '" + e.name + "' is not supported");
    }

    bool test(const expr& e, scope& sc) {
        const value v = eval(*e.args[0], sc);
        const std::string& t = e.name;
        using k = value::kind;
        if (t == "defined") return v.k != k::undefined;
        if (t == "undefined") return v.k == k::undefined;
        if (t == "none") return v.k == k::none;
        if (t == "string") return v.k == k::string;
        if (t == "number") return v.k == k::integer || v.k == k::floating || v.k == k::boolean;  // Python's bool is a Number
        if (t == "true") return v.k == k::boolean && v.b;
        if (t == "false") return v.k == k::boolean && !v.b;
        if (t == "mapping") return v.k == k::dict;
        // Jinja2's Undefined defines __iter__, so it is iterable (and iterates as empty).
        if (t == "iterable") return v.k == k::undefined || v.k == k::string || v.k == k::list || v.k == k::dict;
        if (t == "sequence") return v.k == k::string || v.k == k::list || v.k == k::dict;
        fail(e.line, "the test '" + t + "' is not supported");
    }
};

}  // namespace vl::qwen36::jinja
