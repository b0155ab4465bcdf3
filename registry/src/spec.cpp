// Parsing of backend specifications ("name[:device]", case-insensitive).
#include "spec.hpp"

#include <cctype>
#include <charconv>
#include <string>

#include "gdn/error.hpp"

namespace gdn::detail {

std::string to_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

[[noreturn]] void malformed(std::string_view spec, const char* why) {
    invalid_argument("backend `" + std::string(spec) + "`",
                     std::string("expected <name>[:<device index>] or auto (") + why + ")");
}

}  // namespace

BackendSpec parse_backend_spec(std::string_view raw) {
    const std::string_view spec = trim(raw);
    BackendSpec out;
    const auto colon = spec.find(':');
    const std::string_view name = spec.substr(0, colon);
    out.name = to_lower(name);
    if (colon != std::string_view::npos) {
        const std::string_view index = spec.substr(colon + 1);
        int device = -1;
        const auto [end, ec] = std::from_chars(index.data(), index.data() + index.size(), device);
        if (index.empty() || ec != std::errc() || end != index.data() + index.size() || device < 0)
            malformed(raw, "the device index must be a non-negative integer");
        if (name.empty()) malformed(raw, "a device index needs a backend name");
        out.device = device;
        out.has_device = true;
    }
    if (out.name.empty() || out.name == "auto") {
        if (out.has_device) malformed(raw, "auto chooses the device itself");
        out.automatic = true;
        out.name.clear();
    }
    return out;
}

}  // namespace gdn::detail
