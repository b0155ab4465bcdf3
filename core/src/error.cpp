#include "gdn/error.hpp"

namespace gdn {

const char* status_name(gdn_status status) noexcept {
    switch (status) {
        case GDN_OK: return "ok";
        case GDN_ERR_INVALID_ARGUMENT: return "invalid argument";
        case GDN_ERR_UNSUPPORTED: return "unsupported";
        case GDN_ERR_OUT_OF_MEMORY: return "out of memory";
        case GDN_ERR_NO_DEVICE: return "no device";
        case GDN_ERR_DRIVER: return "driver error";
        case GDN_ERR_RUNTIME: return "runtime error";
        case GDN_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

void invalid_argument(const std::string& argument, const std::string& expected) {
    throw Error(GDN_ERR_INVALID_ARGUMENT, argument + ": " + expected);
}

}  // namespace gdn
