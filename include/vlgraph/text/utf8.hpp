// vlgraph/text/utf8.hpp — UTF-8 validation, lossy decoding and NFC normalisation.
//
// Validation and lossy decoding follow the Unicode standard's definition of well-formed UTF-8 (table 3-7:
// no overlong forms, no surrogates, nothing above U+10FFFF). Lossy decoding replaces each *maximal subpart*
// of an ill-formed sequence by one U+FFFD, which is what Rust's String::from_utf8_lossy (and so HF
// `tokenizers`' decoders) and Python's bytes.decode("utf-8", "replace") do. Normalisation uses utf8proc, so
// no Unicode table is kept here.
#pragma once

#include <vlgraph/error.hpp>

#include <utf8proc.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace vl::text {

// Text that is not well-formed UTF-8. `offset` is the byte offset of the first ill-formed sequence.
struct utf8_error : error {
    utf8_error(const std::string& what, std::size_t byte_offset) : error(what), offset(byte_offset) {}
    std::size_t offset;
};

namespace utf8 {

// What the bytes at the start of a buffer hold.
enum class unit : std::uint8_t {
    valid,       // a complete well-formed sequence of `length` bytes
    invalid,     // an ill-formed maximal subpart of `length` bytes (replaced by one U+FFFD)
    incomplete,  // the buffer ends inside a sequence that could still become well-formed
};

struct sequence {
    unit kind;
    std::size_t length;
};

// Classifies the sequence starting at p[0] (n > 0). The ranges of the second byte are those of
// table 3-7 of the Unicode standard; they exclude overlong forms, surrogates and code points > U+10FFFF.
inline sequence inspect(const unsigned char* p, std::size_t n) {
    const unsigned char b0 = p[0];
    if (b0 < 0x80) return {unit::valid, 1};
    std::size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return {unit::invalid, 1};
    }
    for (std::size_t i = 1; i < need; ++i) {
        if (i >= n) return {unit::incomplete, i};
        if (p[i] < lo || p[i] > hi) return {unit::invalid, i};
        lo = 0x80;
        hi = 0xBF;
    }
    return {unit::valid, need};
}

// Byte offset of the first ill-formed (or truncated) sequence, or npos when `s` is well-formed.
inline std::size_t find_invalid(std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    std::size_t i = 0;
    while (i < s.size()) {
        if (p[i] < 0x80) {
            ++i;
            continue;
        }
        const sequence q = inspect(p + i, s.size() - i);
        if (q.kind != unit::valid) return i;
        i += q.length;
    }
    return std::string_view::npos;
}

// Throws utf8_error naming `what` and the offset when `s` is not well-formed UTF-8.
inline void require_valid(std::string_view s, std::string_view what) {
    const std::size_t at = find_invalid(s);
    if (at == std::string_view::npos) return;
    static constexpr char hex[] = "0123456789ABCDEF";
    const auto byte = static_cast<unsigned char>(s[at]);
    throw utf8_error(std::string(what) + " is not valid UTF-8: ill-formed or truncated sequence at byte " + std::to_string(at) +
                         " (0x" + hex[byte >> 4] + hex[byte & 15] + ")",
                     at);
}

inline constexpr std::string_view replacement_character = "\xEF\xBF\xBD";  // U+FFFD

// Appends the lossy decoding of `bytes` to `out` and returns how many bytes were consumed. With
// `final` false a trailing incomplete sequence is left unconsumed (the caller keeps it for more bytes);
// with `final` true it becomes one U+FFFD.
inline std::size_t append_lossy(std::string& out, std::string_view bytes, bool final) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t i = 0;
    while (i < bytes.size()) {
        std::size_t run = i;  // copy well-formed runs in one go
        sequence q{unit::valid, 0};
        while (run < bytes.size() && (q = inspect(p + run, bytes.size() - run)).kind == unit::valid) run += q.length;
        out.append(bytes.substr(i, run - i));
        i = run;
        if (i == bytes.size()) break;
        if (q.kind == unit::incomplete && !final) return i;
        out.append(replacement_character);
        i += q.length;
    }
    return i;
}

// NFC of well-formed UTF-8 `s` (utf8proc: canonical decomposition, reordering, canonical composition).
// ASCII text is its own NFC, which spares utf8proc most of the input in practice.
inline std::string nfc(std::string_view s) {
    bool ascii = true;
    for (const char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
    if (ascii) return std::string(s);
    utf8proc_uint8_t* raw = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                                            &raw, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(raw, &std::free);
    if (n < 0) throw error(std::string("NFC normalisation failed: ") + utf8proc_errmsg(n));
    return std::string(reinterpret_cast<const char*>(raw), static_cast<std::size_t>(n));
}

}  // namespace utf8
}  // namespace vl::text
