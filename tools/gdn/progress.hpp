// A progress line on stderr for work that takes more than a second; silent when stderr is not a
// terminal or the work is quick, so logs stay clean.
#pragma once

#include <chrono>
#include <string>

namespace gdn::cli {

class Progress {
public:
    Progress(std::string label, long long total);
    ~Progress();
    void update(long long done);

private:
    std::string label_;
    long long total_;
    bool tty_, shown_ = false;
    std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace gdn::cli
