// vlgraph/image/data_url.hpp — strict `data:` URL and base64 decoding (and the matching encoder), and recognising URLs at all.
//
// Accepted:  data:image/<png|jpeg|jpg|gif|bmp|webp>;base64,<standard base64 with '=' padding>
// The scheme and MIME type are case-insensitive (RFC 2397 / RFC 2045); nothing else is tolerated:
// no other MIME type, no parameters (";charset=..."), no missing ";base64", no whitespace or
// URL-safe alphabet in the payload, no missing or misplaced padding, no non-zero bits after the last
// encoded byte (so every payload has exactly one accepted spelling). Errors are vl::format_error and
// say which rule failed and at which payload offset.
//
// The decoded size is bounded *before* decoding (from the encoded length), so an oversized payload
// costs no allocation.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/image.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vl::image {

struct data_url {
    std::string mime;  // lower-cased, e.g. "image/png"
    std::vector<std::uint8_t> bytes;
};

namespace detail {

inline char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

inline bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// The first `max` characters of s, printable: untrusted text in an error message must not carry
// control bytes or megabytes of payload into logs.
inline std::string excerpt(std::string_view s, std::size_t max = 40) {
    std::string out;
    for (char c : s.substr(0, max)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (s.size() > max) out += "...";
    return out;
}

// Value of a base64 alphabet character, or -1.
inline int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace detail

// RFC 4648 §4 base64 of `bytes` (standard alphabet, padded): the one spelling base64_decode accepts, e.g.
// to build "data:image/png;base64," + base64_encode(png).
inline std::string base64_encode(std::span<const std::uint8_t> bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::uint32_t v = std::uint32_t{bytes[i]} << 16 | (i + 1 < bytes.size() ? std::uint32_t{bytes[i + 1]} << 8 : 0u) |
                                (i + 2 < bytes.size() ? std::uint32_t{bytes[i + 2]} : 0u);
        out += alphabet[v >> 18 & 63];
        out += alphabet[v >> 12 & 63];
        out += i + 1 < bytes.size() ? alphabet[v >> 6 & 63] : '=';
        out += i + 2 < bytes.size() ? alphabet[v & 63] : '=';
    }
    return out;
}

// Strict RFC 4648 §4 base64 (standard alphabet, padded). `what` prefixes error messages.
inline std::vector<std::uint8_t> base64_decode(std::string_view in, std::uint64_t max_bytes,
                                               std::string_view what = "base64") {
    const std::string where(what);
    if (in.empty()) throw format_error(where + ": empty base64 payload");
    if (in.size() % 4 != 0)
        throw format_error(where + ": base64 length " + std::to_string(in.size()) +
                           " is not a multiple of 4 (missing or extra padding)");
    const std::size_t last = in.find_last_not_of('=');
    if (last == std::string_view::npos || in.size() - last - 1 > 2)
        throw format_error(where + ": too much base64 padding");
    const std::size_t pad = in.size() - last - 1;
    const std::uint64_t out_size = in.size() / 4 * 3 - pad;
    if (out_size > max_bytes)
        throw image_limit_error(where + ": decodes to " + std::to_string(out_size) + " bytes, over the limit of " +
                                std::to_string(max_bytes));
    std::vector<std::uint8_t> out;
    out.reserve(static_cast<std::size_t>(out_size));
    const std::size_t data_chars = in.size() - pad;
    std::uint32_t acc = 0;
    for (std::size_t i = 0; i < data_chars; ++i) {
        const int v = detail::base64_value(in[i]);
        if (v < 0) {
            const unsigned char c = static_cast<unsigned char>(in[i]);
            throw format_error(where + ": invalid base64 character " +
                               (c >= 0x20 && c < 0x7f ? "'" + std::string(1, in[i]) + "'" : "byte " + std::to_string(c)) +
                               " at offset " + std::to_string(i) + (in[i] == '=' ? " (padding before the end)" : ""));
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        if (i % 4 == 3) {
            out.push_back(static_cast<std::uint8_t>(acc >> 16));
            out.push_back(static_cast<std::uint8_t>(acc >> 8));
            out.push_back(static_cast<std::uint8_t>(acc));
            acc = 0;
        }
    }
    // The last quantum: 2 chars = 12 bits -> 1 byte (4 spare bits), 3 chars = 18 bits -> 2 bytes (2 spare).
    if (pad == 2) {
        if (acc & 0xF) throw format_error(where + ": non-zero bits after the last byte (non-canonical base64)");
        out.push_back(static_cast<std::uint8_t>(acc >> 4));
    } else if (pad == 1) {
        if (acc & 0x3) throw format_error(where + ": non-zero bits after the last byte (non-canonical base64)");
        out.push_back(static_cast<std::uint8_t>(acc >> 10));
        out.push_back(static_cast<std::uint8_t>(acc >> 2));
    }
    return out;
}

// The MIME types an image data URL may declare. The payload's own magic bytes decide how it is
// decoded (as for files, whose extension is ignored); the MIME type only has to name an image format
// vlgraph decodes.
inline constexpr std::array<std::string_view, 6> data_url_image_types{
    "image/png", "image/jpeg", "image/jpg", "image/gif", "image/bmp", "image/webp"};

// Parses `data:<mime>;base64,<payload>`. `max_bytes` bounds the decoded payload.
inline data_url parse_data_url(std::string_view url, std::uint64_t max_bytes) {
    constexpr std::string_view scheme = "data:";
    if (!detail::istarts_with(url, scheme))
        throw format_error("not a data URL (expected \"data:\"): \"" + detail::excerpt(url) + "\"");
    const std::size_t comma = url.find(',');
    if (comma == std::string_view::npos)
        throw format_error("data URL has no ',' before its payload: \"" + detail::excerpt(url) + "\"");
    const std::string_view header = url.substr(scheme.size(), comma - scheme.size());
    constexpr std::string_view b64 = ";base64";
    if (header.size() < b64.size() || !detail::iequals(header.substr(header.size() - b64.size()), b64))
        throw format_error("data URL is not base64-encoded (\";base64\" must end the header): \"" +
                           detail::excerpt(header) + "\"");
    std::string mime(header.substr(0, header.size() - b64.size()));
    for (char& c : mime) c = detail::ascii_lower(c);
    bool known = false;
    for (std::string_view t : data_url_image_types) known = known || mime == t;
    if (!known)
        throw format_error("data URL media type \"" + detail::excerpt(mime) +
                           "\" is not one of image/png, image/jpeg, image/gif, image/bmp, image/webp");
    // 4 encoded chars per 3 bytes: an encoded length this large cannot decode under the limit.
    const std::string_view payload = url.substr(comma + 1);
    if (payload.size() / 4 > max_bytes / 3 + 1)
        throw image_limit_error("data URL payload of " + std::to_string(payload.size()) +
                                " base64 characters exceeds the limit of " + std::to_string(max_bytes) + " bytes");
    return {std::move(mime), base64_decode(payload, max_bytes, "data URL")};
}

// The scheme of `source` when it looks like a URL ("http", "file", "gopher", ...), else nullopt.
// A scheme is RFC 3986's ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ':'; one letter is
// not taken for a scheme so that Windows drive paths ("C:\x.png") remain paths.
inline std::optional<std::string> url_scheme(std::string_view source) {
    const std::size_t colon = source.find(':');
    if (colon == std::string_view::npos || colon < 2) return std::nullopt;
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(source[0])) return std::nullopt;
    for (std::size_t i = 1; i < colon; ++i) {
        const char c = source[i];
        if (!(alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) return std::nullopt;
    }
    std::string s(source.substr(0, colon));
    for (char& c : s) c = detail::ascii_lower(c);
    return s;
}

}  // namespace vl::image
