// tests/tp_configs.hpp — a model config for the tensor-parallel tests that TP 4 can split, unlike the
// bundled checkpoint's (2 GDN key heads): 8 query / 2 KV heads (replicated at TP 4), head_dim 16 with 4
// rotary dims, 4 GDN key heads of 8 and 12 value heads of 6 (d_k != d_v, 3 value heads per key head),
// MLP 96, hidden 32, vocab 256; the layer types and everything else from the bundled config.
#pragma once

#include <vlgraph/models/qwen36/config.hpp>

#include <string>

namespace vt {

inline vl::qwen36::model_config tp4_config(const std::string& bundled_checkpoint) {
    vl::qwen36::model_config c = vl::qwen36::load_config(bundled_checkpoint);
    vl::qwen36::text_config& t = c.text;
    t.num_attention_heads = 8, t.num_key_value_heads = 2, t.head_dim = 16;
    t.linear_num_key_heads = 4, t.linear_num_value_heads = 12, t.linear_key_head_dim = 8, t.linear_value_head_dim = 6;
    t.intermediate_size = 96, t.hidden_size = 32, t.vocab_size = 256;
    t.rope.mrope_section = {1, 1, 0};  // rotary 4 of head_dim 16: 2 frequencies
    c.vision.out_hidden_size = 32;
    return c;
}

}  // namespace vt
