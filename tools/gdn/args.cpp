#include "args.hpp"

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace gdn::cli {

Args::Args(std::string command, std::string summary, std::vector<Option> options, std::string positional_help)
    : command_(std::move(command)), summary_(std::move(summary)), positional_help_(std::move(positional_help)),
      options_(std::move(options)) {
    for (const auto& o : options_)
        if (!o.value_name.empty()) values_[o.name] = o.default_value;
}

const Option& Args::find(const std::string& name) const {
    for (const auto& o : options_)
        if (o.name == name) return o;
    throw std::invalid_argument("unknown option --" + name + " (see gdn " + command_ + " --help)");
}

bool Args::parse(int argc, char** argv) {
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            print_usage();
            return false;
        }
        if (a.rfind("--", 0) != 0) {
            positional_.push_back(a);
            continue;
        }
        std::string name = a.substr(2), value;
        const auto eq = name.find('=');
        const bool has_value = eq != std::string::npos;
        if (has_value) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const Option& o = find(name);
        given_.insert(name);
        if (o.value_name.empty()) {
            if (has_value) throw std::invalid_argument("--" + name + " takes no value");
            values_[name] = "1";
            continue;
        }
        if (!has_value) {
            if (i + 1 >= argc) throw std::invalid_argument("--" + name + " needs a value <" + o.value_name + ">");
            value = argv[++i];
        }
        values_[name] = value;
    }
    return true;
}

void Args::print_usage() const {
    std::printf("usage: gdn %s [options]%s%s\n\n%s\n\noptions:\n", command_.c_str(),
                positional_help_.empty() ? "" : " ", positional_help_.c_str(), summary_.c_str());
    for (const auto& o : options_) {
        std::string left = "--" + o.name + (o.value_name.empty() ? "" : " <" + o.value_name + ">");
        std::printf("  %-28s %s", left.c_str(), o.help.c_str());
        if (!o.default_value.empty()) std::printf(" (default: %s)", o.default_value.c_str());
        std::printf("\n");
    }
    std::printf("  %-28s %s\n", "--help", "show this help");
}

bool Args::flag(const std::string& name) const {
    find(name);
    auto it = values_.find(name);
    return it != values_.end() && it->second == "1";
}

bool Args::given(const std::string& name) const {
    find(name);
    return given_.count(name) != 0;
}

std::string Args::str(const std::string& name) const {
    find(name);
    auto it = values_.find(name);
    return it == values_.end() ? std::string() : it->second;
}

long long Args::integer(const std::string& name) const {
    const std::string s = str(name);
    try {
        std::size_t used = 0;
        long long v = std::stoll(s, &used);
        if (used != s.size()) throw std::invalid_argument("");
        return v;
    } catch (...) {
        throw std::invalid_argument("--" + name + ": an integer expected, got '" + s + "'");
    }
}

std::vector<long long> Args::integers(const std::string& name) const {
    std::vector<long long> out;
    std::stringstream ss(str(name));
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            std::size_t used = 0;
            out.push_back(std::stoll(item, &used));
            if (used != item.size()) throw std::invalid_argument("");
        } catch (...) {
            throw std::invalid_argument("--" + name + ": comma-separated integers expected, got '" + str(name) + "'");
        }
    }
    return out;
}

}  // namespace gdn::cli
