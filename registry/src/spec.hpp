// Backend specifications as users write them: "cpu", "CUDA", "cuda:1", "auto", "".
#pragma once

#include <string>
#include <string_view>

namespace gdn::detail {

struct BackendSpec {
    std::string name;  // lower case; empty for the automatic choice
    int device = 0;
    bool automatic = false;
    bool has_device = false;  // ":N" was written
};

// Throws Error(GDN_ERR_INVALID_ARGUMENT) naming the expected form when `spec` is malformed.
BackendSpec parse_backend_spec(std::string_view spec);

std::string to_lower(std::string_view s);

}  // namespace gdn::detail
