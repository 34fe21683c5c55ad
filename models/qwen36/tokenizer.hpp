// vlgraph/models/qwen36/tokenizer.hpp — the Qwen3.5 / Qwen3.6 tokenizer (spec §8.2): the checkpoint's
// tokenizer.json read by the generic byte-level BPE (vlgraph/text/bpe_tokenizer.hpp: NFC, the file's
// split regex, ByteLevel, added tokens matched verbatim), plus the ids of the special tokens the prompt
// format and generation use, looked up by content so any vocabulary size works (the real 248077-token
// one and the tiny test checkpoint's 2048).
//
//   auto tok = vl::qwen36::load_tokenizer(model_dir);      // or the tokenizer.json path itself
//   std::vector<std::int32_t> ids = tok.bpe.encode("<|im_start|>user\nhi<|im_end|>\n");
//   std::string text = tok.bpe.decode(ids);
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/io/file.hpp>
#include <vlgraph/text/bpe_tokenizer.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace vl::qwen36 {

// Ids of the special tokens of the Qwen chat / vision prompt format.
struct special_token_ids {
    std::int32_t endoftext;     // <|endoftext|>  (pad; also ends generation)
    std::int32_t im_start;      // <|im_start|>
    std::int32_t im_end;        // <|im_end|>     (eos of chat turns)
    std::int32_t vision_start;  // <|vision_start|>
    std::int32_t vision_end;    // <|vision_end|>
    std::int32_t image_pad;     // <|image_pad|>  (one per image token after expansion)
    std::int32_t video_pad;     // <|video_pad|>
};

struct tokenizer {
    text::bpe_tokenizer bpe;
    special_token_ids special;
};

// Reads `file_or_dir` (a tokenizer.json, or a checkpoint directory holding one). Throws vl::io_error when
// unreadable and vl::format_error when malformed, unsupported, or lacking one of the special tokens above.
inline tokenizer load_tokenizer(const std::filesystem::path& file_or_dir) {
    // A directory's tokenizer.json is confined to it (no symlink out); an explicit file path is read as given.
    std::error_code ec;
    const bool dir = std::filesystem::is_directory(file_or_dir, ec);
    const std::filesystem::path file = dir ? file_or_dir / "tokenizer.json" : file_or_dir;
    text::bpe_tokenizer bpe =
        dir ? text::bpe_tokenizer::from_json_text(read_file_in_dir(file_or_dir, "tokenizer.json", text::bpe_tokenizer::max_file_bytes, "a tokenizer.json"),
                                                  file.string())
            : text::bpe_tokenizer::from_file(file);
    auto id = [&](std::string_view content) {
        const auto found = bpe.token_to_id(content);
        if (!found || !bpe.is_special(*found))
            throw format_error(file.string() + ": added_tokens lacks the special token " + std::string(content) + " of the Qwen prompt format");
        return *found;
    };
    const special_token_ids special{id("<|endoftext|>"), id("<|im_start|>"), id("<|im_end|>"), id("<|vision_start|>"),
                                    id("<|vision_end|>"), id("<|image_pad|>"), id("<|video_pad|>")};
    return {std::move(bpe), special};
}

}  // namespace vl::qwen36
