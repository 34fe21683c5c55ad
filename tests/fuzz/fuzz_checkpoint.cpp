// libFuzzer target: a checkpoint — a safetensors header, an index, or an index and its shards together.
//
// Input: the first byte says what the rest is —
//   'H'  the start of a .safetensors file             -> parse_safetensors_header (size = the bytes given)
//   'I'  model.safetensors.index.json                 -> parse_checkpoint_index
//   'K'  an index, then up to three shard files, separated by "\0SHARD\0", written to a fresh directory as
//        model.safetensors.index.json and model-0000N-of-00003.safetensors
//                                                      -> checkpoint::open, verify (every shard's header
//        against the index), and each small tensor read as f32 and scanned for non-finite values
// Every refusal must be a vl::error; tensors read must have the byte count of their shape.
// Build and run: scripts/fuzz.sh checkpoint SECONDS (seeds: corpus/checkpoint/, dictionary checkpoint.dict).
#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/io/safetensors.hpp>

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;

// One directory per fuzzing process, emptied after every input.
const fs::path& scratch() {
    static const fs::path dir = [] {
        std::string t = (fs::temp_directory_path() / "vlgraph-fuzz-checkpoint-XXXXXX").string();
        if (!mkdtemp(t.data())) std::abort();
        return fs::path(t);
    }();
    return dir;
}

void write(const fs::path& path, std::string_view bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void index_and_shards(std::string_view rest) {
    static constexpr std::string_view separator{"\0SHARD\0", 7};
    std::vector<std::string_view> parts;
    for (std::size_t at = 0;;) {
        const std::size_t next = rest.find(separator, at);
        parts.push_back(rest.substr(at, next == std::string_view::npos ? std::string_view::npos : next - at));
        if (next == std::string_view::npos || parts.size() == 4) break;
        at = next + separator.size();
    }
    const fs::path& dir = scratch();
    for (const auto& entry : fs::directory_iterator(dir)) fs::remove(entry.path());
    write(dir / vl::checkpoint::index_file, parts[0]);
    for (std::size_t i = 1; i < parts.size(); ++i) write(dir / ("model-0000" + std::to_string(i) + "-of-00003.safetensors"), parts[i]);

    const vl::checkpoint ck = vl::checkpoint::open(dir);
    ck.verify();
    for (const std::string& name : ck.names()) {
        const vl::tensor_info& info = ck.info(name);
        vl::index_t numel = 1;
        for (const vl::index_t e : info.shape) numel *= e;
        if (numel > (1 << 16)) continue;
        const vl::tensor t = ck.load(name, vl::dtype::f32);
        if (t.numel() != numel) __builtin_trap();
        (void)ck.count_nonfinite(name);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        switch (data[0]) {
            case 'H': vl::parse_safetensors_header(rest, rest.size(), "<fuzz>"); break;
            case 'I': vl::parse_checkpoint_index(rest, "<fuzz>"); break;
            case 'K': index_and_shards(rest); break;
            default: break;
        }
    } catch (const vl::error&) {
    }
    return 0;
}
