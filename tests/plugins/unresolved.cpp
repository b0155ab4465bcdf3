// A plugin that calls a function no library provides, like one built against a newer runtime
// library than the one installed. It is linked with --unresolved-symbols=ignore-all (a plugin
// built elsewhere would have been linked against the newer library); the dynamic loader must
// refuse it when it is opened. Bound lazily, init's call would end the host process (exit 127).
#include "test_plugin.hpp"

extern "C" int gdn_test_symbol_nowhere(void);  // defined in no library

namespace {
gdn_status init(gdn_errbuf err) {
    return gdn_test_symbol_nowhere() == 42 ? GDN_OK : gdn_test::fail(err, GDN_ERR_INTERNAL, "unexpected answer");
}
}  // namespace

GDN_TEST_PLUGIN(gdn_plugin t = gdn_test::good_table("unresolved", 1); t.init = init; return t;)
