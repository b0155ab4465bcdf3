/* gdn/plugin.h on its own, compiled as C11 and as C++ by several compilers (CMakeLists.txt):
 * the header must be self-contained and clean under -pedantic-errors -Wall -Wextra -Werror. */
#include "gdn/plugin.h"

static gdn_status noop_init(gdn_errbuf err) {
    (void)err;
    return GDN_OK;
}

static gdn_plugin table;

GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void);
const gdn_plugin* gdn_plugin_entry(void) {
    gdn_tensor t;
    gdn_forward_args args;
    gdn_capabilities caps;
    gdn_device_properties props;
    gdn_plugin_entry_fn entry = gdn_plugin_entry;
    (void)entry;
    t.rank = GDN_MAX_RANK;
    args.struct_size = sizeof args;
    caps.struct_size = sizeof caps;
    props.struct_size = sizeof props;
    (void)t;
    (void)args;
    (void)caps;
    (void)props;
    table.struct_size = GDN_PLUGIN_MIN_SIZE_V1_0;
    table.abi_major = GDN_ABI_MAJOR;
    table.abi_minor = GDN_ABI_MINOR;
    table.init = noop_init;
    return &table;
}
