// Fault injection. A plugin that fails mid-batch, one whose entry returns NULL, one whose table
// claims to be larger than it is, one that needs a missing library, a file that is not a shared
// library and truncated copies of a real plugin: each one is reported with its cause, and the
// host (registry, other backends, the pool) keeps working.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

using Catch::Matchers::Contains;
using namespace gdn;
namespace fs = std::filesystem;

namespace {

fs::path fault_plugin(const std::string& stem) { return fs::path(GDN_FAULT_PLUGIN_DIR) / ("libgdn_" + stem + ".so"); }
fs::path test_plugin(const std::string& stem) { return fs::path(GDN_TEST_PLUGIN_DIR) / ("libgdn_" + stem + ".so"); }
fs::path cpu_plugin() { return fs::path(GDN_REAL_PLUGIN_DIR) / "libgdn_cpu.so"; }

LoadReport report_for(const Registry& reg, const fs::path& file) {
    for (const auto& r : reg.reports())
        if (fs::path(r.path).filename() == file.filename()) return r;
    throw std::runtime_error("no report for " + file.string());
}

// A small f32 problem and a pool whose every slot holds a distinct, non-zero state.
struct Bench {
    Case c;
    GDNPool pool;
    DeviceLayer layer;

    Bench(const Backend& be, std::vector<int64_t> lengths)
        : c(make_case(std::move(lengths))), pool(be, config(c)), layer(be, c.problem, DType::f32, 0) {
        const std::size_t n = pool.recurrent_slot_bytes() / sizeof(float);
        for (int64_t s = 0; s < pool.num_slots(); ++s) {
            std::vector<float> st(n);
            for (std::size_t i = 0; i < n; ++i) st[i] = float(s + 1) * 0.25f + float(i % 5);
            pool.write_recurrent(0, s, st);
        }
    }
    static Case make_case(std::vector<int64_t> lengths) {
        RandomCaseSpec spec;
        spec.num_k_heads = 1;
        spec.num_v_heads = 2;
        spec.head_k_dim = spec.head_v_dim = 16;
        spec.lengths = std::move(lengths);
        return random_case(spec, 7);
    }
    static PoolConfig config(const Case& c) {
        PoolConfig pc;
        pc.num_slots = 6;
        pc.num_k_heads = 1;
        pc.num_v_heads = 2;
        pc.head_k_dim = pc.head_v_dim = 16;
        pc.conv_kernel = c.problem.conv_kernel;
        pc.activation_dtype = DType::f32;
        pc.engine_managed_slots = true;  // states are placed in slots of the test's choosing
        return pc;
    }
    // Runs the case's tokens as one extend batch over `slots`.
    void run(const std::vector<int64_t>& slots, const std::vector<int64_t>& lens) {
        const Backend& be = pool.backend();
        const auto& p = c.problem;
        int64_t T = 0;
        for (int64_t l : lens) T += l;
        const int64_t C = p.conv_dim();
        Tensor q = to_device(be, DType::f32, {p.mixed_qkv.begin(), p.mixed_qkv.begin() + T * C}, {T, C});
        Tensor a = to_device(be, DType::f32, {p.a.begin(), p.a.begin() + T * 2}, {T, 2});
        Tensor b = to_device(be, DType::f32, {p.b.begin(), p.b.begin() + T * 2}, {T, 2});
        ForwardBatch fb = ForwardBatch::extend(pool, slots, lens);
        Tensor out = layer.layer().forward(fb, q.view(), a.view(), b.view());
        fb.stream().synchronize();
    }
    std::vector<std::vector<float>> states() const {
        std::vector<std::vector<float>> v;
        for (int64_t s = 0; s <= pool.num_slots(); ++s) v.push_back(pool.read_recurrent(0, s));
        return v;
    }
};

// The CPU backend still runs a layer end to end and matches the reference.
void cpu_still_works(const Registry& reg) {
    const Backend cpu = reg.open("cpu");
    RandomCaseSpec spec;
    spec.head_k_dim = spec.head_v_dim = 16;
    spec.lengths = {3, 1};
    const CaseResult r = run_case(cpu, random_case(spec, 3), default_tolerance(DType::f32));
    INFO(r.message);
    CHECK(r.passed);
}

}  // namespace

TEST_CASE("a plugin that fails in the middle of a batch: the error names the cause, other slots are untouched") {
    const Registry reg({fault_plugin("fault_mid_batch"), cpu_plugin()});
    const Backend be = reg.open("fault_mid_batch");
    Bench bench(be, {2, 1, 3});
    const auto before = bench.states();
    try {
        bench.run({1, 3, 4}, {2, 1, 3});
        FAIL("the faulty plugin's error was lost");
    } catch (const Error& e) {
        CHECK(e.status() == GDN_ERR_RUNTIME);
        CHECK_THAT(e.what(), Contains("forward_gdn: device lost in request 1 of 3"));
    }
    const auto after = bench.states();
    // Slots the batch did not name, and the padding slot, are never written by a failed call.
    for (int64_t s : {0, 2, 5, 6}) CHECK(after[std::size_t(s)] == before[std::size_t(s)]);
    // The plugin wrote request 0 before it failed: the host cannot undo a device's writes, which
    // is why the state of the slots of a failed batch is unspecified (docs/reliability.md).
    CHECK(after[1] != before[1]);

    // The host keeps working: the same pool, layer and backend run the next batch.
    bench.run({2}, {3});
    CHECK(bench.states()[2] != before[2]);
    const int64_t slot = bench.pool.alloc_slot();
    bench.pool.free_slot(slot);
    cpu_still_works(reg);
}

TEST_CASE("a plugin that refuses a batch before writing leaves the pool bit-identical") {
    const Registry reg({fault_plugin("fault_clean")});
    const Backend be = reg.open("fault_clean");
    Bench bench(be, {2, 1, 3});
    const auto before = bench.pool.snapshot();
    try {
        bench.run({1, 3, 4}, {2, 1, 3});
        FAIL("the faulty plugin's error was lost");
    } catch (const Error& e) {
        CHECK(e.status() == GDN_ERR_RUNTIME);
        CHECK_THAT(e.what(), Contains("forward_gdn: device lost before the batch started (test fault)"));
    }
    CHECK(bench.pool.snapshot() == before);
    bench.run({0}, {2});
    CHECK(bench.pool.snapshot() != before);
}

TEST_CASE("an entry that returns NULL is reported and the host goes on") {
    const Registry reg({test_plugin("entry_null"), cpu_plugin()});
    const LoadReport r = report_for(reg, test_plugin("entry_null"));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::opened);
    CHECK(r.reason == "entry returned NULL");
    cpu_still_works(reg);
}

TEST_CASE("a table that claims to be larger than it is: the host reads only the prefix it knows") {
    // big_table's table ends at a page boundary followed by an inaccessible page; a host that
    // copied struct_size bytes would crash right here.
    const Registry reg({fault_plugin("big_table"), cpu_plugin()});
    const LoadReport r = report_for(reg, fault_plugin("big_table"));
    INFO(format_report(r));
    CHECK(r.usable);
    CHECK(r.abi_major == GDN_ABI_MAJOR);
    CHECK(r.abi_minor == GDN_ABI_MINOR + 1);  // a newer minor is accepted
    const Backend be = reg.open("big_table");
    CHECK(be.plugin().table().struct_size == sizeof(gdn_plugin) + 4096);  // as the plugin said
    void* p = be.allocate(64);
    be.default_stream().fill(p, 7, 64);
    be.default_stream().synchronize();
    CHECK(static_cast<unsigned char*>(p)[63] == 7);
    be.deallocate(p);
    cpu_still_works(reg);
}

TEST_CASE("a plugin that needs a missing library is refused by the loader before any of its code runs") {
    const fs::path marker = fs::temp_directory_path() / ("gdn_fault_marker_" + std::to_string(::getpid()));
    fs::remove(marker);
    ::setenv("GDN_TEST_FAULT_MARKER", marker.c_str(), 1);
    {
        const Registry reg({fault_plugin("missing_dep"), cpu_plugin()});
        const LoadReport r = report_for(reg, fault_plugin("missing_dep"));
        INFO(format_report(r));
        CHECK_FALSE(r.usable);
        CHECK(r.stage == LoadStage::found);
        CHECK(r.status == GDN_ERR_RUNTIME);
        CHECK_THAT(r.reason, Contains("libgdn_fault_dep.so") && Contains("cannot open shared object file"));
        // Asking for it by name shows that report.
        try {
            (void)reg.open("missing_dep");
            FAIL("opened a plugin whose library is missing");
        } catch (const Error& e) {
            CHECK_THAT(e.what(), Contains("libgdn_fault_dep.so"));
        }
        cpu_still_works(reg);
    }
    ::unsetenv("GDN_TEST_FAULT_MARKER");
    CHECK_FALSE(fs::exists(marker));  // the plugin's constructor never ran
    fs::remove(marker);
}

TEST_CASE("a file that is not a shared library is reported with the loader's message") {
    const Registry reg({test_plugin("text"), cpu_plugin()});
    const LoadReport r = report_for(reg, test_plugin("text"));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::found);
    CHECK(r.status == GDN_ERR_RUNTIME);
    CHECK_THAT(r.reason, Contains("libgdn_text.so"));
    cpu_still_works(reg);
}

TEST_CASE("truncated copies of a real plugin are reported, never mapped") {
    // dlopen maps the segments a program header names without checking that the file holds
    // them; touching a missing page is SIGBUS. The registry checks the file first.
    const fs::path dir = fs::temp_directory_path() / ("gdn_truncated_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms(0755));  // whatever the umask: a group-writable one is refused first
    std::ifstream in(test_plugin("fake"), std::ios::binary);
    const std::vector<char> whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(whole.size() > 4096);
    for (std::size_t len : {std::size_t(0), std::size_t(10), std::size_t(64), std::size_t(200), std::size_t(1000),
                            std::size_t(4096), std::size_t(8000)}) {
        const fs::path file = dir / "libgdn_fake.so";
        {
            std::ofstream out(file, std::ios::binary | std::ios::trunc);
            out.write(whole.data(), std::streamsize(len));
        }
        fs::permissions(file, fs::perms(0644));
        const Registry reg({file});
        const LoadReport r = reg.reports().at(0);
        INFO("truncated to " << len << " of " << whole.size() << " bytes: " << format_report(r));
        CHECK_FALSE(r.usable);
        CHECK(r.stage == LoadStage::found);
        CHECK(r.status == GDN_ERR_RUNTIME);
        CHECK_THAT(r.reason, Contains(file.string()));
        if (len >= 200) CHECK_THAT(r.reason, Contains("truncated ELF file"));
    }
    fs::remove_all(dir);
    cpu_still_works(Registry({cpu_plugin()}));
}
