#include "elf_check.hpp"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <vector>

namespace gdn::detail {

namespace {
#if defined(__LP64__)
using Ehdr = Elf64_Ehdr;
using Phdr = Elf64_Phdr;
using Dyn = Elf64_Dyn;
constexpr unsigned char host_class = ELFCLASS64;
#else
using Ehdr = Elf32_Ehdr;
using Phdr = Elf32_Phdr;
using Dyn = Elf32_Dyn;
constexpr unsigned char host_class = ELFCLASS32;
#endif
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr unsigned char host_data = ELFDATA2LSB;
#else
constexpr unsigned char host_data = ELFDATA2MSB;
#endif

const char* segment_type(uint32_t t) {
    switch (t) {
        case PT_LOAD: return "PT_LOAD";
        case PT_DYNAMIC: return "PT_DYNAMIC";
        case PT_NOTE: return "PT_NOTE";
        case PT_GNU_PROPERTY: return "PT_GNU_PROPERTY";
        default: return nullptr;
    }
}
}  // namespace

std::string elf_truncation(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return {};  // the loader says why it cannot open it
    in.seekg(0, std::ios::end);
    const auto end = in.tellg();
    if (end < 0) return {};
    const uint64_t size = uint64_t(end);
    in.seekg(0);

    Ehdr eh{};
    if (size < sizeof eh || !in.read(reinterpret_cast<char*>(&eh), sizeof eh)) return {};
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != host_class ||
        eh.e_ident[EI_DATA] != host_data)
        return {};  // not ours to judge: the loader refuses these before mapping anything

    const std::string where = file.string() + ": truncated ELF file: ";
    if (eh.e_phentsize != sizeof(Phdr) || eh.e_phnum == 0) return {};  // refused by the loader
    const uint64_t ph_end = uint64_t(eh.e_phoff) + uint64_t(eh.e_phnum) * sizeof(Phdr);
    if (eh.e_phoff > size || ph_end > size)
        return where + "the program headers need bytes up to " + std::to_string(ph_end) + ", the file has " +
               std::to_string(size);

    std::vector<Phdr> ph(eh.e_phnum);
    in.seekg(std::streamoff(eh.e_phoff));
    if (!in.read(reinterpret_cast<char*>(ph.data()), std::streamsize(ph.size() * sizeof(Phdr))))
        return where + "cannot read the program headers";
    for (std::size_t i = 0; i < ph.size(); ++i) {
        // Segments the loader maps from the file or reads through a mapping.
        const char* type = segment_type(ph[i].p_type);
        if (!type || ph[i].p_filesz == 0) continue;
        const uint64_t seg_end = uint64_t(ph[i].p_offset) + uint64_t(ph[i].p_filesz);
        if (ph[i].p_offset > size || seg_end > size || seg_end < uint64_t(ph[i].p_offset))
            return where + "segment " + std::to_string(i) + " (" + type + ") needs bytes up to " +
                   std::to_string(seg_end) + ", the file has " + std::to_string(size);
    }
    return {};
}

ElfSearchPaths elf_search_paths(const std::filesystem::path& file) {
    ElfSearchPaths out;
    std::ifstream in(file, std::ios::binary);
    if (!in) return out;
    in.seekg(0, std::ios::end);
    const auto end = in.tellg();
    if (end < 0) return out;
    const uint64_t size = uint64_t(end);
    in.seekg(0);
    Ehdr eh{};
    if (size < sizeof eh || !in.read(reinterpret_cast<char*>(&eh), sizeof eh)) return out;
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != host_class ||
        eh.e_ident[EI_DATA] != host_data)
        return out;
    out.is_elf = true;
    out.loadable = eh.e_type == ET_EXEC || eh.e_type == ET_DYN;
    if (!out.loadable) return out;
    // Reads `bytes` at `offset`, inside the file only.
    auto read_at = [&](uint64_t offset, void* dst, uint64_t bytes) {
        if (offset > size || bytes > size - offset) return false;
        in.clear();
        in.seekg(std::streamoff(offset));
        return bool(in.read(static_cast<char*>(dst), std::streamsize(bytes)));
    };
    if (eh.e_phnum == 0) return out;  // no program headers: nothing the loader would search
    if (eh.e_phentsize != sizeof(Phdr)) {
        out.error = "program header entries of " + std::to_string(eh.e_phentsize) + " bytes";
        return out;
    }
    std::vector<Phdr> ph(eh.e_phnum);
    if (!read_at(eh.e_phoff, ph.data(), uint64_t(ph.size()) * sizeof(Phdr))) {
        out.error = "the program headers lie outside the file";
        return out;
    }
    const Phdr* dynamic = nullptr;
    for (const Phdr& p : ph)
        if (p.p_type == PT_DYNAMIC) dynamic = &p;
    if (!dynamic) return out;        // statically linked
    if (dynamic->p_filesz > size) {  // checked before anything is allocated for it
        out.error = "the dynamic section lies outside the file";
        return out;
    }
    std::vector<Dyn> dyn(std::size_t(dynamic->p_filesz / sizeof(Dyn)));
    if (!read_at(dynamic->p_offset, dyn.data(), uint64_t(dyn.size()) * sizeof(Dyn))) {
        out.error = "the dynamic section lies outside the file";
        return out;
    }
    uint64_t strtab = 0, strsz = 0, rpath = 0, runpath = 0;
    bool has_strtab = false;
    for (const Dyn& d : dyn) {
        if (d.d_tag == DT_NULL) break;
        switch (d.d_tag) {
            case DT_STRTAB: strtab = d.d_un.d_ptr, has_strtab = true; break;
            case DT_STRSZ: strsz = d.d_un.d_val; break;
            case DT_RPATH: rpath = d.d_un.d_val, out.has_rpath = true; break;
            case DT_RUNPATH: runpath = d.d_un.d_val, out.has_runpath = true; break;
            default: break;
        }
    }
    if (!out.has_rpath && !out.has_runpath) return out;
    // DT_STRTAB is an address: the file offset is found through the PT_LOAD segment holding it.
    uint64_t strtab_offset = 0;
    bool mapped = false;
    for (const Phdr& p : ph) {
        if (p.p_type == PT_LOAD && has_strtab && strtab >= p.p_vaddr && strtab - p.p_vaddr < p.p_filesz) {
            strtab_offset = p.p_offset + (strtab - p.p_vaddr);
            mapped = true;
            break;
        }
    }
    if (!mapped) {
        out.error = "DT_STRTAB lies in no loaded segment";
        return out;
    }
    auto string_at = [&](uint64_t index, std::string& value) {
        if (index >= strsz) return false;
        std::string s;
        for (uint64_t i = index; i < strsz; ++i) {
            char c = 0;
            if (!read_at(strtab_offset + i, &c, 1)) return false;
            if (c == '\0') {
                value = std::move(s);
                return true;
            }
            s += c;
        }
        return false;
    };
    if ((out.has_rpath && !string_at(rpath, out.rpath)) || (out.has_runpath && !string_at(runpath, out.runpath)))
        out.error = "DT_RPATH or DT_RUNPATH points outside the string table";
    return out;
}

std::vector<std::string> search_path_problems(const char* tag, const std::string& value) {
    std::vector<std::string> problems;
    const std::string where = std::string(tag) + " `" + value + "` entry ";
    std::size_t begin = 0, index = 1;
    while (true) {
        const std::size_t colon = value.find(':', begin);
        const std::string entry = value.substr(begin, colon == std::string::npos ? std::string::npos : colon - begin);
        const auto origin = [&](const std::string& token) {
            return entry.compare(0, token.size(), token) == 0 &&
                   (entry.size() == token.size() || entry[token.size()] == '/');
        };
        if (entry.empty())
            problems.push_back(where + std::to_string(index) + " is empty (the current directory)");
        else if (entry[0] != '/' && !origin("$ORIGIN") && !origin("${ORIGIN}"))
            problems.push_back(where + std::to_string(index) + " `" + entry +
                               "` is relative (to the current directory)");
        if (colon == std::string::npos) break;
        begin = colon + 1;
        ++index;
    }
    return problems;
}

}  // namespace gdn::detail
