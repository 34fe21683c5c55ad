// examples/vlgraph/tokenize.hpp — `vlgraph tokenize`: text -> token ids with a checkpoint's tokenizer.
//
//   vlgraph tokenize --model DIR --text TEXT
//
// Prints the ids space-separated on one line (no special tokens are added; special tokens written in
// the text, such as <|im_start|>, are matched verbatim, as HF's tokenizer(text, add_special_tokens=False)).
#pragma once

#include "args.hpp"

#include <vlgraph/models/qwen36/tokenizer.hpp>

#include <cstdio>
#include <string>

namespace vlcli {

inline int tokenize(const args& a) {
    const std::string dir = a.required("model");
    const std::string text = a.required("text");
    const vl::qwen36::tokenizer tok = vl::qwen36::load_tokenizer(dir);
    const std::vector<std::int32_t> ids = tok.bpe.encode(text);
    std::string line;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        if (i) line += ' ';
        line += std::to_string(ids[i]);
    }
    std::printf("%s\n", line.c_str());
    return 0;
}

}  // namespace vlcli
