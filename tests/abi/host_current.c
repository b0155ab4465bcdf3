/* The same host call as host_v1_1.c, built against the live header: its gdn_forward_args has the
 * 1.2 fields, left at their defaults. */
#include <stdlib.h>

#include "gdn/plugin.h"

#include "host_call.inc"

static gdn_forward_args* on_heap(size_t bytes) {
    static gdn_forward_args* args = NULL;
    if (!args) args = (gdn_forward_args*)malloc(bytes);
    return args;
}

int host_current_call(const char* plugin_path, const struct host_problem* p, float* out, float* state, char* message,
                      size_t capacity) {
    return (int)host_call(plugin_path, p, out, state, on_heap, message, capacity);
}
