// Loading from several threads at once: the registry must neither crash nor load one plugin
// file twice.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "registry_test_util.hpp"

using namespace gdn_test;

namespace {
// Runs body(i) on n threads at once and counts the ones that threw.
template <class F>
int run_threads(int n, F body) {
    std::atomic<int> failures{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            while (!go.load()) std::this_thread::yield();
            try {
                body(i);
            } catch (...) {
                ++failures;
            }
        });
    }
    go = true;
    for (auto& t : threads) t.join();
    return failures.load();
}
}  // namespace

TEST_CASE("8 threads build registries over the same plugins at once") {
    std::vector<gdn::Backend> backends(8);
    const int failures = run_threads(8, [&](int i) {
        const gdn::Registry reg({test_plugin_dir()});
        if (!report_of(reg, "fake").usable) throw std::runtime_error("fake not usable");
        backends[i] = reg.open(i % 2 ? "fake:1" : "fake");
        exercise(backends[i]);
    });
    CHECK(failures == 0);
    // One file, one Plugin: registries share it, so init and shutdown run once per process.
    for (const auto& b : backends) CHECK(b.plugin_ptr() == backends[0].plugin_ptr());
}

TEST_CASE("8 threads use one registry at once") {
    gdn::Registry reg({test_plugin_dir()});
    const int failures = run_threads(8, [&](int i) {
        for (int k = 0; k < 20; ++k) {
            if (reg.reports().size() < 12) throw std::runtime_error("reports lost");
            if (reg.available().size() < 3) throw std::runtime_error("backends lost");
            exercise(reg.open(k % 2 ? "auto" : "fake_low"));
            // load_file of files already there, and of one that fails, from every thread.
            reg.load_file(test_plugin(i % 2 ? "fake" : "wrong_major"));
        }
    });
    CHECK(failures == 0);
    CHECK(reg.reports().size() == 12);
}

TEST_CASE("8 threads get the same global registry") {
    std::vector<const gdn::Registry*> seen(8);
    CHECK(run_threads(8, [&](int i) { seen[i] = &gdn::Registry::global(); }) == 0);
    for (const auto* r : seen) CHECK(r == seen[0]);
}

TEST_CASE("8 threads load_file the same plugin into one empty registry") {
    gdn::Registry reg(std::vector<fs::path>{});
    const int failures = run_threads(8, [&](int) {
        if (!reg.load_file(test_plugin("fake")).usable) throw std::runtime_error("not usable");
    });
    CHECK(failures == 0);
    CHECK(reg.reports().size() == 1);
}
