// examples/vlgraph/args.hpp — the command line of one subcommand: `--name value`
// options (repeatable) and `--flag` switches, checked against what the
// subcommand accepts.
#pragma once

#include <vlgraph/error.hpp>

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

private:
    std::map<std::string, std::vector<std::string>> values_;
    std::set<std::string> flags_;
};

}  // namespace vlcli
