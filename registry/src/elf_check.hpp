// A look at a plugin file before the dynamic loader maps it. glibc's loader maps the segments a
// program header names without checking that the file holds them; touching a page past the end
// of a truncated file (an interrupted copy or install) is SIGBUS, which would take the host down.
#pragma once

#include <filesystem>
#include <string>

namespace gdn::detail {

// Empty when the file is not an ELF file of this host's class and byte order (the loader then
// refuses it with its own message) or when every part the loader maps lies inside the file.
// Otherwise the reason, naming the file, e.g.
// "<path>: truncated ELF file: segment 3 (PT_LOAD) needs bytes up to 11736, the file has 4096".
std::string elf_truncation(const std::filesystem::path& file);

}  // namespace gdn::detail
