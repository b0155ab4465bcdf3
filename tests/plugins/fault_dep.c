/* The dependency of libgdn_missing_dep.so, deliberately not where the loader looks for it. */
__attribute__((visibility("default"))) int gdn_fault_dep_answer(void) { return 42; }
