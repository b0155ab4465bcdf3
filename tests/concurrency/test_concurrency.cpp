// The thread-safety contract (docs/reliability.md), one test per claim:
//   Registry      every method may be called from any number of threads at once
//   Backend       a copyable handle; copies may be used from different threads at once
//   Stream        calls through one Stream are serialized by the host (a lock per stream), so a
//                 shared stream (the default one) is safe; concurrency comes from one per thread
//   GDNPool       alloc/free/reset/copy/read/write from any thread; forward calls on disjoint
//                 slots of one pool may run at once on different streams
//   RadixLinearAttention   immutable after construction: one layer object serves every thread
//   ForwardBatch  one thread at a time (it is the per-step object of one scheduler)
// GDN_TEST_THREADS sets the number of threads (default 4). GDN_TEST_BACKEND (default cpu) names
// the real backend the forward-call and pool tests run on (scripts/gpu-check.sh: cuda).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "gdn/harness.hpp"
#include "gdn/pool.hpp"
#include "gdn/registry.hpp"

// LeakSanitizer's interface, in AddressSanitizer builds (gcc defines __SANITIZE_ADDRESS__, clang
// has the feature test).
#if defined(__SANITIZE_ADDRESS__)
#define GDN_TEST_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GDN_TEST_LSAN 1
#endif
#endif
#ifdef GDN_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

using namespace gdn;
namespace fs = std::filesystem;

namespace {

int num_threads() {
    const char* env = std::getenv("GDN_TEST_THREADS");
    const int n = env ? std::atoi(env) : 4;
    return n > 0 ? n : 4;
}

// Worker threads of a stream: 1 or 2 by default; under GDN_NUM_THREADS (the strict TSan pass of
// scripts/sanitize.sh sets 1) the backend's default, so that no oneTBB worker thread exists.
int stream_threads(int i) { return std::getenv("GDN_NUM_THREADS") ? 0 : 1 + i % 2; }

std::string backend_under_test() {
    const char* env = std::getenv("GDN_TEST_BACKEND");
    return env && *env ? env : "cpu";
}
fs::path real_plugin(const std::string& name) { return fs::path(GDN_REAL_PLUGIN_DIR) / ("libgdn_" + name + ".so"); }
fs::path checker_plugin() { return fs::path(GDN_FAULT_PLUGIN_DIR) / "libgdn_stream_checker.so"; }

const Registry& registry() {
    static const Registry reg = [] {
        std::vector<fs::path> files{real_plugin("cpu"), checker_plugin()};
        const std::string name = backend_under_test();
        if (name != "cpu") files.push_back(real_plugin(name.substr(0, name.find(':'))));
        return Registry(files);
    }();
    return reg;
}

// The same computation, run alone and run concurrently, agrees bit for bit on a backend that
// declares itself deterministic (the CPU and CUDA backends do), else to 1e-6.
void check_same(const std::vector<double>& got, const std::vector<double>& want, bool deterministic) {
    if (deterministic)
        CHECK(got == want);
    else
        CHECK(reference::relative_l2(got, want) <= 1e-6);
}
void check_same(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want,
                bool deterministic) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        check_same(std::vector<double>(got[i].begin(), got[i].end()),
                   std::vector<double>(want[i].begin(), want[i].end()), deterministic);
}

// Runs body(i) on n threads released at once; returns the messages of those that threw.
template <class F>
std::vector<std::string> run_threads(int n, F body) {
    std::vector<std::string> errors(static_cast<std::size_t>(n));
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        threads.emplace_back([&, i] {
            while (!go.load()) std::this_thread::yield();
            try {
                body(i);
            } catch (const std::exception& e) {
                errors[std::size_t(i)] = e.what();
            } catch (...) {
                errors[std::size_t(i)] = "unknown exception";
            }
        });
    }
    go = true;
    for (auto& t : threads) t.join();
    std::vector<std::string> failed;
    for (auto& e : errors)
        if (!e.empty()) failed.push_back(e);
    return failed;
}

#define CHECK_NO_ERRORS(errors)                                              \
    do {                                                                     \
        const auto errs_ = (errors);                                         \
        for (const auto& e_ : errs_) UNSCOPED_INFO("thread failed: " << e_); \
        CHECK(errs_.empty());                                                \
    } while (0)

RandomCaseSpec small_spec(DType dt, std::vector<int64_t> lengths) {
    RandomCaseSpec spec;
    spec.num_k_heads = 1;
    spec.num_v_heads = 2;
    spec.head_k_dim = spec.head_v_dim = 16;
    spec.activation_dtype = dt;
    spec.lengths = std::move(lengths);
    return spec;
}

// A prefill of every request of `c` in `slots`, then `decode_steps` decode steps of all of them
// (inputs: the case's first rows again), on `stream`. Returns every output and the final states.
struct Trace {
    std::vector<double> outputs;
    std::vector<std::vector<float>> states;
};
Trace run_requests(GDNPool& pool, const RadixLinearAttention& layer, const Case& c, const std::vector<int64_t>& slots,
                   int decode_steps, Stream* stream) {
    const Backend& be = pool.backend();
    const auto& p = c.problem;
    const DType dt = c.activation_dtype;
    const int64_t T = p.num_tokens(), C = p.conv_dim(), HV = p.num_v_heads, B = p.num_requests();
    Trace tr;
    auto rows = [&](const std::vector<double>& m, int64_t w, int64_t n) {
        return std::vector<double>(m.begin(), m.begin() + n * w);
    };
    auto step = [&](ForwardBatch& fb, int64_t n) {
        Tensor q = to_device(be, dt, rows(p.mixed_qkv, C, n), {n, C});
        Tensor a = to_device(be, dt, rows(p.a, HV, n), {n, HV});
        Tensor b = to_device(be, dt, rows(p.b, HV, n), {n, HV});
        fb.set_stream(stream);
        Tensor out = layer.forward(fb, q.view(), a.view(), b.view());
        fb.stream().synchronize();
        const auto host = to_host_double(out);
        tr.outputs.insert(tr.outputs.end(), host.begin(), host.end());
    };
    std::vector<int64_t> lens;
    for (int64_t r = 0; r < B; ++r) lens.push_back(p.cu_seqlens[std::size_t(r + 1)] - p.cu_seqlens[std::size_t(r)]);
    ForwardBatch prefill = ForwardBatch::extend(pool, slots, lens);
    step(prefill, T);
    ForwardBatch decode = ForwardBatch::decode(pool, slots);
    for (int s = 0; s < decode_steps; ++s) step(decode, B);
    for (int64_t s : slots) tr.states.push_back(pool.read_recurrent(0, s));
    return tr;
}

}  // namespace

TEST_CASE("threads with their own pools and streams run forward calls at once on one backend") {
    const Backend be = registry().open(backend_under_test());
    const int n = num_threads();
    std::vector<Case> cases;
    for (int i = 0; i < n; ++i)
        cases.push_back(random_case(small_spec(i % 2 ? DType::bf16 : DType::f32, {5, 1, 9}), 100 + uint64_t(i)));
    // Sequential runs first: on a deterministic backend the concurrent runs must agree bit for bit.
    std::vector<Trace> expected;
    for (int i = 0; i < n; ++i) {
        GDNPool pool(be, pool_config(cases[std::size_t(i)], 4));
        DeviceLayer layer(be, cases[std::size_t(i)].problem, cases[std::size_t(i)].activation_dtype, 0);
        Stream stream(be, stream_threads(0));
        expected.push_back(run_requests(pool, layer.layer(), cases[std::size_t(i)], {3, 0, 2}, 6, &stream));
    }
    std::vector<Trace> got(static_cast<std::size_t>(n));
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        const Case& c = cases[std::size_t(i)];
        const Backend mine = be;  // a copy per thread
        GDNPool pool(mine, pool_config(c, 4));
        DeviceLayer layer(mine, c.problem, c.activation_dtype, 0);
        Stream stream(mine, stream_threads(i));
        for (int rep = 0; rep < 3; ++rep) {
            for (int64_t s : {3, 0, 2}) pool.reset_slot(s);
            got[std::size_t(i)] = run_requests(pool, layer.layer(), c, {3, 0, 2}, 6, &stream);
        }
    }));
    for (int i = 0; i < n; ++i) {
        INFO("thread " << i);
        check_same(got[std::size_t(i)].outputs, expected[std::size_t(i)].outputs, be.capabilities().deterministic);
        check_same(got[std::size_t(i)].states, expected[std::size_t(i)].states, be.capabilities().deterministic);
    }
}

TEST_CASE("threads run forward calls on disjoint slots of one pool and one layer, each on its own stream") {
    const Backend be = registry().open(backend_under_test());
    const int n = num_threads();
    const Case c = random_case(small_spec(DType::f32, {4, 2}), 7);
    DeviceLayer layer(be, c.problem, DType::f32, 0);
    GDNPool shared(be, pool_config(c, 2 * n));
    GDNPool alone(be, pool_config(c, 2 * n));
    std::vector<Trace> expected, got(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
        expected.push_back(run_requests(alone, layer.layer(), c, {2 * i + 1, 2 * i}, 5, nullptr));
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        Stream stream(be, 1);
        got[std::size_t(i)] = run_requests(shared, layer.layer(), c, {2 * i + 1, 2 * i}, 5, &stream);
    }));
    for (int i = 0; i < n; ++i) {
        INFO("thread " << i);
        check_same(got[std::size_t(i)].outputs, expected[std::size_t(i)].outputs, be.capabilities().deterministic);
        check_same(got[std::size_t(i)].states, expected[std::size_t(i)].states, be.capabilities().deterministic);
    }
    if (be.capabilities().deterministic) CHECK(shared.snapshot() == alone.snapshot());
}

TEST_CASE("alloc_slot and free_slot from many threads never hand out a slot twice") {
    const Backend be = registry().open(backend_under_test());
    const int n = num_threads();
    const Case c = random_case(small_spec(DType::bf16, {1}), 1);
    GDNPool pool(be, pool_config(c, 16));
    std::vector<std::atomic<int>> owner(17);
    for (auto& o : owner) o = -1;
    std::atomic<int> collisions{0}, exhausted{0};
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        std::vector<int64_t> mine;
        for (int k = 0; k < 300; ++k) {
            if (mine.size() < 3 && k % 7 != 6) {
                try {
                    const int64_t s = pool.alloc_slot();
                    int expected_owner = -1;
                    if (!owner[std::size_t(s)].compare_exchange_strong(expected_owner, i)) ++collisions;
                    mine.push_back(s);
                } catch (const Error& e) {
                    if (e.status() != GDN_ERR_OUT_OF_MEMORY) throw;
                    ++exhausted;
                }
            } else if (!mine.empty()) {
                const int64_t s = mine.back();
                mine.pop_back();
                owner[std::size_t(s)] = -1;
                pool.free_slot(s);
            }
        }
        for (int64_t s : mine) {
            owner[std::size_t(s)] = -1;
            pool.free_slot(s);
        }
    }));
    CHECK(collisions == 0);
    CHECK(pool.free_slots() == 16);
}

TEST_CASE("the default stream, shared by every pool and batch of a backend, is never used by two threads at once") {
    // stream_checker fails any call that overlaps another on the same stream.
    const Backend be = registry().open("stream_checker");
    const int n = num_threads();
    const Case c = random_case(small_spec(DType::f32, {2, 3}), 5);
    DeviceLayer layer(be, c.problem, DType::f32, 0);
    CHECK_NO_ERRORS(run_threads(n, [&](int) {
        for (int rep = 0; rep < 5; ++rep) {
            GDNPool pool(be, pool_config(c, 3));  // fills on the default stream
            const int64_t a = pool.alloc_slot(), b = pool.alloc_slot();
            pool.copy_slot(a, b);
            (void)pool.read_recurrent(0, a);
            run_requests(pool, layer.layer(), c, {a, b}, 2, nullptr);  // forward on the default stream
            pool.free_slot(a);
            pool.free_slot(b);
        }
    }));
}

TEST_CASE("one Stream shared by several threads: their calls are serialized") {
    const Backend be = registry().open("stream_checker");
    const int n = num_threads();
    const Case c = random_case(small_spec(DType::f32, {1}), 6);
    DeviceLayer layer(be, c.problem, DType::f32, 0);
    GDNPool pool(be, pool_config(c, int64_t(n)));
    Stream stream(be);
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        for (int rep = 0; rep < 10; ++rep) run_requests(pool, layer.layer(), c, {i}, 1, &stream);
    }));
}

TEST_CASE("the registry is queried and backends opened from several threads at once") {
    const int n = num_threads();
    Registry shared({real_plugin("cpu"), checker_plugin(), fs::path(GDN_TEST_PLUGIN_DIR)});
    const auto reports = shared.reports().size();
    const Case c = random_case(small_spec(DType::f32, {3}), 9);
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        for (int k = 0; k < 10; ++k) {
            if (shared.reports().size() != reports) throw std::runtime_error("reports changed");
            if (shared.available().empty()) throw std::runtime_error("no backend available");
            const Backend b = shared.open(k % 2 ? "cpu" : "auto");
            (void)shared.open("stream_checker").default_stream();
            (void)shared.load_file(real_plugin("cpu"));  // already there: its report
            try {
                (void)shared.open("no_device");
                throw std::runtime_error("opened a plugin without devices");
            } catch (const Error&) {}
            // Registries of their own, over the same files, and the process-wide one.
            const Registry own({real_plugin("cpu")});
            const Backend cpu = own.open("cpu");
            if (cpu.plugin_ptr() != shared.open("cpu").plugin_ptr()) throw std::runtime_error("cpu loaded twice");
            if (i == 0 && k == 0) (void)Registry::global().reports();
            // And the backend works.
            const CaseResult r = run_case(cpu, c, default_tolerance(DType::f32));
            if (!r.passed) throw std::runtime_error("cpu result wrong: " + r.message);
        }
    }));
}

TEST_CASE("copies of one Backend share one default stream, created once however many threads ask") {
    const Backend be = registry().open(backend_under_test());
    const int n = num_threads();
    std::vector<Stream*> seen(static_cast<std::size_t>(n));
    CHECK_NO_ERRORS(run_threads(n, [&](int i) {
        const Backend copy = be;
        seen[std::size_t(i)] = &copy.default_stream();
        void* p = copy.allocate(1024);
        copy.default_stream().fill(p, i, 1024);
        unsigned char last = 0;  // read back through the stream: p may be device memory
        copy.default_stream().copy(&last, static_cast<unsigned char*>(p) + 1023, 1, GDN_COPY_DEVICE_TO_HOST);
        copy.default_stream().synchronize();
        const bool ok = last == i;
        copy.deallocate(p);
        if (!ok) throw std::runtime_error("fill lost");
    }));
    for (Stream* s : seen) CHECK(s == &be.default_stream());
}

// The worker threads of a stream keep scratch buffers for the stream's life. A leak checker run
// while the stream is alive (an engine under LeakSanitizer or valgrind) must find them reachable:
// their pointers must sit in memory the checker scans. Found by the fuzz target: oneTBB's default
// allocator for per-thread storage is its own scalable allocator, whose memory LeakSanitizer does
// not scan, so every grown buffer of a live stream was reported as leaked.
TEST_CASE("the scratch of a live stream's workers is reachable, not a leak (LeakSanitizer builds)") {
#ifdef GDN_TEST_LSAN
    const Backend be = registry().open(backend_under_test());
    Stream stream(be, 2);  // two workers, so that both grow their scratch
    const Case c = random_case(small_spec(DType::bf16, {40, 70, 33, 1}), 31);
    GDNPool pool(be, pool_config(c, 8));
    DeviceLayer layer(be, c.problem, c.activation_dtype, 0);
    for (int rep = 0; rep < 4; ++rep) run_requests(pool, layer.layer(), c, {1, 3, 5, 7}, 2, &stream);
    CHECK(__lsan_do_recoverable_leak_check() == 0);
#else
    WARN("not an AddressSanitizer build: LeakSanitizer cannot be asked here");
#endif
}
