/* Every field of ABI 1.0 is where it was, with the size it had; every constant has its value;
 * structs may only have grown. Exit code 1 with one line per difference otherwise. */
#include <stdio.h>
#include <string.h>

#include "abi_layout.h"

int main(void) {
    size_t n_old = 0, n_new = 0, i;
    const struct abi_item* old_items = abi_items_v1_0(&n_old);
    const struct abi_item* new_items = abi_items_current(&n_new);
    int bad = 0;
    if (n_old != n_new) {
        printf("item tables differ in length: %zu vs %zu\n", n_old, n_new);
        return 1;
    }
    for (i = 0; i < n_old; ++i) {
        const struct abi_item* o = &old_items[i];
        const struct abi_item* c = &new_items[i];
        if (o->kind == ABI_FIELD && (o->offset != c->offset || o->size != c->size)) {
            printf("%s: ABI 1.0 offset %zu size %zu, now offset %zu size %zu\n", o->name, o->offset, o->size, c->offset,
                   c->size);
            bad = 1;
        } else if (o->kind == ABI_SIZE && c->size < o->size) {
            printf("%s: %zu bytes in ABI 1.0, now %zu: a struct may only grow\n", o->name, o->size, c->size);
            bad = 1;
        } else if (o->kind == ABI_CONST && o->value != c->value) {
            printf("%s: %lld in ABI 1.0, now %lld\n", o->name, o->value, c->value);
            bad = 1;
        }
    }
    /* A plugin accepts any struct from this size up: it must be exactly what a 1.0 host passes. */
    if (forward_args_min_size_v1_0() != forward_args_size_v1_0()) {
        printf("GDN_FORWARD_ARGS_MIN_SIZE_V1_0 is %zu, but a 1.0 host's gdn_forward_args has %zu bytes\n",
               forward_args_min_size_v1_0(), forward_args_size_v1_0());
        bad = 1;
    }
    printf("%zu ABI 1.0 items checked: %s\n", n_old, bad ? "MISMATCH" : "all compatible");
    return bad;
}
