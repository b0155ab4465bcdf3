// Loading a backend's plugin, running it (its worker threads or device runtime now live), and
// dropping every handle must shut it down and unload it cleanly, again and again, with no crash
// on unload or at exit. A program of its own: nothing else in the process holds the plugin.
#include <cstdio>
#include <cstdlib>
#include <random>

#include "gdn/harness.hpp"
#include "gdn/registry.hpp"

int main() {
    const char* env = std::getenv("GDN_TEST_BACKEND");
    const std::string name = env && *env ? env : "cpu";
    const uint64_t seed = std::random_device{}();
    std::printf("backend %s, seed %llu\n", name.c_str(), (unsigned long long)seed);
    gdn::RandomCaseSpec spec;
    spec.lengths = {90, 3, 0, 40};
    const gdn::Case c = gdn::random_case(spec, seed);
    for (int round = 0; round < 10; ++round) {
        gdn::Registry reg;
        gdn::Backend b;
        try {
            b = reg.open(name);
        } catch (const std::exception& e) {
            std::printf("SKIPPED: %s\n", e.what());
            return 77;
        }
        gdn::Stream stream(b, 2);  // worker threads on a CPU backend
        gdn::RunOptions opt;
        opt.stream = &stream;
        const gdn::CaseResult r = gdn::run_case(b, c, gdn::default_tolerance(gdn::DType::f32), opt);
        if (!r.passed) {
            std::printf("round %d: %s\n", round, r.message.c_str());
            return 1;
        }
        // Stream, Backend and Registry are destroyed here, right after the workers ran.
    }
    std::printf("10 load / run / unload rounds passed\n");
    return 0;
}
