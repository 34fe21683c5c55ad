// tests/lm_goldens.hpp — HF's language-model goldens (tools/reference/dump_goldens.py),
// shared by the language-model and generation tests.
#pragma once

#include <vlgraph/io/safetensors.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace vl::test {

// tests/data/golden/<file>, opened once per program.
inline const vl::safetensors_file& golden_file(const std::string& file) {
    static std::map<std::string, vl::safetensors_file> files;
    auto it = files.find(file);
    if (it == files.end()) it = files.emplace(file, vl::safetensors_file::open(std::string(VLGRAPH_TEST_DATA) + "/golden/" + file)).first;
    return it->second;
}
// The elements of an integer (or integral-valued) tensor as i64 values.
inline std::vector<std::int64_t> ints(const vl::tensor& t) {
    const vl::tensor c = t.to(vl::dtype::i64).contiguous();
    return {c.data<std::int64_t>(), c.data<std::int64_t>() + c.numel()};
}

inline vl::tensor lm_tensor(const std::string& name) { return golden_file("lm.safetensors").load(name, vl::dtype::f32); }
inline vl::tensor prompt_tensor(const std::string& name) { return golden_file("text_prompts.safetensors").load(name, vl::dtype::i64); }

}  // namespace vl::test
