// Built against an ABI major the host does not speak.
#include "test_plugin.hpp"

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("wrong_major", 1000); t.abi_major = 99; return t;)
