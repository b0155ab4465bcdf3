// A plugin of a newer ABI minor: its table says it is 4 KiB longer than the ABI 1.0 table. Here
// the longer part does not even exist: the table ends exactly at a page boundary and the page
// after it is inaccessible, so a host that read more than the prefix it knows would crash.
// (A real newer plugin would have slots there; the host must ignore them either way.)
#include <sys/mman.h>
#include <unistd.h>

#include "test_plugin.hpp"

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) {
    static const gdn_plugin* table = [] {
        const std::size_t page = std::size_t(::sysconf(_SC_PAGESIZE));
        void* mem = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) return static_cast<gdn_plugin*>(nullptr);
        char* guard = static_cast<char*>(mem) + page;
        auto* t = reinterpret_cast<gdn_plugin*>(guard - sizeof(gdn_plugin));
        *t = gdn_test::good_table("big_table", 1);
        t->struct_size = sizeof(gdn_plugin) + 4096;
        t->abi_minor = GDN_ABI_MINOR + 1;
        t->description = "test plugin: claims a table 4 KiB longer than it has";
        ::mprotect(guard, page, PROT_NONE);
        ::mprotect(mem, page, PROT_READ);
        return static_cast<gdn_plugin*>(t);
    }();
    return table;
}
