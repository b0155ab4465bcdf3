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
