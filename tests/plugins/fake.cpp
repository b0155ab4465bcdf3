// A working plugin that computes nothing: for testing selection, priority, device indices and
// shadowing. Built several times with different FAKE_* definitions (see CMakeLists.txt).
#include "test_plugin.hpp"

namespace {
gdn_status fake_devices(int32_t* count, gdn_errbuf) {
    *count = FAKE_DEVICES;
    return GDN_OK;
}
}  // namespace

GDN_TEST_PLUGIN(
    gdn_plugin t = gdn_test::good_table(FAKE_NAME, FAKE_PRIORITY);
    t.description = FAKE_DESCRIPTION;
    t.device_count = fake_devices;
    return t;)
