// Writing a status message into the caller's gdn_errbuf (truncated, always NUL-terminated).
#pragma once

#include <cstdarg>
#include <cstdio>

#include "gdn/plugin.h"

namespace gdn_cpu {

__attribute__((format(printf, 3, 4))) inline gdn_status fail(gdn_errbuf err, gdn_status status, const char* format,
                                                             ...) {
    if (err.text && err.capacity > 0) {
        va_list args;
        va_start(args, format);
        std::vsnprintf(err.text, err.capacity, format, args);
        va_end(args);
    }
    return status;
}

inline void clear(gdn_errbuf err) {
    if (err.text && err.capacity > 0) err.text[0] = '\0';
}

}  // namespace gdn_cpu
