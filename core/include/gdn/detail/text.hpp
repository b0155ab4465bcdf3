// gdn::detail::Text: builds a message from strings and numbers, like an ostringstream, without
// iostreams.
//
// Why: on a GPU machine with Python 3.12 and PyTorch 2.11, a process that imported gdn and then
// torch crashed (SIGSEGV) in the first number gdn's libraries wrote to an ostringstream (a load
// report's str(), a golden file's description); the same calls formatted with std::to_string and
// snprintf ran. torch's libc10.so and libtorch.so define libstdc++ stream and locale symbols of their
// own, which can take the place of libstdc++'s once loaded; a small library formatting with a stream
// in the same process did not crash, so the exact path is not pinned down. Messages that Python can
// reach are therefore built without iostreams. Internal: not part of gdn's API.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace gdn::detail {

class Text {
public:
    Text& operator<<(std::string_view s) {
        text_ += s;
        return *this;
    }
    Text& operator<<(const char* s) { return *this << std::string_view(s ? s : "(null)"); }
    Text& operator<<(const std::string& s) { return *this << std::string_view(s); }
    Text& operator<<(char c) {
        text_ += c;
        return *this;
    }
    Text& operator<<(bool b) { return *this << (b ? "1" : "0"); }
    // Integers as std::to_string writes them; floating point as printf's %g (a stream's default).
    template <typename T, std::enable_if_t<std::is_arithmetic_v<T>, int> = 0>
    Text& operator<<(T v) {
        if constexpr (std::is_floating_point_v<T>) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%g", double(v));
            text_ += buf;
        } else {
            text_ += std::to_string(v);
        }
        return *this;
    }
    const std::string& str() const { return text_; }

private:
    std::string text_;
};

}  // namespace gdn::detail
