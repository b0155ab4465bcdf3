/* The ABI 1.0 layout, from the frozen header. */
#include "plugin_v1_0.h"
#include "abi_layout.h"

static const struct abi_item items[] = {
#include "abi_items.inc"
};

const struct abi_item* abi_items_v1_0(size_t* count) {
    *count = sizeof items / sizeof items[0];
    return items;
}

size_t forward_args_size_v1_0(void) { return sizeof(gdn_forward_args); }
