// Native streams (ABI 1.1), where the plugin offers them: what stream_wrap and stream_destroy owe
// the caller's stream. A NULL native handle is refused as an invalid argument and makes no
// stream; destroying a wrapper releases only what the plugin made for it, so the caller's stream
// still runs work afterwards, with the results it gave before.
#include <sstream>

#include "cases.hpp"
#include "gdn/error.hpp"
#include "layer_runner.hpp"

namespace gdn::conformance::detail {

namespace {

bool offers_native_streams(const Context& ctx, CaseOutcome& out) {
    const gdn_plugin& table = ctx.backend.table();
    if (table.stream_wrap && table.stream_native) return true;
    out.status = Status::skipped;
    out.message = "the backend does not declare native streams (its plugin has no stream_wrap / stream_native)";
    return false;
}

void wrap_null(const Context& ctx, CaseOutcome& out) {
    if (!offers_native_streams(ctx, out)) return;
    const gdn_plugin& table = ctx.backend.table();
    char msg[512] = {0};
    gdn_stream made = nullptr;
    const gdn_status s = table.stream_wrap(ctx.backend.device(), nullptr, &made, gdn_errbuf{msg, sizeof msg});
    std::ostringstream why;
    if (s != GDN_ERR_INVALID_ARGUMENT)
        why << "stream_wrap of a NULL native stream returned " << gdn::status_name(s)
            << ", expected invalid argument; ";
    if (made) {
        why << "and made a stream; ";
        char ignored[256];
        table.stream_destroy(made, gdn_errbuf{ignored, sizeof ignored});
    }
    if (s != GDN_OK && msg[0] == '\0') why << "its refusal has no message; ";
    out.description = "stream_wrap(NULL) is refused as an invalid argument and makes no stream";
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

void wrapper_release(const Context& ctx, CaseOutcome& out) {
    if (!offers_native_streams(ctx, out)) return;
    const ForwardMode mode =
        ctx.caps().modes & (1u << unsigned(ForwardMode::extend)) ? ForwardMode::extend : ForwardMode::mixed;
    RandomCaseSpec pref;
    pref.num_k_heads = 2;
    pref.num_v_heads = 4;
    pref.head_k_dim = 32;
    pref.head_v_dim = 24;
    pref.mode = mode;
    std::string why_not;
    const std::optional<RandomCaseSpec> spec = supported_spec(ctx.caps(), pref, &why_not);
    if (!spec) {
        out.status = Status::skipped;
        out.message = "nothing to run: the backend " + why_not;
        return;
    }
    RandomCaseSpec sp = *spec;
    const int64_t N = mode == ForwardMode::extend ? 40 : 1;
    sp.lengths = {N};
    const Case c = random_case(sp, ctx.options.seed ^ 0x2001);
    out.description =
        "after a wrapper of the caller's stream is destroyed, that stream runs a layer call as before; " + describe(c);
    out.tolerance = ctx.tolerance(c.activation_dtype).tolerance;
    Stream caller(ctx.backend);  // plays the caller's stream: its native handle is a real one
    void* native = caller.native_handle();
    LayerRunner r(ctx.backend, c, 4);
    const std::vector<double> before = r.run(mode, {1}, {N}, 0, &caller);
    {
        Stream wrapper(ctx.backend, NativeStream{native});
        r.run(mode, {2}, {N}, 0, &wrapper);
    }
    std::ostringstream why;
    try {
        const std::vector<double> after = r.run(mode, {3}, {N}, 0, &caller);
        const double tol = ctx.caps().deterministic ? 0.0 : out.tolerance->out;
        const double d = reference::relative_l2(after, before);
        if (!(d <= tol))
            why << "the caller's stream, after its wrapper was destroyed, gave out rel L2 " << d << " > " << tol
                << " from what it gave before; ";
    } catch (const Error& e) {
        why << "the caller's stream refused work after its wrapper was destroyed (destroying a wrapper must release "
               "only what the plugin made for it): "
            << e.what() << "; ";
    }
    out.message = why.str();
    out.status = out.message.empty() ? Status::pass : Status::fail;
}

CaseDef make(const char* id, const char* description, void (*fn)(const Context&, CaseOutcome&)) {
    CaseDef d;
    d.id = id;
    d.category = "invariant";
    d.description = description;
    d.run = fn;
    return d;
}

}  // namespace

std::vector<CaseDef> stream_cases() {
    return {
        make("invariant-stream-wrap-null", "stream_wrap of a NULL native stream is refused", wrap_null),
        make("invariant-stream-wrapper-release", "destroying a wrapper leaves the caller's stream usable",
             wrapper_release),
    };
}

}  // namespace gdn::conformance::detail
