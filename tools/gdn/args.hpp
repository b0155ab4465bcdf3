// A small command-line parser: --name value, --name=value, --flag, and positional arguments.
// Every command declares its options, so unknown ones are errors and --help lists them all.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace gdn::cli {

struct Option {
    std::string name;        // without the dashes
    std::string value_name;  // empty for a flag
    std::string help;
    std::string default_value;
};

class Args {
public:
    Args(std::string command, std::string summary, std::vector<Option> options, std::string positional_help = "");
    // Returns false when --help was asked (usage printed); throws std::invalid_argument on errors.
    bool parse(int argc, char** argv);
    void print_usage() const;

    bool flag(const std::string& name) const;
    // Whether the option was on the command line (not only its default).
    bool given(const std::string& name) const;
    std::string str(const std::string& name) const;
    long long integer(const std::string& name) const;
    std::vector<long long> integers(const std::string& name) const;  // "1,2,3"
    const std::vector<std::string>& positional() const { return positional_; }

private:
    const Option& find(const std::string& name) const;
    std::string command_, summary_, positional_help_;
    std::vector<Option> options_;
    std::map<std::string, std::string> values_;
    std::set<std::string> given_;
    std::vector<std::string> positional_;
};

}  // namespace gdn::cli
