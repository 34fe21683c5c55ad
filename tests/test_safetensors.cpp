// Tests of vlgraph/io: safetensors reading and writing, the checkpoint-level
// catalogue of docs/bad-inputs.md, sharded model directories, and the replay of
// the fuzz corpora in tests/fuzz/corpus/.
#define BOOST_TEST_MODULE safetensors
#include <boost/test/unit_test.hpp>

#include <vlgraph/io/checkpoint.hpp>
#include <vlgraph/io/mmap.hpp>
#include <vlgraph/io/safetensors.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace std::string_literals;

namespace {

// A fresh directory under the system temp directory, removed with its contents.
struct tmp_dir {
    fs::path path;
    tmp_dir() {
        static int counter = 0;
        path = fs::temp_directory_path() / ("vlgraph_test_safetensors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    tmp_dir(const tmp_dir&) = delete;
    tmp_dir& operator=(const tmp_dir&) = delete;
    ~tmp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(out.good());
}

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string le64(std::uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A file image with header `json` (length prefix = its size) followed by `data`.
std::string st_image(const std::string& json, const std::string& data = "") { return le64(json.size()) + json + data; }

// The JSON of one tensor entry.
std::string entry(const std::string& dtype, const std::string& shape, std::uint64_t begin, std::uint64_t end) {
    return R"({"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":[)" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// Runs fn and checks that it throws exactly an E (or subclass) whose message
// contains `fragment` and, if given, starts with `prefix`.
template <class E, class F>
void check_throws_with(F&& fn, std::string_view fragment, std::string_view prefix = "") {
    try {
        fn();
    } catch (const E& e) {
        const std::string_view msg = e.what();
        BOOST_CHECK_MESSAGE(msg.find(fragment) != std::string_view::npos, "message \"" << msg << "\" lacks \"" << fragment << "\"");
        BOOST_CHECK_MESSAGE(msg.starts_with(prefix), "message \"" << msg << "\" does not start with \"" << prefix << "\"");
        return;
    } catch (const std::exception& e) {
        BOOST_ERROR("wrong exception type, message: " << e.what() << " (expected one containing \"" << fragment << "\")");
        return;
    }
    BOOST_ERROR("no exception thrown; expected one containing \"" << fragment << "\"");
}

// A malformed file image must be rejected with a vl::format_error naming the
// file, both when opened from disk and when parsed in memory (the fuzz path).
void expect_bad(const std::string& image, std::string_view fragment) {
    tmp_dir d;
    const fs::path p = d.path / "bad.safetensors";
    write_file(p, image);
    check_throws_with<vl::format_error>([&] { vl::safetensors_file::open(p); }, fragment, p.string() + ": ");
    check_throws_with<vl::format_error>([&] { vl::parse_safetensors_header(image, image.size(), "mem"); }, fragment, "mem: ");
}

vl::safetensors_header expect_good(const std::string& image) {
    return vl::parse_safetensors_header(image, image.size(), "mem");
}

template <class T>
std::vector<T> values_of(const vl::tensor& t) {
    const vl::tensor c = t.contiguous();
    const T* p = c.data<T>();
    return std::vector<T>(p, p + c.numel());
}

std::vector<float> floats_of(const vl::tensor& t) { return values_of<float>(t.to(vl::dtype::f32)); }

bool maps_file(const vl::tensor& t) { return std::dynamic_pointer_cast<vl::mmap_storage>(t.storage_ptr()) != nullptr; }

}  // namespace

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(round_trip)

BOOST_AUTO_TEST_CASE(every_dtype_scalar_empty_strided_and_metadata) {
    tmp_dir d;
    const fs::path p = d.path / "rt.safetensors";
    std::vector<vl::bf16> b;
    std::vector<vl::f16> h;
    for (float v : {1.0f, -2.5f, 0.15625f}) {
        b.push_back(vl::bf16::from_float(v));
        h.push_back(vl::f16::from_float(v));
    }
    const vl::tensor base = vl::tensor::from(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
    const vl::tensor transposed = base.permute({1, 0});  // [3, 2], strides {1, 3}
    const vl::tensor sliced = base.slice(1, 1, 3);        // [2, 2], offset 1
    BOOST_REQUIRE(!transposed.is_contiguous());
    const std::vector<std::pair<std::string, vl::tensor>> tensors = {
        {"u8", vl::tensor::from(std::vector<std::uint8_t>{0, 7, 255}, {3})},
        {"bf16", vl::tensor::from(b, {3})},
        {"f32", vl::tensor::from(std::vector<float>{1.5f, -0.0f, 3e38f, 1e-45f}, {2, 2})},
        {"f16", vl::tensor::from(h, {3, 1})},
        {"f64", vl::tensor::from(std::vector<double>{1e300, -1.0 / 3}, {2})},
        {"i32", vl::tensor::from(std::vector<std::int32_t>{INT32_MIN, 0, INT32_MAX}, {1, 3})},
        {"i64", vl::tensor::from(std::vector<std::int64_t>{INT64_MIN, INT64_MAX}, {2})},
        {"scalar", vl::tensor::from(std::vector<float>{42}, {})},
        {"empty", vl::tensor::empty({0, 3}, vl::dtype::bf16)},
        {"transposed", transposed},
        {"sliced", sliced},
    };
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"note", "ünïcode"}};
    vl::save_safetensors(p, tensors, meta);

    const auto f = vl::safetensors_file::open(p);
    BOOST_TEST(f.metadata() == meta);
    BOOST_TEST(f.tensors().size() == tensors.size());
    // Header padded so that the data area starts 8-aligned.
    BOOST_TEST(vl::detail::read_le64(read_file(p).data()) % 8 == 0u);
    for (const auto& [name, t] : tensors) {
        BOOST_TEST_CONTEXT("tensor " << name) {
            const vl::tensor r = f.get(name);
            BOOST_TEST(vl::name_of(r.type()) == vl::name_of(t.type()));
            BOOST_TEST(r.shape() == t.shape(), boost::test_tools::per_element());
            BOOST_TEST(r.nbytes() == t.nbytes());
            const vl::tensor a = t.contiguous();
            BOOST_TEST(std::memcmp(r.raw_data(), a.raw_data(), a.nbytes()) == 0);
            BOOST_TEST(maps_file(r));  // widest-first layout keeps every tensor aligned: zero-copy
        }
    }
    BOOST_TEST(values_of<float>(f.get("transposed")) == (std::vector<float>{1, 4, 2, 5, 3, 6}), boost::test_tools::per_element());
    BOOST_TEST(values_of<float>(f.get("sliced")) == (std::vector<float>{2, 3, 5, 6}), boost::test_tools::per_element());
    BOOST_TEST(f.get("scalar").rank() == 0);
    BOOST_TEST(f.info("empty").bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(views_are_read_only_mappings_that_outlive_the_file_object) {
    tmp_dir d;
    const fs::path p = d.path / "v.safetensors";
    vl::save_safetensors(p, {{"w", vl::tensor::from(std::vector<float>{1, 2, 3}, {3})}});
    vl::tensor w;
    {
        const auto f = vl::safetensors_file::open(p);
        w = f.get("w");
    }
    BOOST_TEST(w.storage_ptr()->read_only());
    BOOST_TEST(values_of<float>(w) == (std::vector<float>{1, 2, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(save_replaces_atomically_and_leaves_no_temporary) {
    tmp_dir d;
    const fs::path p = d.path / "a.safetensors";
    vl::save_safetensors(p, {{"x", vl::tensor::from(std::vector<float>{1}, {1})}});
    vl::save_safetensors(p, {{"y", vl::tensor::from(std::vector<float>{2, 3}, {2})}});
    BOOST_TEST(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);
    const auto f = vl::safetensors_file::open(p);
    BOOST_TEST(!f.contains("x"));
    BOOST_TEST(f.contains("y"));
}

BOOST_AUTO_TEST_CASE(save_rejects_bad_names_and_tensors) {
    tmp_dir d;
    const fs::path p = d.path / "w.safetensors";
    const vl::tensor t = vl::tensor::from(std::vector<float>{1}, {1});
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"", t}}); }, "tensor name is empty");
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"a", t}, {"a", t}}); }, "given twice");
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"__metadata__", t}}); }, "reserved");
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"a\0b"s, t}}); }, "NUL");
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"\xff", t}}); }, "not valid UTF-8");
    check_throws_with<vl::error>([&] { vl::save_safetensors(p, {{"u", vl::tensor()}}); }, "undefined");
    check_throws_with<vl::io_error>([&] { vl::save_safetensors(d.path / "no" / "such.safetensors", {{"a", t}}); }, "cannot create");
    BOOST_TEST(!fs::exists(p));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(loading)

BOOST_AUTO_TEST_CASE(load_converts_bf16_and_f16_exactly) {
    tmp_dir d;
    const fs::path p = d.path / "c.safetensors";
    const std::vector<float> vals = {1.0f, -2.5f, 0.15625f, 65504.0f, 0.0f};
    std::vector<vl::bf16> b;
    std::vector<vl::f16> h;
    for (float v : vals) {
        b.push_back(vl::bf16::from_float(v));
        h.push_back(vl::f16::from_float(v));
    }
    vl::save_safetensors(p, {{"b", vl::tensor::from(b, {5})}, {"h", vl::tensor::from(h, {5})},
                             {"f", vl::tensor::from(std::vector<float>{1.00390625f, 3.0f}, {2})}});
    const auto f = vl::safetensors_file::open(p);
    const vl::tensor bf = f.load("b", vl::dtype::f32);
    BOOST_TEST(!maps_file(bf));
    for (std::size_t i = 0; i < vals.size(); ++i) BOOST_TEST(bf.data<float>()[i] == b[i].to_float());
    BOOST_TEST(floats_of(f.load("h", vl::dtype::f32)) == vals, boost::test_tools::per_element());
    // f32 -> bf16 rounds to nearest even: 1 + 2^-8 is a tie and rounds down to 1.
    const vl::tensor down = f.load("f", vl::dtype::bf16);
    BOOST_TEST(down.data<vl::bf16>()[0].to_float() == 1.0f);
    BOOST_TEST(down.data<vl::bf16>()[1].to_float() == 3.0f);
}

BOOST_AUTO_TEST_CASE(bf16_at_odd_offset_is_copied_aligned) {
    const std::string header = R"({"a":)" + entry("U8", "[1]", 0, 1) + R"(,"b":)" + entry("BF16", "[2]", 1, 5) + "}";
    std::string json = header;
    json.append((8 - json.size() % 8) % 8, ' ');  // data area 8-aligned, so "b" starts at an odd address
    std::string data = "\x07";
    for (float v : {1.5f, -3.0f}) {
        const auto bits = vl::bf16::from_float(v).bits;
        data += static_cast<char>(bits & 0xff);
        data += static_cast<char>(bits >> 8);
    }
    tmp_dir d;
    const fs::path p = d.path / "odd.safetensors";
    write_file(p, st_image(json, data));
    const auto f = vl::safetensors_file::open(p);
    const vl::tensor b = f.get("b");
    BOOST_TEST(!maps_file(b));
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(b.raw_data()) % alignof(vl::bf16) == 0u);
    BOOST_TEST(floats_of(b) == (std::vector<float>{1.5f, -3.0f}), boost::test_tools::per_element());
    BOOST_TEST(maps_file(f.get("a")));
    BOOST_TEST(f.get("a").data<std::uint8_t>()[0] == 7);
}

BOOST_AUTO_TEST_CASE(count_nonfinite_finds_nan_and_inf) {
    tmp_dir d;
    const fs::path p = d.path / "n.safetensors";
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    vl::save_safetensors(p, {{"f", vl::tensor::from(std::vector<float>{1, nan, inf, -inf, 0}, {5})},
                             {"b", vl::tensor::from(std::vector<vl::bf16>{vl::bf16::from_float(nan), vl::bf16::from_float(2)}, {2})},
                             {"clean", vl::tensor::from(std::vector<double>{1, 2}, {2})},
                             {"i", vl::tensor::from(std::vector<std::int32_t>{-1, 0}, {2})}});
    const auto f = vl::safetensors_file::open(p);
    BOOST_TEST(f.count_nonfinite("f") == 3u);
    BOOST_TEST(f.count_nonfinite("b") == 1u);
    BOOST_TEST(f.count_nonfinite("clean") == 0u);
    BOOST_TEST(f.count_nonfinite("i") == 0u);
}

BOOST_AUTO_TEST_CASE(missing_tensor_and_excess_rank) {
    tmp_dir d;
    const fs::path p = d.path / "r.safetensors";
    write_file(p, st_image(R"({"deep":)" + entry("F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) + "}", "abcd"));
    const auto f = vl::safetensors_file::open(p);
    check_throws_with<vl::format_error>([&] { f.info("nope"); }, "missing tensor \"nope\"", p.string());
    check_throws_with<vl::format_error>([&] { f.get("deep"); }, "rank 9 exceeds vl::max_rank", p.string());
}

BOOST_AUTO_TEST_CASE(file_shrunk_after_open_is_an_io_error_not_sigbus) {
    tmp_dir d;
    const fs::path p = d.path / "s.safetensors";
    vl::save_safetensors(p, {{"w", vl::tensor::empty({1024}, vl::dtype::f32)}});
    const auto f = vl::safetensors_file::open(p);
    fs::resize_file(p, fs::file_size(p) - 100);
    check_throws_with<vl::io_error>([&] { f.load("w", vl::dtype::f32); }, "unexpected end of file", p.string());
    check_throws_with<vl::io_error>([&] { f.load("w", vl::dtype::bf16); }, "was the file truncated?", p.string());
}

BOOST_AUTO_TEST_CASE(mmap_storage_of_empty_missing_and_non_regular_files) {
    tmp_dir d;
    write_file(d.path / "empty", "");
    const vl::mmap_storage empty(d.path / "empty");
    BOOST_TEST(empty.bytes() == 0u);
    BOOST_TEST(empty.data() == nullptr);
    check_throws_with<vl::io_error>([&] { vl::mmap_storage m(d.path / "missing"); }, "cannot open: No such file", (d.path / "missing").string());
    check_throws_with<vl::io_error>([&] { vl::mmap_storage m(d.path); }, "not a regular file", d.path.string());
    check_throws_with<vl::format_error>([&] { vl::safetensors_file::open(d.path / "empty"); }, "0 bytes is too small");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// docs/bad-inputs.md, "safetensors / checkpoint", case by case.
BOOST_AUTO_TEST_SUITE(bad_inputs)

BOOST_AUTO_TEST_CASE(header_length) {
    expect_bad(le64(0) + "{}", "header length 0 is below the minimum");
    expect_bad("\x07\0\0\0\0\0\0"s, "7 bytes is too small to hold the 8-byte header length");
    expect_bad(le64(7) + "{} ", "header length 7 exceeds the file size (11 bytes)");
    expect_bad(le64(8) + "{}", "header length 8 exceeds the file size (10 bytes)");
    expect_bad(le64(100'000'001) + "{}", "header length 100000001 exceeds the limit of 100000000 bytes");
    expect_bad(le64(1000) + "{}", "header length 1000 exceeds the file size");
    expect_bad(le64(UINT64_MAX) + "{}", "header length 18446744073709551615 exceeds the limit");
    // The smallest valid file.
    BOOST_TEST(expect_good(st_image("{}")).tensors.empty());
}

BOOST_AUTO_TEST_CASE(header_text) {
    expect_bad(st_image("{\"\xff\":1}"), "header is not valid UTF-8 (byte 2");
    expect_bad(st_image("{\"\xc0\xaf\":1}"), "not valid UTF-8");     // overlong '/'
    expect_bad(st_image("{\"\xed\xa0\x80\":1}"), "not valid UTF-8");  // surrogate
    expect_bad(st_image(" {}"), "header must start with '{'");
    expect_bad(st_image("[]"), "header must start with '{'");
    expect_bad(st_image("{}\n"), "trailing bytes after the JSON object that are not space padding (byte 2)");
    expect_bad(st_image("{}  x"), "not space padding (byte 4)");
    expect_bad(st_image("{}\0\0"s), "not space padding");
    expect_bad(st_image(R"({"a":})"), "invalid JSON");
    expect_bad(st_image(R"({"a":1)"), "invalid JSON");
    expect_bad(st_image("{\"a\":" + std::string(40, '[') + std::string(40, ']') + "}"), "nested deeper than 32 levels");
    BOOST_TEST(expect_good(st_image("{}      ")).header_bytes == 8u);
    BOOST_TEST(expect_good(st_image("{\n\t\"__metadata__\" : {} }")).tensors.empty());
}

BOOST_AUTO_TEST_CASE(duplicate_keys) {
    const std::string e = entry("U8", "[1]", 0, 1);
    expect_bad(st_image(R"({"w":)" + e + R"(,"w":)" + e + "}", "x"), "duplicate key \"w\" at the top level");
    expect_bad(st_image(R"({"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"),
               "duplicate key \"dtype\" inside \"w\"");
    expect_bad(st_image(R"({"weight":)" + e + R"(,"w\u0065ight":)" + e + "}", "x"), "duplicate key \"weight\" at the top level");
    expect_bad(st_image(R"({"__metadata__":{"k":"a","\u006b":"b"}})"), "duplicate key \"k\" inside \"__metadata__\"");
}

BOOST_AUTO_TEST_CASE(data_offsets) {
    const std::string data(8, 'x');
    expect_bad(st_image(R"({"a":)" + entry("U8", "[4]", 0, 4) + R"(,"b":)" + entry("U8", "[3]", 5, 8) + "}", data),
               "gap of 1 unused bytes before tensor \"b\"");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[4]", 1, 5) + R"(,"b":)" + entry("U8", "[3]", 5, 8) + "}", data),
               "gap of 1 unused bytes before tensor \"a\"");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[5]", 0, 5) + R"(,"b":)" + entry("U8", "[4]", 4, 8) + "}", data),
               "tensor \"b\" data [4, 8) overlaps tensor \"a\"");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[8]", 0, 8) + R"(,"b":)" + entry("U8", "[8]", 0, 8) + "}", data), "overlaps");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[0]", 8, 0) + "}", data), "tensor \"a\": data_offsets [8, 0] end < begin");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[16]", 0, 16) + "}", data),
               "tensor \"a\" data [0, 16) extends past the end of the file (data area is 8 bytes");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[6]", 0, 6) + "}", data), "2 trailing unused bytes after the last tensor");
    expect_bad(st_image(R"({"a":)" + entry("F32", "[3]", 0, 8) + "}", data), "span 8 bytes, but F32 [3] needs 12");
    expect_bad(st_image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0]}})", data), "data_offsets must be an array of two");
    expect_bad(st_image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[-1,7]}})", data),
               "data_offsets[0] is not a non-negative integer (got -1)");
    expect_bad(st_image(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8.0]}})", data), "data_offsets[1] is not a non-negative integer");
    // Data stored in the reverse order of the names is fine.
    const auto h = expect_good(st_image(R"({"a":)" + entry("U8", "[3]", 5, 8) + R"(,"b":)" + entry("U8", "[5]", 0, 5) + "}", data));
    BOOST_TEST(h.tensors.at(0).name == "a");
    BOOST_TEST(h.tensors.at(0).begin == 5u);
}

BOOST_AUTO_TEST_CASE(truncated_mid_tensor) {
    tmp_dir d;
    const fs::path p = d.path / "t.safetensors";
    vl::save_safetensors(p, {{"a", vl::tensor::empty({64}, vl::dtype::f32)}, {"b", vl::tensor::empty({64}, vl::dtype::f32)}});
    fs::resize_file(p, fs::file_size(p) - 10);
    check_throws_with<vl::format_error>([&] { vl::safetensors_file::open(p); }, "extends past the end of the file", p.string() + ": tensor \"b\"");
}

BOOST_AUTO_TEST_CASE(dtypes) {
    expect_bad(st_image(R"({"a":)" + entry("Q4_K", "[1]", 0, 1) + "}", "x"), "tensor \"a\": unsupported dtype \"Q4_K\"");
    expect_bad(st_image(R"({"a":)" + entry("f32", "[1]", 0, 4) + "}", "xxxx"), "tensor \"a\": unsupported dtype \"f32\"");
    expect_bad(st_image(R"({"a":)" + entry("BOOL", "[1]", 0, 1) + "}", "x"), "unsupported dtype \"BOOL\"");
    expect_bad(st_image(R"({"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", "xxxx"), "unsupported dtype 4");
}

BOOST_AUTO_TEST_CASE(shapes) {
    expect_bad(st_image(R"({"a":)" + entry("U8", "[4294967296,4294967296]", 0, 0) + "}"),
               "tensor \"a\": element count of shape [4294967296, 4294967296] overflows int64");
    expect_bad(st_image(R"({"a":)" + entry("F32", "[2147483648,2147483648]", 0, 0) + "}"),
               "byte size of shape [2147483648, 2147483648] x 4-byte F32 overflows");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[-1]", 0, 0) + "}"), "shape entry 0 is not a non-negative integer (got -1)");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[2,2.0]", 0, 4) + "}", "xxxx"), "shape entry 1 is not a non-negative integer (got 2.0)");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[1e3]", 0, 1000) + "}", std::string(1000, 'x')), "shape entry 0 is not a non-negative integer");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[18446744073709551617]", 0, 0) + "}"), "shape entry 0 is not a non-negative integer");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[9223372036854775808]", 0, 0) + "}"),
               "shape entry 0 (9223372036854775808) exceeds 9223372036854775807");
    expect_bad(st_image(R"({"a":)" + entry("U8", "[\"1\"]", 0, 1) + "}", "x"), "shape entry 0 is not a non-negative integer");
    expect_bad(st_image(R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", "x"), "shape must be an array");
}

BOOST_AUTO_TEST_CASE(empty_and_zero_rank_tensors_are_valid) {
    const auto h = expect_good(st_image(R"({"e":)" + entry("F32", "[0]", 4, 4) + R"(,"e2":)" + entry("BF16", "[3,0,2]", 0, 0) +
                                        R"(,"s":)" + entry("F32", "[]", 0, 4) + "}",
                                        "abcd"));
    BOOST_TEST(h.tensors.size() == 3u);
    BOOST_TEST(h.tensors.at(2).shape.empty());
    BOOST_TEST(h.tensors.at(2).numel() == 1);
    BOOST_TEST(h.tensors.at(1).numel() == 0);
    BOOST_TEST(expect_good(st_image(R"({"e":)" + entry("I64", "[0]", 0, 0) + "}")).data_bytes == 0u);
}

BOOST_AUTO_TEST_CASE(entries) {
    expect_bad(st_image(R"({"a":[1]})"), "tensor \"a\": entry must be an object");
    expect_bad(st_image(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":0}})", "x"), "unexpected field \"extra\"");
    expect_bad(st_image(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", "x"), "tensor \"a\": missing field \"shape\"");
}

BOOST_AUTO_TEST_CASE(metadata) {
    expect_bad(st_image(R"({"__metadata__":{"a":1}})"), "__metadata__ value of \"a\" is not a string (got 1)");
    expect_bad(st_image(R"({"__metadata__":{"a":null}})"), "is not a string (got null)");
    expect_bad(st_image(R"({"__metadata__":{"a":{"b":"c"}}})"), "is not a string");
    expect_bad(st_image(R"({"__metadata__":"x"})"), "__metadata__ must be an object of strings");
    const auto h = expect_good(st_image(R"({"__metadata__":{"format":"pt","":""}})"));
    BOOST_TEST(h.metadata.at("format") == "pt");
}

BOOST_AUTO_TEST_CASE(tensor_names) {
    const std::string e = entry("U8", "[1]", 0, 1);
    expect_bad(st_image(R"({"":)" + e + "}", "x"), "tensor name is empty");
    expect_bad(st_image("{\"" + std::string(65537, 'n') + "\":" + e + "}", "x"), "tensor name of 65537 bytes exceeds the limit of 65536");
    expect_bad(st_image(R"({"a\u0000b":)" + e + "}", "x"), "tensor name \"a\\x00b\" contains a NUL byte");
    BOOST_TEST(expect_good(st_image("{\"" + std::string(65536, 'n') + "\":" + e + "}", "x")).tensors.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(checkpoints)

namespace {

// A model directory with shards A = {a1 (F32 [2]), a2 (BF16 [3])} and
// B = {b1 (I32 [2])}; `index` (if non-empty) is written as the index file.
struct model_dir : tmp_dir {
    explicit model_dir(const std::string& index = default_index()) {
        vl::save_safetensors(path / "A.safetensors",
                             {{"a1", vl::tensor::from(std::vector<float>{1, 2}, {2})},
                              {"a2", vl::tensor::from(std::vector<vl::bf16>{vl::bf16::from_float(0.5f), vl::bf16::from_float(-1),
                                                                            vl::bf16::from_float(4)},
                                                      {3})}});
        vl::save_safetensors(path / "B.safetensors", {{"b1", vl::tensor::from(std::vector<std::int32_t>{7, -7}, {2})}});
        if (!index.empty()) write_file(path / "model.safetensors.index.json", index);
    }
    static std::string default_index() {
        return R"({"metadata":{"total_size":20},"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","b1":"B.safetensors"}})";
    }
    fs::path index_path() const { return path / "model.safetensors.index.json"; }
};

}  // namespace

BOOST_AUTO_TEST_CASE(sharded_ok_and_lazy) {
    model_dir m;
    const auto ck = vl::checkpoint::open(m.path);
    BOOST_TEST(ck.shard_count() == 2u);
    BOOST_TEST(ck.open_shard_count() == 0u);
    BOOST_TEST(ck.names() == (std::vector<std::string>{"a1", "a2", "b1"}), boost::test_tools::per_element());
    BOOST_TEST(ck.total_bytes() == fs::file_size(m.path / "A.safetensors") + fs::file_size(m.path / "B.safetensors"));
    BOOST_TEST(ck.contains("a2"));
    BOOST_TEST(!ck.contains("zz"));
    BOOST_TEST(floats_of(ck.get("a1")) == (std::vector<float>{1, 2}), boost::test_tools::per_element());
    BOOST_TEST(ck.open_shard_count() == 1u);  // only A
    BOOST_TEST(floats_of(ck.load("a2", vl::dtype::f32)) == (std::vector<float>{0.5f, -1, 4}), boost::test_tools::per_element());
    BOOST_TEST(ck.open_shard_count() == 1u);
    BOOST_TEST(vl::name_of(ck.info("b1").type) == "I32");
    BOOST_TEST(ck.open_shard_count() == 2u);
    ck.verify();
    check_throws_with<vl::format_error>([&] { ck.info("zz"); }, "missing tensor \"zz\"", m.path.string());
}

BOOST_AUTO_TEST_CASE(single_file_directory) {
    tmp_dir d;
    vl::save_safetensors(d.path / "model.safetensors", {{"w", vl::tensor::from(std::vector<float>{3}, {1})}});
    const auto ck = vl::checkpoint::open(d.path);
    BOOST_TEST(ck.shard_count() == 1u);
    BOOST_TEST(ck.names() == std::vector<std::string>{"w"}, boost::test_tools::per_element());
    BOOST_TEST(floats_of(ck.get("w")) == std::vector<float>{3}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(directory_without_weights) {
    tmp_dir d;
    check_throws_with<vl::format_error>([&] { vl::checkpoint::open(d.path); }, "no model.safetensors or model.safetensors.index.json", d.path.string());
    check_throws_with<vl::io_error>([&] { vl::checkpoint::open(d.path / "nope"); }, "not a directory");
}

BOOST_AUTO_TEST_CASE(shard_paths_must_stay_inside_the_directory) {
    const auto index_with = [](const std::string& shard) {
        return R"({"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","b1":")" + shard + R"("}})";
    };
    {
        model_dir m(index_with("../B.safetensors"));
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "shard \"../B.safetensors\" escapes the model directory",
                                            m.index_path().string() + ": weight_map: tensor \"b1\"");
    }
    {
        model_dir m(index_with("/etc/passwd"));
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "shard \"/etc/passwd\" is an absolute path");
    }
    {
        model_dir m(index_with("sub/B.safetensors"));
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "must be a plain file name");
    }
    {
        model_dir m(index_with(""));
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "shard file name is empty");
    }
    {
        // A symlink whose name is plain but whose target lies outside.
        tmp_dir outside;
        vl::save_safetensors(outside.path / "B.safetensors", {{"b1", vl::tensor::from(std::vector<std::int32_t>{1}, {1})}});
        model_dir m(index_with("link.safetensors"));
        fs::create_symlink(outside.path / "B.safetensors", m.path / "link.safetensors");
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "outside the model directory",
                                            m.index_path().string() + ": shard \"link.safetensors\"");
    }
    {
        // A symlink inside the directory is fine.
        model_dir m(index_with("link.safetensors"));
        fs::create_symlink("B.safetensors", m.path / "link.safetensors");
        BOOST_TEST(vl::checkpoint::open(m.path).get("b1").data<std::int32_t>()[0] == 7);
    }
}

// Issue 13 B10: the symlink check ran at checkpoint::open and the lazy open used the path again, so a link
// swapped in between escaped the directory. The check is now made on the descriptor that is mapped.
BOOST_AUTO_TEST_CASE(shard_swapped_after_open_is_refused) {
    tmp_dir outside;
    vl::save_safetensors(outside.path / "B.safetensors", {{"b1", vl::tensor::from(std::vector<std::int32_t>{666, 666}, {2})}});
    model_dir m(R"({"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","b1":"link.safetensors"}})");
    fs::create_symlink("B.safetensors", m.path / "link.safetensors");
    const auto ck = vl::checkpoint::open(m.path);  // checked here: inside
    fs::remove(m.path / "link.safetensors");
    fs::create_symlink(outside.path / "B.safetensors", m.path / "link.safetensors");  // swapped before the lazy open
    check_throws_with<vl::format_error>([&] { (void)ck.get("b1"); }, "outside the model directory");
}

// Issue 13 B7: a FIFO as the index (or a shard) blocked in open() forever; now it is refused at once.
BOOST_AUTO_TEST_CASE(fifo_index_or_shard_does_not_block) {
    {
        tmp_dir d;
        BOOST_REQUIRE(::mkfifo((d.path / "model.safetensors.index.json").c_str(), 0600) == 0);
        check_throws_with<vl::io_error>([&] { vl::checkpoint::open(d.path); }, "not a regular file");
    }
    {
        tmp_dir d;
        BOOST_REQUIRE(::mkfifo((d.path / "model.safetensors").c_str(), 0600) == 0);
        BOOST_CHECK_THROW(vl::checkpoint::open(d.path), vl::error);
        check_throws_with<vl::io_error>([&] { vl::safetensors_file::open(d.path / "model.safetensors"); }, "not a regular file");
    }
}

// Issue 13: a process killed while writing left "<dest>.tmp-<pid>-<n>" behind. The data now goes to an
// unnamed file until commit, so nothing is visible in the directory mid-write.
BOOST_AUTO_TEST_CASE(nothing_visible_while_writing) {
    tmp_dir d;
    {
        vl::detail::atomic_file f(d.path / "out.bin");
        f.write("abc", 3);
        BOOST_TEST(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 0);
        f.commit();
    }
    BOOST_TEST(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);
    BOOST_TEST(fs::file_size(d.path / "out.bin") == 3u);
    {
        vl::detail::atomic_file f(d.path / "other.bin");
        f.write("abc", 3);
    }  // not committed: nothing left
    BOOST_TEST(std::distance(fs::directory_iterator(d.path), fs::directory_iterator()) == 1);
}

BOOST_AUTO_TEST_CASE(missing_shard) {
    model_dir m(R"({"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","b1":"C.safetensors"}})");
    check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "shard \"C.safetensors\" (of tensor \"b1\"): file",
                                        m.index_path().string());
    check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, "C.safetensors does not exist");
}

BOOST_AUTO_TEST_CASE(same_tensor_in_two_shards) {
    model_dir m(R"({"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","b1":"B.safetensors"}})");
    vl::save_safetensors(m.path / "B.safetensors", {{"b1", vl::tensor::from(std::vector<std::int32_t>{1}, {1})},
                                                    {"a1", vl::tensor::from(std::vector<float>{9, 9}, {2})}});
    const auto ck = vl::checkpoint::open(m.path);
    BOOST_TEST(floats_of(ck.get("a1")) == (std::vector<float>{1, 2}), boost::test_tools::per_element());  // lazily: B untouched
    check_throws_with<vl::format_error>([&] { ck.get("b1"); }, "holds tensor \"a1\" that the index assigns to shard \"A.safetensors\" (a tensor in two shards)",
                                        m.path.string() + ": shard \"B.safetensors\"");
    check_throws_with<vl::format_error>([&] { ck.verify(); }, "two shards");
    // The same tensor mapped twice in the index itself is a duplicate key.
    model_dir twice(R"({"weight_map":{"a1":"A.safetensors","a1":"B.safetensors"}})");
    check_throws_with<vl::format_error>([&] { vl::checkpoint::open(twice.path); }, "duplicate key \"a1\" inside \"weight_map\"");
}

BOOST_AUTO_TEST_CASE(index_and_shard_disagree) {
    {
        model_dir m(R"({"weight_map":{"a1":"A.safetensors","a2":"A.safetensors","ghost":"A.safetensors","b1":"B.safetensors"}})");
        const auto ck = vl::checkpoint::open(m.path);
        check_throws_with<vl::format_error>([&] { ck.get("a1"); }, "missing tensor \"ghost\" that the index assigns to it",
                                            m.path.string() + ": shard \"A.safetensors\"");
    }
    {
        model_dir m(R"({"weight_map":{"a1":"A.safetensors","b1":"B.safetensors"}})");
        const auto ck = vl::checkpoint::open(m.path);
        BOOST_TEST(ck.get("b1").numel() == 2);
        check_throws_with<vl::format_error>([&] { ck.get("a1"); }, "holds tensor \"a2\" that the index does not list");
    }
}

BOOST_AUTO_TEST_CASE(malformed_index) {
    const auto bad = [](const std::string& index, std::string_view fragment) {
        model_dir m(index);
        check_throws_with<vl::format_error>([&] { vl::checkpoint::open(m.path); }, fragment, m.index_path().string() + ": ");
    };
    bad("[]", "index must be a JSON object");
    bad("{}", "missing \"weight_map\"");
    bad(R"({"weight_map":[]})", "\"weight_map\" must be an object");
    bad(R"({"weight_map":{"a1":1}})", "tensor \"a1\": shard must be a file name string (got 1)");
    bad(R"({"weight_map":{"a1":"A\u0000"}})", "contains a NUL byte");
    bad(R"({"weight_map":{"":"A.safetensors"}})", "tensor name is empty");
    bad(R"({"weight_map":{"a1":".."}})", "escapes the model directory");
    bad("{\"weight_map\":{\"a1\":\"\xfe\"}}", "not valid UTF-8");
    bad(R"({"weight_map":{"a1":"A.safetensors"})", "invalid JSON");
}

BOOST_AUTO_TEST_CASE(load_all_progress_and_conversion) {
    model_dir m;
    const auto ck = vl::checkpoint::open(m.path);
    std::vector<double> fractions;
    std::vector<std::string> seen;
    const std::vector<std::string> want = {"a1", "a2", "b1", "a1"};
    const auto summary = vl::load_all(ck, want, vl::dtype::bf16, [&](double f, std::string_view name) {
        fractions.push_back(f);
        seen.emplace_back(name);
        return true;
    });
    BOOST_TEST(summary.tensor_count == 3u);
    BOOST_TEST(summary.bytes_read == 8u + 6u + 8u);
    BOOST_TEST(summary.seconds >= 0.0);
    BOOST_TEST(seen == (std::vector<std::string>{"a1", "a2", "b1"}), boost::test_tools::per_element());
    BOOST_REQUIRE(fractions.size() == 3u);
    BOOST_TEST(std::is_sorted(fractions.begin(), fractions.end()));
    BOOST_TEST(fractions.front() > 0.0);
    BOOST_TEST(fractions.back() == 1.0);
    BOOST_TEST(vl::name_of(summary.tensors.at("a1").type()) == "BF16");  // floats converted
    BOOST_TEST(vl::name_of(summary.tensors.at("b1").type()) == "I32");  // integers kept
    BOOST_TEST(floats_of(summary.tensors.at("a2")) == (std::vector<float>{0.5f, -1, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(load_all_opens_only_the_needed_shards) {
    model_dir m;
    const auto ck = vl::checkpoint::open(m.path);
    const std::vector<std::string> want = {"b1"};
    const auto summary = vl::load_all(ck, want, vl::dtype::f32);
    BOOST_TEST(summary.tensor_count == 1u);
    BOOST_TEST(ck.open_shard_count() == 1u);
}

BOOST_AUTO_TEST_CASE(load_all_abort_and_missing) {
    model_dir m;
    const auto ck = vl::checkpoint::open(m.path);
    const std::vector<std::string> want = {"a1", "a2", "b1"};
    int calls = 0;
    check_throws_with<vl::error>([&] { vl::load_all(ck, want, vl::dtype::f32, [&](double, std::string_view) { return ++calls < 2; }); },
                                 "loading aborted by the progress callback after 2 of 3 tensors", m.path.string());
    BOOST_TEST(calls == 2);
    calls = 0;
    const std::vector<std::string> missing = {"a1", "nope"};
    check_throws_with<vl::format_error>([&] { vl::load_all(ck, missing, vl::dtype::f32, [&](double, std::string_view) { return ++calls > 0; }); },
                                        "missing tensor \"nope\"");
    BOOST_TEST(calls == 0);  // checked before anything is loaded
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// The checkpoint fuzz corpus as regression tests: its first byte says what a file is ('H' a safetensors
// header, 'I' an index; see tests/fuzz/fuzz_checkpoint.cpp). Files named ok_* must parse, bad_* must be
// rejected with a vl::format_error; nothing may throw anything else. (seed_* files are the fuzzer's.)
BOOST_AUTO_TEST_SUITE(fuzz_corpus)

BOOST_AUTO_TEST_CASE(checkpoint_corpus) {
    std::size_t ok = 0, bad = 0;
    for (const auto& item : fs::directory_iterator(fs::path(VLGRAPH_SOURCE_DIR) / "tests/fuzz/corpus/checkpoint")) {
        const std::string name = item.path().filename().string();
        if (name.starts_with("seed_")) continue;
        const std::string file = read_file(item.path());
        BOOST_TEST_CONTEXT("corpus file " << name) {
            BOOST_TEST_REQUIRE((!file.empty() && (file[0] == 'H' || file[0] == 'I')));
            const std::string bytes = file.substr(1), origin = item.path().string();
            const auto parse = [&] {
                if (file[0] == 'H') vl::parse_safetensors_header(bytes, bytes.size(), origin);
                else vl::parse_checkpoint_index(bytes, origin);
            };
            if (name.starts_with("ok_")) {
                BOOST_CHECK_NO_THROW(parse());
                ++ok;
            } else {
                BOOST_TEST_REQUIRE(name.starts_with("bad_"));
                check_throws_with<vl::format_error>(parse, "", origin + ": ");
                ++bad;
            }
        }
    }
    BOOST_TEST(ok >= 2u);
    BOOST_TEST(bad >= 2u);
}

BOOST_AUTO_TEST_SUITE_END()
