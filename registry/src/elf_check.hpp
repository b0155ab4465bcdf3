// A look at an ELF file without the dynamic loader. Before a plugin is mapped: glibc's loader
// maps the segments a program header names without checking that the file holds them; touching
// a page past the end of a truncated file (an interrupted copy or install) is SIGBUS, which would
// take the host down. And the library search path (DT_RPATH, DT_RUNPATH) a binary carries.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gdn::detail {

// Empty when the file is not an ELF file of this host's class and byte order (the loader then
// refuses it with its own message) or when every part the loader maps lies inside the file.
// Otherwise the reason, naming the file, e.g.
// "<path>: truncated ELF file: segment 3 (PT_LOAD) needs bytes up to 11736, the file has 4096".
std::string elf_truncation(const std::filesystem::path& file);

// The library search paths of a dynamically linked ELF file of this host's class.
struct ElfSearchPaths {
    bool is_elf = false;         // false: not an ELF file of this host (nothing else is set)
    bool loadable = false;       // an executable or a shared object (not an object file)
    std::string error;           // a malformed dynamic section, when is_elf
    std::string rpath, runpath;  // DT_RPATH, DT_RUNPATH ('\0'-free strings; empty when absent)
    bool has_rpath = false, has_runpath = false;
};
ElfSearchPaths elf_search_paths(const std::filesystem::path& file);

// What is unsafe in one DT_RPATH / DT_RUNPATH string: an empty entry (the loader searches the
// current working directory) or a relative one (searched relative to the working directory). An
// entry is safe when it is absolute or starts with $ORIGIN / ${ORIGIN}. One line per problem,
// e.g. "RUNPATH `$ORIGIN/../lib:` entry 2 is empty (the current directory)".
std::vector<std::string> search_path_problems(const char* tag, const std::string& value);

}  // namespace gdn::detail
