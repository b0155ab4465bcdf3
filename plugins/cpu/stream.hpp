// What a gdn_stream is on the CPU: a oneTBB arena with the requested number of threads (the
// work of one forward call runs inside it and nowhere else) and the scratch of its workers.
// A stream of one thread uses no oneTBB at all: the calling thread runs the call's tasks in
// order with one scratch buffer (no arena to set up; and under ThreadSanitizer no memory that
// the uninstrumented libtbb hands from one thread's arena to another's).
// Copies and the layer call are synchronous, so a stream has no queue.
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>
#include <oneapi/tbb/task_arena.h>

#include <memory>

#include "kernels.hpp"
#include "scratch.hpp"

namespace gdn_cpu {

// How prefill requests are computed; GDN_CPU_PREFILL picks one when the stream is created.
enum class PrefillPath {
    automatic,  // chunked for long requests, token by token for short ones
    chunked,    // chunked for every request (also 1-token ones): for tests
    recurrent,  // token by token for every request: the baseline for benchmarks
};

struct Stream {
    Stream(int threads, PrefillPath path, bool verbose, const Kernels& k)
        : arena(threads), num_threads(threads), prefill(path), verbose_plan(verbose), kernels(&k) {
        if (threads > 1) arena.initialize();
    }
    tbb::task_arena arena;
    int num_threads;
    PrefillPath prefill;
    bool verbose_plan;       // GDN_VERBOSE=plan when the stream was created: one line per call on stderr
    const Kernels* kernels;  // the ISA's compute kernels (kernels.hpp)
    // The per-worker storage comes from std::allocator, not oneTBB's default (its scalable
    // allocator): a leak checker run while the stream lives (LeakSanitizer, valgrind) does not
    // scan the scalable allocator's memory, and would report every worker's scratch as leaked.
    tbb::enumerable_thread_specific<Scratch, std::allocator<Scratch>> scratch;
    Scratch serial_scratch;  // one thread: the calling thread's
};

}  // namespace gdn_cpu

// The opaque handle of plugin.h is this struct.
struct gdn_stream_impl : gdn_cpu::Stream {
    using gdn_cpu::Stream::Stream;
};
