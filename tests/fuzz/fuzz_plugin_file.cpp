// Fuzz target: what the registry does with a plugin file it finds. The input becomes a file
// named libgdn_fuzz.so and a Registry is built over exactly that file. Whatever the bytes (text,
// garbage, a truncated copy of a real plugin), the host must get a load report, with a reason
// when it is not usable, and must not crash. (A copy truncated only past the parts the loader
// maps is still a working plugin.)
//
// The first byte chooses how the file is made:
//   'T' n0 n1    the first n0 + 256*n1 bytes (modulo its size) of a real, working test plugin:
//                a truncated copy, as an interrupted copy or install leaves it
//   anything else: the whole input as it is (text, garbage), except that an input starting with
//                the ELF magic gets its first byte changed
// Crafted ELF files (well-formed headers around hostile contents) are out of scope: loading a
// plugin runs its code (constructors, init), so a plugin file is trusted like any library; the
// registry defends against damaged and wrong files, not against hostile ones. The real plugin
// is GDN_FUZZ_PLUGIN (a path known at build time; an environment variable of the same name
// overrides it).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "gdn/registry.hpp"

namespace fs = std::filesystem;

namespace {

const std::vector<char>& real_plugin() {
    static const std::vector<char> bytes = [] {
        const char* env = std::getenv("GDN_FUZZ_PLUGIN");
        std::ifstream in(env ? env : GDN_FUZZ_PLUGIN, std::ios::binary);
        return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }();
    return bytes;
}

const fs::path& work_file() {
    static const fs::path file = [] {
        const fs::path dir = fs::temp_directory_path() / ("gdn_fuzz_plugin_" + std::to_string(::getpid()));
        fs::create_directories(dir);
        fs::permissions(dir, fs::perms(0755));  // a group-writable directory would be refused first
        return dir / "libgdn_fuzz.so";
    }();
    return file;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<char> bytes;
    const char* in = reinterpret_cast<const char*>(data);
    const std::vector<char>& real = real_plugin();
    if (size >= 3 && data[0] == 'T' && !real.empty()) {
        const std::size_t n = (std::size_t(data[1]) | std::size_t(data[2]) << 8) % real.size();
        bytes.assign(real.begin(), real.begin() + std::ptrdiff_t(n));
    } else {
        bytes.assign(in, in + size);
        if (bytes.size() >= 4 && bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F')
            bytes[0] = 'X';
    }
    {
        // A new file (a new inode) every time, never the old one rewritten: a library still mapped
        // from the previous input (GDN_PLUGIN_NODELETE) must not see its file change under it,
        // and the dynamic loader must not take the new file for the one it already has.
        std::error_code ec;
        fs::remove(work_file(), ec);
        std::ofstream out(work_file(), std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), std::streamsize(bytes.size()));
        out.close();
        fs::permissions(work_file(), fs::perms(0644), ec);
    }
    const gdn::Registry reg({work_file()});
    const auto reports = reg.reports();
    if (reports.size() != 1) std::abort();
    const gdn::LoadReport& r = reports[0];
    if (!r.usable && r.reason.empty()) std::abort();
    (void)gdn::format_report(r);
    if (r.usable) {
        (void)reg.open("auto");
    } else {
        try {
            (void)reg.open("fuzz");
            std::abort();  // an unusable plugin was opened by its file's name
        } catch (const gdn::Error&) {}
    }
    return 0;
}
