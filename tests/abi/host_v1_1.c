/* A host built against the frozen ABI 1.1 header. Its gdn_forward_args ends against a page that
 * cannot be read: a plugin that reads a field past the struct_size it was given crashes here. */
#define _DEFAULT_SOURCE
#include <sys/mman.h>
#include <unistd.h>

#include "plugin_v1_1.h"

#include "host_call.inc"

static gdn_forward_args* against_guard_page(size_t bytes) {
    static char* pages = NULL;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!pages) {
        pages = (char*)mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pages == (char*)MAP_FAILED) return NULL;
        mprotect(pages + page, page, PROT_NONE);
    }
    return (gdn_forward_args*)(void*)(pages + page - bytes);
}

int host_v1_1_call(const char* plugin_path, const struct host_problem* p, float* out, float* state, char* message,
                   size_t capacity) {
    return (int)host_call(plugin_path, p, out, state, against_guard_page, message, capacity);
}
