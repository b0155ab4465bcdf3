#include "progress.hpp"

#include <cstdio>
#include <unistd.h>

namespace gdn::cli {

Progress::Progress(std::string label, long long total)
    : label_(std::move(label)), total_(total), tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

Progress::~Progress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
}

void Progress::update(long long done) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::seconds(1) || now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    shown_ = true;
    const double pct = total_ > 0 ? 100.0 * double(done) / double(total_) : 0.0;
    std::fprintf(stderr, "\r%s %lld/%lld (%.0f%%)", label_.c_str(), done, total_, pct);
    std::fflush(stderr);
}

}  // namespace gdn::cli
