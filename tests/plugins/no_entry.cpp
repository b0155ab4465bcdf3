// Exports no gdn_plugin_entry: its entry point has another name (and the version script hides
// it anyway), as an old or foreign library would.
#include "test_plugin.hpp"

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry_v0(void) {
    static const gdn_plugin table = gdn_test::good_table("no_entry", 0);
    return &table;
}
