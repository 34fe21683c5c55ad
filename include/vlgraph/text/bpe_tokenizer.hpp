// vlgraph/text/bpe_tokenizer.hpp — byte-level BPE tokenizers read from HF `tokenizer.json` files
// (GPT-2 / Qwen style), producing the same ids as HF `tokenizers`.
//
// Supported file (anything else is refused with a vl::format_error naming the field):
//   model          BPE without dropout, byte fallback, continuing-subword prefix or end-of-word suffix;
//                  merges as "a b" strings or ["a", "b"] pairs; ignore_merges honoured
//   normalizer     null, NFC, or a Sequence of NFC
//   pre_tokenizer  Sequence[Split(Regex|String, "Isolated", invert false)..., ByteLevel(add_prefix_space
//                  false, use_regex false)], or that ByteLevel alone
//   post_processor null, ByteLevel, or TemplateProcessing/Sequence that adds no tokens to a single text
//   decoder        ByteLevel
//   added_tokens   content, id, special, single_word, lstrip, rstrip, normalized (HF AddedVocabulary rules)
//
// Encoding follows HF's pipeline: added tokens with normalized=false are cut out of the raw text
// (leftmost-longest match), the rest is normalised, added tokens with normalized=true are cut out of the
// normalised text, each remaining piece is split by the Split patterns (compiled from the file with PCRE2),
// and each split is byte-level BPE'd. No special tokens are added (HF's add_special_tokens has nothing to
// add for this family).
//
// Input text must be well-formed UTF-8: HF's Rust API takes &str and Python's str cannot reach it with
// lone surrogates (they fail UTF-8 encoding), so there is no HF behaviour for ill-formed bytes to copy;
// encode() throws vl::text::utf8_error with the byte offset instead of guessing.
//
// Decoding concatenates the tokens' bytes (ByteLevel: each character of the token maps back to a byte;
// a token with a character outside the byte table contributes its own UTF-8, as in HF) and replaces
// ill-formed UTF-8 with U+FFFD per maximal subpart, like HF. Ids with no token (e.g. the padding rows
// of an lm_head larger than the tokenizer) are skipped, as HF does; negative ids throw.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/io/json.hpp>
#include <vlgraph/text/regex.hpp>
#include <vlgraph/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace vl::text {

// One entry of tokenizer.json "added_tokens", with HF's AddedToken flags.
struct added_token {
    std::string content;
    std::int32_t id = 0;
    bool special = false;      // skipped by decode(skip_special = true)
    bool single_word = false;  // only matches when not inside a word
    bool lstrip = false;       // swallows the whitespace on its left
    bool rstrip = false;       // swallows the whitespace on its right
    bool normalized = true;    // matched in the normalised text instead of the raw text
};

namespace detail {

// GPT-2's byte <-> character table: printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to the code point of
// the same value, the other 68 bytes to U+0100.. in byte order, so every byte is a visible character.
struct byte_level_table {
    std::array<std::string, 256> byte_to_utf8;  // byte -> UTF-8 of its character
    std::array<std::int16_t, 324> char_to_byte;  // code point (< 0x144) -> byte, or -1

    byte_level_table() {
        char_to_byte.fill(-1);
        auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
        int next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const int cp = printable(b) ? b : next++;
            char_to_byte[static_cast<std::size_t>(cp)] = static_cast<std::int16_t>(b);
            std::string& s = byte_to_utf8[static_cast<std::size_t>(b)];
            if (cp < 0x80) {
                s = std::string(1, static_cast<char>(cp));
            } else {
                s = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
            }
        }
    }
};

inline const byte_level_table& byte_level() {
    static const byte_level_table table;
    return table;
}

// The bytes HF's ByteLevel decoder makes of one token string: each character through the table, or the
// token's own UTF-8 when any character is outside it (HF's fallback for added tokens such as "\n\n").
inline std::string byte_level_decode(std::string_view token) {
    const auto& table = byte_level();
    std::string out;
    const auto* p = reinterpret_cast<const unsigned char*>(token.data());
    for (std::size_t i = 0; i < token.size();) {
        std::uint32_t cp;
        std::size_t n;
        if (p[i] < 0x80) {
            cp = p[i];
            n = 1;
        } else if ((p[i] & 0xE0) == 0xC0 && i + 1 < token.size()) {
            cp = ((p[i] & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
            n = 2;
        } else {
            return std::string(token);  // 3- and 4-byte characters are all outside the table
        }
        if (cp >= table.char_to_byte.size() || table.char_to_byte[cp] < 0) return std::string(token);
        out.push_back(static_cast<char>(table.char_to_byte[cp]));
        i += n;
    }
    return out;
}

// Transparent hashing so maps keyed by std::string can be probed with a string_view.
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

// Leftmost-longest, non-overlapping matcher over a set of strings (HF uses an Aho-Corasick automaton in
// LeftmostLongest mode; a byte trie walked from each candidate start gives the same matches).
class literal_matcher {
public:
    void add(std::string_view s, std::int32_t value) {
        std::size_t node = 0;
        for (const char c : s) {
            const auto b = static_cast<unsigned char>(c);
            if (node == 0) first_[b] = true;
            std::int32_t child = find(node, b);
            if (child < 0) {
                child = static_cast<std::int32_t>(nodes_.size());
                nodes_[node].children.emplace_back(b, child);
                nodes_.emplace_back();
            }
            node = static_cast<std::size_t>(child);
        }
        nodes_[node].value = value;
    }
    bool empty() const { return nodes_.size() == 1; }

    struct hit {
        std::size_t begin, end;
        std::int32_t value;
    };
    // The leftmost-longest match starting at or after `from`.
    std::optional<hit> find(std::string_view s, std::size_t from) const {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        for (std::size_t i = from; i < s.size(); ++i) {
            if (!first_[p[i]]) continue;
            std::size_t node = 0;
            std::optional<hit> best;
            for (std::size_t j = i; j < s.size(); ++j) {
                const std::int32_t child = find(node, p[j]);
                if (child < 0) break;
                node = static_cast<std::size_t>(child);
                if (nodes_[node].value >= 0) best = hit{i, j + 1, nodes_[node].value};
            }
            if (best) return best;
        }
        return std::nullopt;
    }

private:
    struct trie_node {
        std::vector<std::pair<unsigned char, std::int32_t>> children;
        std::int32_t value = -1;
    };
    std::int32_t find(std::size_t node, unsigned char b) const {
        for (const auto& [c, child] : nodes_[node].children)
            if (c == b) return child;
        return -1;
    }
    std::vector<trie_node> nodes_ = std::vector<trie_node>(1);
    std::array<bool, 256> first_{};
};

// Field access on tokenizer.json with errors that name the field path.
class json_fields {
public:
    explicit json_fields(std::string source) : source_(std::move(source)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& problem) const {
        throw format_error(source_ + ": " + path + " " + problem);
    }
    const nlohmann::json& object(const nlohmann::json& j, const std::string& path) const {
        if (!j.is_object()) fail(path, "must be an object, got " + std::string(j.type_name()));
        return j;
    }
    // The member `key` of object `j`, or nullptr when absent or null.
    const nlohmann::json* optional(const nlohmann::json& j, std::string_view key) const {
        const auto it = j.find(key);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    }
    const nlohmann::json& required(const nlohmann::json& j, std::string_view key, const std::string& path) const {
        const nlohmann::json* m = optional(j, key);
        if (!m) fail(path + "." + std::string(key), "is missing");
        return *m;
    }
    const std::string& string(const nlohmann::json& j, const std::string& path) const {
        if (!j.is_string()) fail(path, "must be a string, got " + std::string(j.type_name()));
        return j.get_ref<const std::string&>();
    }
    bool boolean(const nlohmann::json& j, std::string_view key, bool fallback, const std::string& path) const {
        const nlohmann::json* m = optional(j, key);
        if (!m) return fallback;
        if (!m->is_boolean()) fail(path + "." + std::string(key), "must be a boolean, got " + std::string(m->type_name()));
        return m->get<bool>();
    }
    std::int64_t integer(const nlohmann::json& j, const std::string& path) const {
        if (!j.is_number_integer()) fail(path, "must be an integer, got " + std::string(j.type_name()) + " " + json_summary(j));
        if (j.is_number_unsigned() && j.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            fail(path, "is out of range: " + json_summary(j));
        return j.get<std::int64_t>();
    }
    const std::string& type(const nlohmann::json& j, const std::string& path) const {
        return string(required(object(j, path), "type", path), path + ".type");
    }
    const std::string& source() const { return source_; }

private:
    std::string source_;
};

// Printable form of a token for error messages (JSON string syntax, truncated).
inline std::string quoted(std::string_view s) {
    std::string q = nlohmann::json(std::string(s.substr(0, 64))).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return s.size() > 64 ? q + "..." : q;
}

}  // namespace detail

class bpe_tokenizer {
public:
    // Largest tokenizer.json from_file reads (real ones are tens of MB).
    static constexpr std::uintmax_t max_file_bytes = std::uintmax_t{1} << 30;
    // Structural bounds of what tokenizer.json may describe (HF's files use 1 Split and 1 nesting level).
    static constexpr std::size_t max_split_steps = 16;
    static constexpr int max_post_processor_nesting = 4;

    // Reads and validates a tokenizer.json. Throws vl::io_error (unreadable) or vl::format_error (not
    // JSON, malformed or unsupported; the message names the field).
    // The file must be a regular file (a FIFO or device is refused without blocking; io/file.hpp).
    static bpe_tokenizer from_file(const std::filesystem::path& file) {
        return from_json_text(read_file_capped(file, max_file_bytes, "a tokenizer.json"), file.string());
    }

    // Parses the text of a tokenizer.json (vlgraph's JSON depth limit, io/json.hpp); `source` names it in
    // error messages.
    static bpe_tokenizer from_json_text(std::string_view text, const std::string& source = "tokenizer.json") {
        return from_json(parse_json(text, source), source);
    }

    static bpe_tokenizer from_json(const nlohmann::json& j, const std::string& source = "tokenizer.json") {
        bpe_tokenizer t;
        const detail::json_fields f(source);
        f.object(j, "top level");
        t.load_model(f, f.required(j, "model", "top level"));
        t.load_normalizer(f, f.optional(j, "normalizer"));
        t.load_pre_tokenizer(f, f.optional(j, "pre_tokenizer"));
        check_post_processor(f, f.optional(j, "post_processor"), "post_processor");
        check_decoder(f, f.optional(j, "decoder"));
        t.load_added_tokens(f, f.optional(j, "added_tokens"));
        t.index_token_bytes();
        return t;
    }

    // Token ids of `text` (well-formed UTF-8, else vl::text::utf8_error). Thread-safe.
    std::vector<std::int32_t> encode(std::string_view text) const {
        utf8::require_valid(text, "tokenizer input");
        std::vector<std::int32_t> ids;
        ids.reserve(text.size() / 3 + 1);
        scratch s(*this);
        for_each_added(text, raw_tokens_, s, [&](std::string_view piece) {
            const std::string normalized = nfc_ ? utf8::nfc(piece) : std::string(piece);
            for_each_added(normalized, normalized_tokens_, s, [&](std::string_view part) { pre_tokenize(part, 0, s, ids); }, ids);
        }, ids);
        return ids;
    }

    // Text of `ids` (see the file comment for unknown ids and ill-formed UTF-8).
    std::string decode(std::span<const std::int32_t> ids, bool skip_special = false) const {
        std::string bytes;
        for (const std::int32_t id : ids) append_bytes(bytes, id, skip_special);
        std::string out;
        utf8::append_lossy(out, bytes, true);
        return out;
    }

    // Turns a stream of ids into text as they arrive, emitting only complete UTF-8 characters, so that a
    // character split over several tokens (emoji, CJK) is printed once whole. The concatenation of every
    // push() and the final finish() equals decode() of all the ids.
    class stream_decoder {
    public:
        explicit stream_decoder(const bpe_tokenizer& tokenizer, bool skip_special = false) : tok_(&tokenizer), skip_special_(skip_special) {}
        // The text completed by `id` (often empty while a multi-byte character is pending).
        std::string push(std::int32_t id) {
            tok_->append_bytes(pending_, id, skip_special_);
            std::string out;
            pending_.erase(0, utf8::append_lossy(out, pending_, false));
            return out;
        }
        // The rest: an unfinished character at the end of the stream becomes U+FFFD.
        std::string finish() {
            std::string out;
            utf8::append_lossy(out, pending_, true);
            pending_.clear();
            return out;
        }

    private:
        const bpe_tokenizer* tok_;
        bool skip_special_;
        std::string pending_;
    };

    // The id of a token string (the vocab's byte-level spelling, e.g. "Ġthe", or an added token's content).
    std::optional<std::int32_t> token_to_id(std::string_view token) const {
        if (const auto it = added_by_content_.find(token); it != added_by_content_.end()) return it->second;
        if (const auto it = vocab_.find(token); it != vocab_.end()) return it->second;
        return std::nullopt;
    }
    // The token string of an id (what HF's id_to_token gives), or nullopt when the id has no token.
    std::optional<std::string_view> id_to_token(std::int32_t id) const {
        if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || kind_[static_cast<std::size_t>(id)] == kind::none) return std::nullopt;
        return std::string_view(tokens_[static_cast<std::size_t>(id)]);
    }
    bool is_special(std::int32_t id) const {
        return id >= 0 && static_cast<std::size_t>(id) < kind_.size() && kind_[static_cast<std::size_t>(id)] == kind::special;
    }
    // Number of ids: the vocab plus the added tokens (ids are dense, 0 .. vocab_size()-1).
    std::int32_t vocab_size() const { return static_cast<std::int32_t>(tokens_.size()); }
    const std::vector<added_token>& added_tokens() const { return added_; }

    bpe_tokenizer(bpe_tokenizer&&) noexcept = default;
    bpe_tokenizer& operator=(bpe_tokenizer&&) noexcept = default;

private:
    bpe_tokenizer() = default;

    enum class kind : std::uint8_t { none, regular, added, special };
    struct merge {
        std::int32_t rank, new_id;
    };
    // HF caches the BPE of words shorter than 256 bytes, up to 10000 of them; so do we (per tokenizer,
    // behind a mutex so that encode() stays const and thread-safe).
    static constexpr std::size_t cache_word_bytes = 256;
    static constexpr std::size_t cache_capacity = 10000;
    struct word_cache {
        std::mutex mutex;
        detail::string_map<std::vector<std::int32_t>> words;
    };

    // Per-call matching state.
    struct scratch {
        explicit scratch(const bpe_tokenizer& t) {
            splits.reserve(t.splits_.size());
            for (const regex& re : t.splits_) splits.emplace_back(re);
        }
        std::vector<regex::match_data> splits;
        std::optional<regex::match_data> classes;  // for the single_word / lstrip / rstrip checks
    };

    // ---- loading ------------------------------------------------------------------------------------

    void load_model(const detail::json_fields& f, const nlohmann::json& model) {
        const std::string& type = f.type(model, "model");
        if (type != "BPE") f.fail("model.type", "is \"" + type + "\"; only byte-level \"BPE\" models are supported");
        if (const auto* d = f.optional(model, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
            f.fail("model.dropout", "is " + json_summary(*d) + "; BPE dropout (random merges) is not supported");
        for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
            if (const auto* v = f.optional(model, key); v && !f.string(*v, std::string("model.") + key).empty())
                f.fail(std::string("model.") + key, "is " + json_summary(*v) + "; only byte-level BPE without word affixes is supported");
        if (f.boolean(model, "byte_fallback", false, "model")) f.fail("model.byte_fallback", "is true; byte fallback is not supported (byte-level BPE needs none)");
        ignore_merges_ = f.boolean(model, "ignore_merges", false, "model");

        const nlohmann::json& vocab = f.object(f.required(model, "vocab", "model"), "model.vocab");
        const std::size_t n = vocab.size();
        if (n >= static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 2)) f.fail("model.vocab", "has too many entries");
        tokens_.assign(n, {});
        kind_.assign(n, kind::none);
        vocab_.reserve(n);
        for (const auto& [token, value] : vocab.items()) {
            const std::string path = "model.vocab[" + detail::quoted(token) + "]";
            if (token.empty()) f.fail("model.vocab", "has an empty token");
            utf8::require_valid(token, source_path(f, path));
            const std::int64_t id = f.integer(value, path);
            if (id < 0 || static_cast<std::size_t>(id) >= n)
                f.fail(path, "has id " + std::to_string(id) + ", outside 0.." + std::to_string(n - 1) + " (ids must be 0..size-1)");
            const auto i = static_cast<std::size_t>(id);
            if (kind_[i] != kind::none) f.fail(path, "has id " + std::to_string(id) + ", which " + detail::quoted(tokens_[i]) + " already has");
            tokens_[i] = token;
            kind_[i] = kind::regular;
            vocab_.emplace(token, static_cast<std::int32_t>(id));
        }
        if (const auto* unk = f.optional(model, "unk_token"); unk && !vocab_.contains(f.string(*unk, "model.unk_token")))
            f.fail("model.unk_token", detail::quoted(unk->get<std::string>()) + " is not in the vocab");

        const auto& table = detail::byte_level();
        for (std::size_t b = 0; b < 256; ++b) {
            const auto it = vocab_.find(table.byte_to_utf8[b]);
            if (it == vocab_.end())
                f.fail("model.vocab", "lacks the byte-level symbol " + detail::quoted(table.byte_to_utf8[b]) + " of byte " + std::to_string(b) +
                                          " (not a byte-level BPE vocab)");
            byte_ids_[b] = it->second;
        }

        const nlohmann::json& merges = f.required(model, "merges", "model");
        if (!merges.is_array()) f.fail("model.merges", "must be an array, got " + std::string(merges.type_name()));
        merges_.reserve(merges.size());
        std::int32_t rank = 0;
        for (std::size_t i = 0; i < merges.size(); ++i) {
            const std::string path = "model.merges[" + std::to_string(i) + "]";
            const nlohmann::json& m = merges[i];
            std::string a, b;
            if (m.is_string()) {
                const std::string& line = m.get_ref<const std::string&>();
                if (line.starts_with("#version")) continue;  // HF skips the header line of merges.txt files
                const std::size_t space = line.find(' ');
                if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                    f.fail(path, "is " + detail::quoted(line) + "; a string merge must be two tokens separated by one space");
                a = line.substr(0, space);
                b = line.substr(space + 1);
            } else if (m.is_array() && m.size() == 2) {
                a = f.string(m[0], path + "[0]");
                b = f.string(m[1], path + "[1]");
            } else {
                f.fail(path, "must be a \"a b\" string or an [a, b] pair, got " + json_summary(m));
            }
            const std::int32_t ia = vocab_id(f, a, path), ib = vocab_id(f, b, path);
            const std::int32_t merged = vocab_id(f, a + b, path);
            // A repeated pair takes its last rank, as in HF (its merge map is built by inserting in order).
            merges_.insert_or_assign(pair_key(ia, ib), merge{rank++, merged});
        }
    }

    std::int32_t vocab_id(const detail::json_fields& f, const std::string& token, const std::string& path) const {
        const auto it = vocab_.find(token);
        if (it == vocab_.end()) f.fail(path, "references " + detail::quoted(token) + ", which is not in the vocab");
        return it->second;
    }
    static std::string source_path(const detail::json_fields& f, const std::string& path) { return f.source() + ": " + path; }

    void load_normalizer(const detail::json_fields& f, const nlohmann::json* n) {
        if (!n) return;
        const std::string& type = f.type(*n, "normalizer");
        if (type == "NFC") {
            nfc_ = true;
        } else if (type == "Sequence") {
            const nlohmann::json& list = f.required(*n, "normalizers", "normalizer");
            if (!list.is_array()) f.fail("normalizer.normalizers", "must be an array");
            for (std::size_t i = 0; i < list.size(); ++i) {
                const std::string path = "normalizer.normalizers[" + std::to_string(i) + "]";
                const std::string& t = f.type(list[i], path);
                if (t != "NFC") f.fail(path + ".type", "is \"" + t + "\"; only NFC normalisation is supported");
                nfc_ = true;  // NFC is idempotent: one pass equals several
            }
        } else {
            f.fail("normalizer.type", "is \"" + type + "\"; only NFC (or none) is supported");
        }
    }

    void load_pre_tokenizer(const detail::json_fields& f, const nlohmann::json* p) {
        if (!p) f.fail("pre_tokenizer", "is missing; a byte-level BPE needs a ByteLevel pre-tokenizer");
        const std::string& type = f.type(*p, "pre_tokenizer");
        if (type == "ByteLevel") {
            check_byte_level(f, *p, "pre_tokenizer");
            return;
        }
        if (type != "Sequence") f.fail("pre_tokenizer.type", "is \"" + type + "\"; only Sequence[Split..., ByteLevel] or ByteLevel is supported");
        const nlohmann::json& list = f.required(*p, "pretokenizers", "pre_tokenizer");
        if (!list.is_array() || list.empty()) f.fail("pre_tokenizer.pretokenizers", "must be a non-empty array");
        // Encoding recurses once per Split step and compiles a regex for each: bounded.
        if (list.size() > max_split_steps + 1)
            f.fail("pre_tokenizer.pretokenizers", "has " + std::to_string(list.size()) + " steps; at most " + std::to_string(max_split_steps) +
                                                      " Split steps and a ByteLevel are supported");
        for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string path = "pre_tokenizer.pretokenizers[" + std::to_string(i) + "]";
            const std::string& t = f.type(list[i], path);
            const bool last = i + 1 == list.size();
            if (t == "ByteLevel" && last) {
                check_byte_level(f, list[i], path);
            } else if (t == "Split" && !last) {
                load_split(f, list[i], path);
            } else {
                f.fail(path + ".type", "is \"" + t + "\"; the sequence must be Split steps followed by one ByteLevel");
            }
        }
    }

    static void check_byte_level(const detail::json_fields& f, const nlohmann::json& b, const std::string& path) {
        if (f.boolean(b, "add_prefix_space", true, path)) f.fail(path + ".add_prefix_space", "must be false");
        // With use_regex HF splits with its built-in GPT-2 pattern; this family splits with the file's Split.
        if (f.boolean(b, "use_regex", true, path)) f.fail(path + ".use_regex", "must be false (the split pattern must come from a Split step)");
    }

    void load_split(const detail::json_fields& f, const nlohmann::json& s, const std::string& path) {
        const nlohmann::json& pattern = f.object(f.required(s, "pattern", path), path + ".pattern");
        const std::string& behavior = f.string(f.required(s, "behavior", path), path + ".behavior");
        if (behavior != "Isolated") f.fail(path + ".behavior", "is \"" + behavior + "\"; only \"Isolated\" is supported");
        if (f.boolean(s, "invert", false, path)) f.fail(path + ".invert", "is true; only non-inverted splits are supported");
        if (const auto* re = f.optional(pattern, "Regex")) {
            splits_.emplace_back(f.string(*re, path + ".pattern.Regex"), f.source() + ": " + path + ".pattern.Regex", regex::options{});
        } else if (const auto* lit = f.optional(pattern, "String")) {
            const std::string& text = f.string(*lit, path + ".pattern.String");
            if (text.empty()) f.fail(path + ".pattern.String", "is empty");
            splits_.emplace_back(text, f.source() + ": " + path + ".pattern.String", regex::options{.literal = true});
        } else {
            f.fail(path + ".pattern", "must have a \"Regex\" or \"String\" member");
        }
    }

    static void check_post_processor(const detail::json_fields& f, const nlohmann::json* p, const std::string& path, int depth = 0) {
        if (!p) return;
        const std::string& type = f.type(*p, path);
        if (type == "ByteLevel") return;  // only adjusts offsets
        if (type == "Sequence") {
            // HF nests at most one Sequence; the bound keeps a hostile (or hand-built) JSON off the stack.
            if (depth >= max_post_processor_nesting)
                f.fail(path, "nests Sequence post-processors deeper than " + std::to_string(max_post_processor_nesting) + " levels");
            const nlohmann::json& list = f.required(*p, "processors", path);
            if (!list.is_array()) f.fail(path + ".processors", "must be an array");
            for (std::size_t i = 0; i < list.size(); ++i)
                check_post_processor(f, &list[i], path + ".processors[" + std::to_string(i) + "]", depth + 1);
            return;
        }
        if (type != "TemplateProcessing") f.fail(path + ".type", "is \"" + type + "\"; only ByteLevel or a TemplateProcessing that adds no tokens is supported");
        // HF's encode() defaults to add_special_tokens=True: a template that adds tokens would change its ids.
        const nlohmann::json& single = f.required(*p, "single", path);
        if (!single.is_array()) f.fail(path + ".single", "must be an array");
        for (const auto& piece : single)
            if (!piece.is_object() || !piece.contains("Sequence"))
                f.fail(path + ".single", "adds " + json_summary(piece) + "; templates that add special tokens are not supported");
    }

    static void check_decoder(const detail::json_fields& f, const nlohmann::json* d) {
        if (!d) f.fail("decoder", "is missing; a byte-level BPE needs the ByteLevel decoder");
        const std::string& type = f.type(*d, "decoder");
        if (type != "ByteLevel") f.fail("decoder.type", "is \"" + type + "\"; only ByteLevel is supported");
    }

    // HF re-numbers added tokens on load: a content already in the vocab keeps the vocab id, any other takes
    // the next id after the vocab in file order. A file whose ids disagree would encode differently in HF
    // and here, so it is refused.
    void load_added_tokens(const detail::json_fields& f, const nlohmann::json* list) {
        if (!list) return;
        if (!list->is_array()) f.fail("added_tokens", "must be an array, got " + std::string(list->type_name()));
        std::int64_t next_id = static_cast<std::int64_t>(tokens_.size());
        for (std::size_t i = 0; i < list->size(); ++i) {
            const std::string path = "added_tokens[" + std::to_string(i) + "]";
            const nlohmann::json& e = f.object((*list)[i], path);
            added_token a;
            a.content = f.string(f.required(e, "content", path), path + ".content");
            if (a.content.empty()) f.fail(path + ".content", "is empty");
            utf8::require_valid(a.content, source_path(f, path + ".content"));
            const std::int64_t id = f.integer(f.required(e, "id", path), path + ".id");
            a.special = f.boolean(e, "special", false, path);
            a.single_word = f.boolean(e, "single_word", false, path);
            a.lstrip = f.boolean(e, "lstrip", false, path);
            a.rstrip = f.boolean(e, "rstrip", false, path);
            a.normalized = f.boolean(e, "normalized", true, path);
            if (added_by_content_.contains(a.content)) f.fail(path + ".content", detail::quoted(a.content) + " is listed twice");
            const auto in_vocab = vocab_.find(a.content);
            const std::int64_t expected = in_vocab != vocab_.end() ? in_vocab->second : next_id++;
            if (id != expected)
                f.fail(path + ".id", "is " + std::to_string(id) + " for " + detail::quoted(a.content) + "; HF tokenizers gives it id " +
                                         std::to_string(expected) + " (a token in the vocab keeps its id, others follow the vocab in file order)");
            if (id >= std::numeric_limits<std::int32_t>::max()) f.fail(path + ".id", "is out of range");
            a.id = static_cast<std::int32_t>(id);
            const auto slot = static_cast<std::size_t>(id);
            if (slot >= tokens_.size()) {
                tokens_.resize(slot + 1);
                kind_.resize(slot + 1, kind::none);
            }
            // HF's id_to_token gives a normalized token's normalised content.
            tokens_[slot] = a.normalized && nfc_ ? utf8::nfc(a.content) : a.content;
            kind_[slot] = a.special ? kind::special : kind::added;
            (a.normalized ? normalized_tokens_ : raw_tokens_).add(tokens_[slot], static_cast<std::int32_t>(added_.size()));
            added_by_content_.emplace(a.content, a.id);
            added_.push_back(std::move(a));
        }
    }

    // What each id decodes to; after the added tokens, and also when a file has none (there was no table
    // then, and decode read past it: found by fuzz_tokenizer).
    void index_token_bytes() {
        token_bytes_.assign(tokens_.size(), std::string());
        for (std::size_t id = 0; id < tokens_.size(); ++id)
            if (kind_[id] != kind::none) token_bytes_[id] = detail::byte_level_decode(tokens_[id]);
    }

    // ---- encoding -----------------------------------------------------------------------------------

    // Splits `s` around the added tokens of `matcher` as HF's AddedVocabulary::find_matches does: matches
    // are leftmost-longest and non-overlapping; a single_word token inside a word is dropped (its bytes
    // stay text); lstrip/rstrip tokens absorb the whitespace beside them. Calls on_text for the text
    // between tokens and appends token ids to `ids`.
    template <class OnText>
    void for_each_added(std::string_view s, const detail::literal_matcher& matcher, scratch& sc, OnText&& on_text, std::vector<std::int32_t>& ids) const {
        if (matcher.empty()) {
            on_text(s);
            return;
        }
        std::size_t done = 0;  // end of the last emitted token
        for (std::size_t from = 0; auto hit = matcher.find(s, from);) {
            from = hit->end;
            const added_token& a = added_[static_cast<std::size_t>(hit->value)];
            std::size_t begin = hit->begin, end = hit->end;
            if (a.single_word && ((begin > 0 && is_word_char(s, previous_char(s, begin), sc)) || (end < s.size() && is_word_char(s, end, sc))))
                continue;
            if (a.lstrip) {
                std::size_t b = begin;
                while (b > 0 && is_space_char(s, previous_char(s, b), sc)) b = previous_char(s, b);
                begin = std::max(b, done);  // spaces already taken by the previous token stay there
            }
            if (a.rstrip)
                while (end < s.size() && is_space_char(s, end, sc)) end = next_char(s, end);
            if (begin > done) on_text(s.substr(done, begin - done));
            ids.push_back(a.id);
            done = end;
        }
        if (done < s.size()) on_text(s.substr(done));
    }

    // HF checks these with Rust-regex \w and \s, i.e. Unicode word characters and White_Space; the classes
    // below spell out the regex crate's definitions (PCRE2's own \w lacks marks and connectors).
    static const regex& word_class() {
        static const regex re("[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]", "word class", regex::options{});
        return re;
    }
    static const regex& space_class() {
        static const regex re("\\p{White_Space}", "space class", regex::options{});
        return re;
    }
    static bool char_in(const regex& re, std::string_view s, std::size_t at, scratch& sc) {
        if (!sc.classes) sc.classes.emplace(re);  // both classes need the same (one-pair) ovector
        return re.search(s, at, *sc.classes, true).has_value();
    }
    static bool is_word_char(std::string_view s, std::size_t at, scratch& sc) { return char_in(word_class(), s, at, sc); }
    static bool is_space_char(std::string_view s, std::size_t at, scratch& sc) { return char_in(space_class(), s, at, sc); }
    static std::size_t previous_char(std::string_view s, std::size_t at) {
        do --at;
        while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80);
        return at;
    }
    static std::size_t next_char(std::string_view s, std::size_t at) {
        do ++at;
        while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80);
        return at;
    }

    // Applies Split step `level` to `piece` (matches and the text between them become pieces, empty ones
    // vanish) and BPEs what the last step leaves. The search loop is Oniguruma's find_iter, which HF uses:
    // an empty match right where the previous match ended is skipped by moving on one character.
    void pre_tokenize(std::string_view piece, std::size_t level, scratch& sc, std::vector<std::int32_t>& ids) const {
        if (piece.empty()) return;
        if (level == splits_.size()) {
            bpe(piece, ids);
            return;
        }
        const regex& re = splits_[level];
        std::size_t prev = 0, from = 0;
        std::optional<std::size_t> last_end;
        while (from <= piece.size()) {
            const auto m = re.search(piece, from, sc.splits[level]);
            if (!m) break;
            if (m->begin == m->end && last_end == m->end) {
                if (from == piece.size()) break;
                from = next_char(piece, from);
                continue;
            }
            pre_tokenize(piece.substr(prev, m->begin - prev), level + 1, sc, ids);
            pre_tokenize(piece.substr(m->begin, m->end - m->begin), level + 1, sc, ids);
            prev = from = m->end;
            last_end = m->end;
        }
        pre_tokenize(piece.substr(prev), level + 1, sc, ids);
    }

    static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }

    // Byte-level BPE of one pre-token (raw bytes; mapping them to GPT-2 characters and looking those up
    // is the same as looking the bytes up in byte_ids_).
    void bpe(std::string_view word, std::vector<std::int32_t>& ids) const {
        if (word.size() == 1) {
            ids.push_back(byte_ids_[static_cast<unsigned char>(word[0])]);
            return;
        }
        if (ignore_merges_) {
            std::string spelled;
            for (const char c : word) spelled += detail::byte_level().byte_to_utf8[static_cast<unsigned char>(c)];
            if (const auto it = vocab_.find(spelled); it != vocab_.end()) {
                ids.push_back(it->second);
                return;
            }
        }
        const bool cacheable = word.size() < cache_word_bytes;
        if (cacheable) {
            const std::lock_guard lock(cache_->mutex);
            if (const auto it = cache_->words.find(word); it != cache_->words.end()) {
                ids.insert(ids.end(), it->second.begin(), it->second.end());
                return;
            }
        }
        const std::size_t first = ids.size();
        merge_word(word, ids);
        if (cacheable) {
            const std::lock_guard lock(cache_->mutex);
            if (cache_->words.size() < cache_capacity)
                cache_->words.emplace(std::string(word), std::vector<std::int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(first), ids.end()));
        }
    }

    // HF's Word::merge_all without dropout: repeatedly merge the adjacent pair of lowest rank (leftmost on
    // ties), using a heap of candidate merges whose stale entries are skipped when popped. Kept step for
    // step (including its "stale" test, which compares only the merged id) so the result is HF's.
    void merge_word(std::string_view word, std::vector<std::int32_t>& ids) const {
        const auto n = static_cast<std::int32_t>(word.size());
        struct symbol {
            std::int32_t id, prev, next;
            bool alive;
        };
        std::vector<symbol> sym(static_cast<std::size_t>(n));
        for (std::int32_t i = 0; i < n; ++i)
            sym[static_cast<std::size_t>(i)] = {byte_ids_[static_cast<unsigned char>(word[static_cast<std::size_t>(i)])], i - 1, i + 1 < n ? i + 1 : -1, true};
        struct candidate {
            std::int32_t rank, pos, new_id;
        };
        auto later = [](const candidate& a, const candidate& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
        std::priority_queue<candidate, std::vector<candidate>, decltype(later)> queue(later);
        auto lookup = [&](std::int32_t a, std::int32_t b) -> const merge* {
            const auto it = merges_.find(pair_key(a, b));
            return it == merges_.end() ? nullptr : &it->second;
        };
        for (std::int32_t i = 0; i + 1 < n; ++i)
            if (const merge* m = lookup(sym[static_cast<std::size_t>(i)].id, sym[static_cast<std::size_t>(i + 1)].id)) queue.push({m->rank, i, m->new_id});
        while (!queue.empty()) {
            const candidate top = queue.top();
            queue.pop();
            symbol& left = sym[static_cast<std::size_t>(top.pos)];
            if (!left.alive || left.next < 0) continue;
            symbol& right = sym[static_cast<std::size_t>(left.next)];
            const merge* current = lookup(left.id, right.id);
            if (!current || current->new_id != top.new_id) continue;
            left.id = top.new_id;
            right.alive = false;
            left.next = right.next;
            if (right.next >= 0) sym[static_cast<std::size_t>(right.next)].prev = top.pos;
            if (left.prev >= 0)
                if (const merge* m = lookup(sym[static_cast<std::size_t>(left.prev)].id, left.id)) queue.push({m->rank, left.prev, m->new_id});
            if (left.next >= 0)
                if (const merge* m = lookup(left.id, sym[static_cast<std::size_t>(left.next)].id)) queue.push({m->rank, top.pos, m->new_id});
        }
        for (std::int32_t i = 0; i >= 0; i = sym[static_cast<std::size_t>(i)].next) ids.push_back(sym[static_cast<std::size_t>(i)].id);
    }

    // ---- decoding -----------------------------------------------------------------------------------

    void append_bytes(std::string& out, std::int32_t id, bool skip_special) const {
        if (id < 0) throw error("decode: negative token id " + std::to_string(id));
        const auto i = static_cast<std::size_t>(id);
        if (i >= kind_.size() || kind_[i] == kind::none) return;
        if (skip_special && kind_[i] == kind::special) return;
        out += token_bytes_[i];
    }

    // ---- state --------------------------------------------------------------------------------------

    std::vector<std::string> tokens_;       // id -> token string (vocab spelling or added content)
    std::vector<kind> kind_;                // id -> what it is
    std::vector<std::string> token_bytes_;  // id -> bytes it decodes to
    detail::string_map<std::int32_t> vocab_;             // the model's vocab
    detail::string_map<std::int32_t> added_by_content_;  // added tokens (take precedence in token_to_id)
    std::unordered_map<std::uint64_t, merge> merges_;    // (left id, right id) -> rank, merged id
    std::array<std::int32_t, 256> byte_ids_{};           // byte -> id of its byte-level symbol
    bool ignore_merges_ = false;
    bool nfc_ = false;
    std::vector<regex> splits_;  // Split steps, in order
    std::vector<added_token> added_;
    detail::literal_matcher raw_tokens_;         // added tokens with normalized = false
    detail::literal_matcher normalized_tokens_;  // added tokens with normalized = true (by normalised content)
    std::unique_ptr<word_cache> cache_ = std::make_unique<word_cache>();
};

}  // namespace vl::text
