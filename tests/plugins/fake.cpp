// A working plugin that computes nothing: for testing selection, priority, device indices and
// shadowing. Built several times with different FAKE_* definitions (see CMakeLists.txt).
#include "test_plugin.hpp"

namespace {
// With FAKE_LOG, init and shutdown append a line to the file named by GDN_TEST_PLUGIN_LOG, so
// that a test can see how often, and in which order, the host called them.
void log_event([[maybe_unused]] const char* event) {
#ifdef FAKE_LOG
    if (const char* file = std::getenv("GDN_TEST_PLUGIN_LOG")) {
        if (FILE* f = std::fopen(file, "a")) {
            std::fprintf(f, "%s\n", event);
            std::fclose(f);
        }
    }
#endif
}
gdn_status fake_init(gdn_errbuf) {
    log_event("init");
    return GDN_OK;
}
void fake_shutdown() { log_event("shutdown"); }

gdn_status fake_devices(int32_t* count, gdn_errbuf) {
    *count = FAKE_DEVICES;
    return GDN_OK;
}
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table(FAKE_NAME, FAKE_PRIORITY); t.description = FAKE_DESCRIPTION;
                t.device_count = fake_devices; t.init = fake_init; t.shutdown = fake_shutdown; return t;)
