// The entry point exists but cannot describe the plugin.
#include "test_plugin.hpp"

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) { return nullptr; }
