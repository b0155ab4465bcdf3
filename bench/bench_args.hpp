// Command-line options of the benchmarks: "--name value" options and bare "--name" flags, each
// bound to a variable that holds its default. An unknown option, a missing value or a value that
// is not a whole number where one is expected prints what was wrong and the usage line, and exits
// with 2; --help prints the usage line and exits with 0.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace gdn::bench {

class Args {
public:
    // `usage`: the options in brackets, printed after the program name.
    Args(std::string program, std::string usage) : program_(std::move(program)), usage_(std::move(usage)) {}

    Args& option(const char* name, std::string& v) {
        return add(name, true, [&v](const std::string& s) {
            v = s;
            return true;
        });
    }
    Args& option(const char* name, int& v) { return add(name, true, number(v)); }
    Args& option(const char* name, long& v) { return add(name, true, number(v)); }
    Args& option(const char* name, long long& v) { return add(name, true, number(v)); }
    Args& option(const char* name, unsigned long& v) { return add(name, true, number(v)); }
    Args& option(const char* name, unsigned long long& v) { return add(name, true, number(v)); }
    Args& flag(const char* name, bool& v) {
        return add(name, false, [&v](const std::string&) {
            v = true;
            return true;
        });
    }

    void parse(int argc, char** argv) const {
        for (int i = 1; i < argc; ++i) {
            const std::string a = argv[i];
            if (a == "--help") exit_with_usage(0);
            const Option* o = find(a);
            if (!o) fail(a + ": not an option");
            std::string value;
            if (o->takes_value) {
                if (i + 1 >= argc) fail(a + " needs a value");
                value = argv[++i];
            }
            if (!o->set(value)) fail(a + ": a whole number, got '" + value + "'");
        }
    }

private:
    struct Option {
        std::string name;
        bool takes_value;
        std::function<bool(const std::string&)> set;
    };

    Args& add(const char* name, bool takes_value, std::function<bool(const std::string&)> set) {
        options_.push_back({name, takes_value, std::move(set)});
        return *this;
    }
    template <class T>
    static std::function<bool(const std::string&)> number(T& v) {
        return [&v](const std::string& s) {
            T parsed{};
            const char* end = s.data() + s.size();
            const auto r = std::from_chars(s.data(), end, parsed);
            if (s.empty() || r.ec != std::errc() || r.ptr != end) return false;
            v = parsed;
            return true;
        };
    }
    const Option* find(const std::string& name) const {
        for (const Option& o : options_)
            if (o.name == name) return &o;
        return nullptr;
    }
    [[noreturn]] void fail(const std::string& what) const {
        std::fprintf(stderr, "%s: %s\n", program_.c_str(), what.c_str());
        exit_with_usage(2);
    }
    [[noreturn]] void exit_with_usage(int code) const {
        std::fprintf(code ? stderr : stdout, "usage: %s %s\n", program_.c_str(), usage_.c_str());
        std::exit(code);
    }

    std::string program_, usage_;
    std::vector<Option> options_;
};

}  // namespace gdn::bench
