// vlgraph/text/regex.hpp — a small RAII wrapper over PCRE2 (8-bit, UTF + Unicode properties).
//
// Tokenizer patterns come from tokenizer.json files, where HF `tokenizers` runs them with Oniguruma.
// PCRE2 in UTF + UCP mode reads the constructs those patterns use (\p{..}, \s, (?i:..), lookahead)
// the same way, and uses Unicode data, not ASCII rules, for \s, \w, \d and case folding.
#pragma once

#include <vlgraph/error.hpp>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>

namespace vl::text {

// A compiled pattern; immutable, so one regex may be matched from several threads, each with its own
// match_data. The explicit _8 names keep this working whatever PCRE2_CODE_UNIT_WIDTH an includer chose.
class regex {
public:
    struct match {
        std::size_t begin, end;
    };
    struct options {
        bool literal = false;  // the pattern is a plain string, not a regex
    };

    // Throws vl::format_error "<what>: ..." with PCRE2's message and the offset when `pattern` does not compile.
    regex(std::string_view pattern, std::string_view what, options opt) : what_(what) {
        // UTF: code points, not bytes. UCP: \s, \w, \d and POSIX classes by Unicode property. MULTILINE: ^ and $
        // at line breaks, like Oniguruma's default (Ruby) syntax that HF compiles tokenizer patterns with.
        std::uint32_t flags = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE;
        if (opt.literal) flags = PCRE2_UTF | PCRE2_LITERAL;
        const std::string translated = opt.literal ? std::string(pattern) : from_oniguruma(pattern);
        int code = 0;
        PCRE2_SIZE offset = 0;
        code_.reset(pcre2_compile_8(reinterpret_cast<PCRE2_SPTR8>(translated.data()), translated.size(), flags, &code, &offset, nullptr));
        if (!code_) throw format_error(std::string(what) + ": cannot compile regex at offset " + std::to_string(offset) + ": " + message(code));
        // JIT is an optional speed-up: when the library was built without it, the interpreter runs instead.
        (void)pcre2_jit_compile_8(code_.get(), PCRE2_JIT_COMPLETE);
    }

    // Per-thread scratch space for matching.
    class match_data {
    public:
        explicit match_data(const regex& re) : data_(pcre2_match_data_create_from_pattern_8(re.code_.get(), nullptr)) {
            if (!data_) throw std::bad_alloc();
        }

    private:
        friend class regex;
        struct free_data {
            void operator()(pcre2_match_data_8* d) const { pcre2_match_data_free_8(d); }
        };
        std::unique_ptr<pcre2_match_data_8, free_data> data_;
    };

    // The leftmost match in `subject` starting at or after byte `start` (a code point boundary), or with
    // `anchored` only one starting exactly there. The subject must be well-formed UTF-8 (callers validate
    // once; PCRE2's own check would rescan the whole subject on every call). Throws vl::error when PCRE2
    // gives up (match or memory limits).
    std::optional<match> search(std::string_view subject, std::size_t start, match_data& md, bool anchored = false) const {
        const std::uint32_t flags = PCRE2_NO_UTF_CHECK | (anchored ? PCRE2_ANCHORED : 0u);
        const int rc = pcre2_match_8(code_.get(), reinterpret_cast<PCRE2_SPTR8>(subject.data()), subject.size(), start, flags,
                                     md.data_.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) return std::nullopt;
        // A pattern that backtracks catastrophically (e.g. (a+)+$ from a hostile tokenizer.json) hits PCRE2's
        // match limit: refused, naming the pattern's file and field.
        if (rc < 0) throw error(what_ + ": regex match failed on " + std::to_string(subject.size()) + " bytes of input: " + message(rc));
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer_8(md.data_.get());
        return match{ov[0], ov[1]};
    }

private:
    // Oniguruma's \s is exactly Unicode White_Space; PCRE2's (UCP) \s also takes U+180E MONGOLIAN VOWEL
    // SEPARATOR, a format character since Unicode 6.3. Spelling \s and \S as the property keeps the two
    // engines in step; every other escape means the same in both and is copied. (Offsets in compile errors
    // refer to this translation, which only differs from the file where \s or \S occur.)
    static std::string from_oniguruma(std::string_view pattern) {
        std::string out;
        out.reserve(pattern.size() + 32);
        for (std::size_t i = 0; i < pattern.size(); ++i) {
            if (pattern[i] != '\\' || i + 1 == pattern.size()) {
                out += pattern[i];
                continue;
            }
            const char next = pattern[++i];
            if (next == 's') {
                out += "\\p{White_Space}";
            } else if (next == 'S') {
                out += "\\P{White_Space}";
            } else {
                out += '\\';
                out += next;
            }
        }
        return out;
    }
    static std::string message(int code) {
        PCRE2_UCHAR8 buffer[256];
        const int n = pcre2_get_error_message_8(code, buffer, sizeof buffer);
        return n < 0 ? "PCRE2 error " + std::to_string(code) : std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
    }
    struct free_code {
        void operator()(pcre2_code_8* c) const { pcre2_code_free_8(c); }
    };
    std::unique_ptr<pcre2_code_8, free_code> code_;
    std::string what_;  // where the pattern comes from, for messages
};

}  // namespace vl::text
