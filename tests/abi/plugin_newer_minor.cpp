// A plugin from the future: built for ABI 1.(minor+1), whose table has two more slots after
// forward_gdn. A host of this minor must load it and read the prefix it knows.
#include "../plugins/test_plugin.hpp"

namespace {
struct FutureTable {
    gdn_plugin known;  // the ABI 1.x prefix this host knows
    void (*future_slot_a)(void);
    void (*future_slot_b)(void);
};
void future_slot() {}
}  // namespace

extern "C" GDN_PLUGIN_EXPORT const gdn_plugin* gdn_plugin_entry(void) {
    static const FutureTable table = [] {
        FutureTable t{};
        t.known = gdn_test::good_table("abi_newer_minor", 1);
        t.known.struct_size = sizeof(FutureTable);
        t.known.abi_minor = GDN_ABI_MINOR + 1;
        t.future_slot_a = future_slot;
        t.future_slot_b = future_slot;
        return t;
    }();
    return &table.known;
}
