// Breaks the C contract: a C++ exception escapes a plugin call. The host must catch it at the
// boundary and report it instead of terminating.
#include <stdexcept>

#include "test_plugin.hpp"

namespace {
gdn_status count_throws(int32_t*, gdn_errbuf) { throw std::runtime_error("device_count exploded (test)"); }
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("throws", 1000); t.device_count = count_throws; return t;)
