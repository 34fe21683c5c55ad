// examples/vlgraph/args.hpp — the command line of one subcommand: `--name value`
// options (repeatable) and `--flag` switches, checked against what the
// subcommand accepts.
#pragma once

#include <vlgraph/error.hpp>
#include <vlgraph/image/image.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace vlcli {

struct usage_error : vl::error {
    using vl::error::error;
};

class args {
public:
    // options: names taking a value; flags: names without one.
    args(int argc, char** argv, int first, const std::set<std::string>& options, const std::set<std::string>& flags) {
        for (int i = first; i < argc; ++i) {
            const std::string a = argv[i];
            if (a.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + a + "'");
            const std::string name = a.substr(2);
            if (flags.count(name)) {
                flags_.insert(name);
            } else if (options.count(name)) {
                if (i + 1 >= argc) throw usage_error("--" + name + " needs a value");
                values_[name].push_back(argv[++i]);
            } else {
                throw usage_error("unknown option '" + a + "'");
            }
        }
    }
    bool flag(const std::string& name) const { return flags_.count(name) > 0; }
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    const std::vector<std::string>& all(const std::string& name) const {
        static const std::vector<std::string> none;
        auto it = values_.find(name);
        return it == values_.end() ? none : it->second;
    }
    std::string required(const std::string& name) const {
        if (!has(name)) throw usage_error("--" + name + " is required");
        return one(name);
    }
    std::string one(const std::string& name) const {
        const auto& v = all(name);
        if (v.size() > 1) throw usage_error("--" + name + " given more than once");
        return v.empty() ? std::string() : v[0];
    }

    // --name as an integer in [lo, hi].
    long long integer(const std::string& name, long long lo, long long hi) const {
        const std::string t = one(name);
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(t.c_str(), &end, 10);
        if (t.empty() || *end || errno || v < lo || v > hi)
            throw usage_error("--" + name + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + t + "'");
        return v;
    }
    // --name as a finite number.
    double real(const std::string& name) const {
        const std::string t = one(name);
        char* end = nullptr;
        const double v = std::strtod(t.c_str(), &end);
        if (t.empty() || *end || !std::isfinite(v)) throw usage_error("--" + name + " must be a finite number, got '" + t + "'");
        return v;
    }
    // --threads N (1..1024), 0 (all hardware threads) when absent.
    int threads() const { return has("threads") ? static_cast<int>(integer("threads", 1, 1024)) : 0; }
    // --backend cpu|cuda (default cpu); cuda only in a program built with the CUDA backend.
    std::string backend(bool cuda_built) const {
        const std::string b = has("backend") ? one("backend") : "cpu";
        if (b != "cpu" && b != "cuda") throw usage_error("--backend must be cpu or cuda, got '" + b + "'");
        if (b == "cuda" && !cuda_built) throw usage_error("--backend cuda: this vlgraph program was built without the CUDA backend");
        return b;
    }

    // --hf-image-path string|pil (default string): which of HF's two image paths the decode reproduces
    // (string: load_image on a path or base64, EXIF applied, alpha dropped; pil: a PIL image given to the
    // processor, alpha on white, EXIF ignored; see vlgraph/image/image.hpp).
    vl::image::hf_image_path hf_image_path() const {
        const std::string p = has("hf-image-path") ? one("hf-image-path") : "string";
        if (p != "string" && p != "pil") throw usage_error("--hf-image-path must be string or pil, got '" + p + "'");
        return p == "pil" ? vl::image::hf_image_path::pil : vl::image::hf_image_path::string;
    }

private:
    std::map<std::string, std::vector<std::string>> values_;
    std::set<std::string> flags_;
};

// Seconds since t0, for the timings the subcommands report.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace vlcli
