// Starts fine but sees no device, like a CUDA plugin on a machine without a GPU.
#include "test_plugin.hpp"

namespace {
gdn_status no_devices(int32_t* count, gdn_errbuf err) {
    *count = 0;
    return gdn_test::fail(err, GDN_ERR_NO_DEVICE, "no device (test)");
}
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("no_device", 1000); t.device_count = no_devices; return t;)
