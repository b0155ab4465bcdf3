// A plugin linked against a library that is not installed (libgdn_fault_dep.so is built, but
// into a directory the loader does not search, and the plugin has no RUNPATH to it). The
// dynamic loader must refuse it, naming the missing library, before any code of the plugin runs:
// the constructor below would leave a marker file that the test looks for.
#include "test_plugin.hpp"

extern "C" int gdn_fault_dep_answer(void);  // in libgdn_fault_dep.so

namespace {
__attribute__((constructor)) void leave_marker() {
    if (const char* file = std::getenv("GDN_TEST_FAULT_MARKER")) {
        if (FILE* f = std::fopen(file, "w")) {
            std::fputs("missing_dep constructor ran\n", f);
            std::fclose(f);
        }
    }
}
gdn_status init(gdn_errbuf err) {
    return gdn_fault_dep_answer() == 42 ? GDN_OK : gdn_test::fail(err, GDN_ERR_INTERNAL, "wrong dependency");
}
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("missing_dep", 1); t.init = init; return t;)
