// libFuzzer target: the DSL's shape inference on run-time extents — the sizes a checkpoint header, a config
// or a prompt puts into the graph — and, where the result is small, the CPU evaluation of the same node.
//
// Input: a sequence of records. Each starts with an op byte (binary broadcast, matmul 2-D / 3-D, linear with
// bias, reshape with -1, permute, slice, concat, softmax, rms_norm, layer_norm, reduce, attention with a
// causal or segments mask, gather, write_rows); the bytes after it give the operands' extents (mostly 0..8,
// sometimes up to 2^40, or negative where an op takes signed arguments) and the op's arguments.
// A node must either be refused with a vl::error (vl::shape_error for a shape that does not fit) or get a
// non-negative shape; every node whose operands and result hold at most 4096 elements is evaluated on
// the CPU executor and must produce exactly that shape. Extents past that are views of one element
// (stride 0), so shape rules meet sizes whose products overflow without any allocation.
// Build and run: scripts/fuzz.sh shapes SECONDS (seeds: corpus/shapes/).
#include <vlgraph/backends/cpu/cpu.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace {

using vl::index_t;
constexpr index_t evaluable_elements = 4096;

struct reader {
    const std::uint8_t* p;
    const std::uint8_t* end;
    bool done() const { return p == end; }
    std::uint8_t byte() { return p == end ? 0 : *p++; }
    // An extent: usually 0..8, else a power of two up to 2^40 (or 2^40 - 1).
    index_t extent() {
        const std::uint8_t b = byte();
        if (b < 224) return b % 9;
        const index_t big = index_t{1} << (b % 41);
        return b & 1 ? big - 1 : big;
    }
    // A signed argument (an axis, a slice bound, a reshape extent, a position): -4..11, sometimes huge.
    index_t argument() {
        const std::uint8_t b = byte();
        if (b < 240) return static_cast<index_t>(b % 16) - 4;
        return (b & 1 ? -1 : 1) * (index_t{1} << (b % 41));
    }
};

vl::cpu::executor& cpu() {
    static vl::cpu::executor e{1};
    return e;
}

// numel within evaluable_elements (without overflow)?
template <std::size_t R>
bool small(const std::array<index_t, R>& s) {
    index_t n = 1;
    for (const index_t e : s) {
        if (e > evaluable_elements) return false;
        n *= e;
        if (n > evaluable_elements) return false;
    }
    return true;
}

// Tracks whether every leaf of the node being built is real storage (so the node may be evaluated).
struct leaves {
    bool real = true;

    template <std::size_t R>
    vl::tensor make(const std::array<index_t, R>& shape, reader& in, vl::dtype type = vl::dtype::f32) {
        vl::dims d(shape.begin(), shape.end());
        if (small(shape)) {
            vl::tensor t = vl::tensor::empty(d, type);
            const index_t n = t.numel();
            for (index_t i = 0; i < n; ++i) {
                const float v = static_cast<float>(static_cast<int>(in.byte() % 9) - 4);
                if (type == vl::dtype::f32) t.data<float>()[i] = v;
                else if (type == vl::dtype::i32) t.data<std::int32_t>()[i] = static_cast<std::int32_t>(v);
                else if (type == vl::dtype::i64) t.data<std::int64_t>()[i] = static_cast<std::int64_t>(v);
            }
            return t;
        }
        real = false;
        return vl::tensor(std::make_shared<vl::host_storage>(vl::size_of(type)), type, std::move(d), vl::dims(R, 0));
    }
    template <int R>
    auto input(reader& in) {
        std::array<index_t, R> s{};
        for (auto& e : s) e = in.extent();
        return vl::input<R>(make(s, in));
    }
};

template <class E>
void check(const E& e, const leaves& l) {
    const auto& shape = e.shape();
    for (const index_t x : shape)
        if (x < 0) __builtin_trap();
    if (!l.real || !small(shape)) return;
    const vl::tensor out = vl::eval(e, cpu());
    if (out.rank() != E::rank) __builtin_trap();
    for (int i = 0; i < E::rank; ++i)
        if (out.extent(i) != shape[static_cast<std::size_t>(i)]) __builtin_trap();
}

void one_node(reader& in) {
    leaves l;
    switch (in.byte() % 16) {
        case 0: { auto a = l.input<2>(in); auto b = l.input<2>(in); check(a + b, l); break; }
        case 1: { auto a = l.input<3>(in); auto b = l.input<3>(in); check(a * b, l); break; }
        case 2: { auto a = l.input<2>(in); auto b = l.input<2>(in); check(vl::matmul(a, b), l); break; }
        case 3: { auto a = l.input<3>(in); auto b = l.input<3>(in); check(vl::matmul(a, b), l); break; }
        case 4: { auto x = l.input<2>(in); auto w = l.input<2>(in); auto b = l.input<1>(in); check(vl::linear(x, w, b), l); break; }
        case 5: {
            auto x = l.input<2>(in);
            const vl::shape_t<3> to{in.argument(), in.argument(), in.argument()};
            check(vl::reshape(x, to), l);
            break;
        }
        case 6: {
            auto x = l.input<3>(in);
            const std::array<int, 3> order{static_cast<int>(in.argument()), static_cast<int>(in.argument()), static_cast<int>(in.argument())};
            check(vl::permute(x, order), l);
            break;
        }
        case 7: {
            auto x = l.input<2>(in);
            const int axis = static_cast<int>(in.argument());
            const index_t begin = in.argument(), end = in.argument();
            check(vl::slice(x, axis, begin, end), l);
            break;
        }
        case 8: { auto a = l.input<2>(in); auto b = l.input<2>(in); check(vl::concat(static_cast<int>(in.argument()), a, b), l); break; }
        case 9: { auto x = l.input<2>(in); check(vl::softmax(x), l); break; }
        case 10: { auto x = l.input<2>(in); auto w = l.input<1>(in); check(vl::rms_norm(x, w, 1e-6f), l); break; }
        case 11: { auto x = l.input<2>(in); auto w = l.input<1>(in); auto b = l.input<1>(in); check(vl::layer_norm(x, w, b, 1e-6f), l); break; }
        case 12: {
            auto x = l.input<3>(in);
            const int axis = static_cast<int>(in.argument());
            switch (in.byte() % 3) {
                case 0: check(vl::sum(x, axis), l); break;
                case 1: check(vl::mean(x, axis), l); break;
                default: check(vl::max(x, axis), l); break;
            }
            break;
        }
        case 13: {
            auto q = l.input<3>(in);
            auto k = l.input<3>(in);
            auto v = l.input<3>(in);
            if (in.byte() & 1) {
                std::vector<index_t> cu{in.argument()};
                for (int n = in.byte() % 4; n > 0; --n) cu.push_back(cu.back() + in.argument());
                check(vl::attention(q, k, v, 0.5f, vl::attention_mask::segments(std::move(cu))), l);
            } else {
                check(vl::attention(q, k, v, 0.5f, vl::attention_mask::causal(in.argument())), l);
            }
            break;
        }
        case 14: {
            auto table = l.input<2>(in);
            const std::array<index_t, 1> n{in.extent()};
            const vl::tensor ids = l.make(n, in, in.byte() & 1 ? vl::dtype::i64 : vl::dtype::i32);
            check(vl::gather(table, vl::indices<1>(ids)), l);
            break;
        }
        default: {
            const std::array<index_t, 2> dst_shape{in.extent(), in.extent()};
            const vl::tensor dst = l.make(dst_shape, in);
            const vl::tensor at = vl::tensor::from(std::vector<std::int64_t>{in.argument()}, {1});
            auto rows = l.input<2>(in);
            check(vl::write_rows(dst, at, rows), l);
            break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    reader in{data, data + size};
    for (int nodes = 0; nodes < 8 && !in.done(); ++nodes) {
        try {
            one_node(in);
        } catch (const vl::error&) {
        }
    }
    return 0;
}
