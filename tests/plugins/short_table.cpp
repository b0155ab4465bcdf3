// Claims a table shorter than ABI 1.0's: the last required slot would be read past its end.
#include <cstddef>

#include "test_plugin.hpp"

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("short_table", 1000);
                t.struct_size = offsetof(gdn_plugin, forward_gdn); return t;)
