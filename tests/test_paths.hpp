// tests/test_paths.hpp — where the tests find their files, in one place.
//
// Every test program gets this header before its own code (tests/CMakeLists.txt
// force-includes it: `-include` for g++, `--pre-include` for nvcc), so the names
// the tests use — VLGRAPH_TEST_DATA, VLGRAPH_SOURCE_DIR, VLGRAPH_SHARED_DIR — are
// expressions of type `const char*` read at run time:
//
//   1. the environment variable of the same name, when set and not empty
//      (scripts/gpu-check.sh sets VLGRAPH_TEST_DATA to a bundle's data/ folder);
//   2. else the default compiled in by CMake (VLGRAPH_TEST_DATA_DEFAULT, ...: the
//      source tree's absolute paths in an ordinary build; empty in a relocatable
//      build, -DVLGRAPH_RELOCATABLE=ON, which compiles in no build-machine path);
//   3. else, for VLGRAPH_TEST_DATA only, `<folder of the executable>/../data` when
//      that folder exists (a bundle's layout: bin/ next to data/);
//   4. else it prints once which variable to set and yields "" (the test then
//      fails on the first file it cannot open).
//
// Header-only and free of Boost, so it can come before BOOST_TEST_MODULE.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#ifndef VLGRAPH_TEST_DATA_DEFAULT
#define VLGRAPH_TEST_DATA_DEFAULT ""
#endif
#ifndef VLGRAPH_SOURCE_DIR_DEFAULT
#define VLGRAPH_SOURCE_DIR_DEFAULT ""
#endif
#ifndef VLGRAPH_SHARED_DIR_DEFAULT
#define VLGRAPH_SHARED_DIR_DEFAULT ""
#endif

namespace vl_test_paths {

// `<folder of this executable>/../<name>` when it is a directory, else "".
inline std::string beside_executable(const char* name) {
    std::error_code ec;
    const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {};
    const std::filesystem::path p = exe.parent_path().parent_path() / name;
    return std::filesystem::is_directory(p, ec) ? p.string() : std::string{};
}

inline std::string resolve(const char* var, const char* compiled, const char* beside) {
    if (const char* e = std::getenv(var); e && *e) return e;
    if (compiled && *compiled) return compiled;
    if (beside) {
        if (std::string found = beside_executable(beside); !found.empty()) return found;
    }
    std::fprintf(stderr, "vlgraph tests: %s is not set and no default is compiled in: set it to the folder it names\n", var);
    return {};
}

inline const char* test_data() {
    static const std::string p = resolve("VLGRAPH_TEST_DATA", VLGRAPH_TEST_DATA_DEFAULT, "data");
    return p.c_str();
}
inline const char* source_dir() {
    static const std::string p = resolve("VLGRAPH_SOURCE_DIR", VLGRAPH_SOURCE_DIR_DEFAULT, nullptr);
    return p.c_str();
}
inline const char* shared_dir() {
    static const std::string p = resolve("VLGRAPH_SHARED_DIR", VLGRAPH_SHARED_DIR_DEFAULT, nullptr);
    return p.c_str();
}

}  // namespace vl_test_paths

#define VLGRAPH_TEST_DATA (::vl_test_paths::test_data())
#define VLGRAPH_SOURCE_DIR (::vl_test_paths::source_dir())
#define VLGRAPH_SHARED_DIR (::vl_test_paths::shared_dir())
