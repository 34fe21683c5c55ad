// vlgraph/text/jinja/lexer.hpp — the lexer (see jinja.hpp for semantics, strictness and bounds).
#pragma once

#include <vlgraph/text/jinja/value.hpp>

namespace vl::text::jinja {

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

}  // namespace vl::text::jinja
