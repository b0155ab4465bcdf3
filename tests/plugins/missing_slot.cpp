// Leaves a required slot empty.
#include "test_plugin.hpp"

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("missing_slot", 1000); t.forward_gdn = nullptr; return t;)
