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
constexpr unsigned char host_class = ELFCLASS64;
#else
using Ehdr = Elf32_Ehdr;
using Phdr = Elf32_Phdr;
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

}  // namespace gdn::detail
