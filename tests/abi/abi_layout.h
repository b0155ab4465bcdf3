/* One entry of an ABI layout table (see abi_items.inc). */
#ifndef GDN_TEST_ABI_LAYOUT_H
#define GDN_TEST_ABI_LAYOUT_H

#include <stddef.h>

struct abi_item {
    const char* name; /* "gdn_plugin.forward_gdn", "sizeof gdn_plugin", "GDN_OK" */
    int kind;         /* ABI_FIELD, ABI_SIZE, ABI_CONST */
    size_t offset;
    size_t size;
    long long value;
};
enum { ABI_FIELD, ABI_SIZE, ABI_CONST };

const struct abi_item* abi_items_v1_0(size_t* count);
const struct abi_item* abi_items_current(size_t* count);
size_t forward_args_size_v1_0(void);     /* sizeof(gdn_forward_args) in the frozen 1.0 header */
size_t forward_args_min_size_v1_0(void); /* GDN_FORWARD_ARGS_MIN_SIZE_V1_0 of the live header */

/* The table body, identical in both translation units. */
#define FIELD(s, m) {#s "." #m, ABI_FIELD, offsetof(s, m), sizeof(((s*)0)->m), 0},
#define SIZE(s) {"sizeof " #s, ABI_SIZE, 0, sizeof(s), 0},
#define CONST(c) {#c, ABI_CONST, 0, 0, (long long)(c)},

#endif
