// A well-formed plugin whose runtime cannot start here, like a GPU plugin on an old driver.
#include "test_plugin.hpp"

namespace {
gdn_status init_driver_too_old(gdn_errbuf err) { return gdn_test::fail(err, GDN_ERR_DRIVER, "driver too old (test)"); }
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("init_fails", 1000); t.init = init_driver_too_old; return t;)
