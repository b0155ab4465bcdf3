/* The layout of the live header, for the same items. */
#include "gdn/plugin.h"
#include "abi_layout.h"

static const struct abi_item items[] = {
#include "abi_items.inc"
};

const struct abi_item* abi_items_current(size_t* count) {
    *count = sizeof items / sizeof items[0];
    return items;
}

/* What the live header calls the ABI 1.0 size of gdn_forward_args. */
size_t forward_args_min_size_v1_0(void) { return GDN_FORWARD_ARGS_MIN_SIZE_V1_0; }
