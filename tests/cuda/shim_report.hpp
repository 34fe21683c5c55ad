// tests/cuda/shim_report.hpp — the counts of the stand-in for the CUDA runtime, cuBLASLt and NCCL
// (../shared/tools/cudashim, its README) since its last report, read in-process: vlshim_report prints them
// (and resets them), this parses its lines. Empty when the program runs on the real runtime.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace vl::test {

struct shim_counts {
    std::map<std::string, long> n;
    bool problems = false;
    std::string text;
};

// Call with no other thread issuing CUDA work (the counts are the process's; the report goes through stdout).
inline shim_counts shim_report(const char* label) {
    shim_counts r;
    auto report = reinterpret_cast<void (*)(const char*, int)>(dlsym(RTLD_DEFAULT, "vlshim_report"));
    if (!report) return r;
    std::fflush(stdout);
    char path[] = "/tmp/vlshim-report-XXXXXX";
    const int fd = mkstemp(path);
    const int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    report(label, 1);
    std::fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fd);
    std::ifstream in(path);
    std::stringstream all;
    all << in.rdbuf();
    std::remove(path);
    r.text = all.str();
    std::fputs(r.text.c_str(), stdout);
    const auto grab = [&](const char* key, const char* pattern) {
        std::smatch m;
        if (std::regex_search(r.text, m, std::regex(pattern))) r.n[key] = std::stol(m[1]);
    };
    grab("launches", R"(\n  launches (\d+))");
    grab("cudaMalloc", R"(cudaMalloc (\d+))");
    grab("sync stream", R"(sync stream (\d+))");
    grab("sync device", R"(sync stream \d+ device (\d+))");
    grab("memcpy sync", R"(memcpy sync (\d+))");
    grab("matmul", R"(matmul (\d+))");
    grab("graph launch", R"(update \d+ launch (\d+))");
    grab("replayed kernel", R"(replayed: kernel (\d+))");
    grab("replayed gemm", R"(replayed: kernel \d+ gemm (\d+))");
    // NCCL (present when libnccl is the stand-in's): calls of every rank, those replayed from graphs, captured.
    grab("allReduce", R"(nccl:.* allReduce (\d+))");
    grab("allGather", R"(nccl:.* allGather (\d+))");
    grab("broadcast", R"(nccl:.* broadcast (\d+))");
    grab("nccl from graphs", R"(from graphs (\d+), captured \d+)");
    grab("nccl captured", R"(from graphs \d+, captured (\d+))");
    r.problems = r.text.find("PROBLEM") != std::string::npos;
    return r;
}

}  // namespace vl::test
