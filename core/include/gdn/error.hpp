// gdn::Error — the one exception type of the C++ API. It carries the C status code so that a
// caller can tell "unsupported" from "invalid argument" from "device failure".
#pragma once

#include <stdexcept>
#include <string>

#include "gdn/export.hpp"
#include "gdn/plugin.h"

namespace gdn {

class GDN_API Error : public std::runtime_error {
public:
    Error(gdn_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
    gdn_status status() const noexcept { return status_; }

private:
    gdn_status status_;
};

// Name of a status code, e.g. "invalid argument".
GDN_API const char* status_name(gdn_status status) noexcept;

// Throws Error(GDN_ERR_INVALID_ARGUMENT, "<argument>: <expected>").
[[noreturn]] GDN_API void invalid_argument(const std::string& argument, const std::string& expected);

}  // namespace gdn
