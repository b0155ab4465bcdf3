// gdn conformance: the conformance suite (gdn/conformance.hpp) on one backend, one plugin file or
// every available backend; a console table as it goes, a matrix case x backend, JSON and JUnit.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "args.hpp"
#include "commands.hpp"
#include "golden_dirs.hpp"
#include "gdn/conformance.hpp"
#include "gdn/error.hpp"
#include "gdn/registry.hpp"

namespace fs = std::filesystem;

namespace gdn::cli {

namespace {

namespace cf = gdn::conformance;

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::string shell_quote(const std::string& s) {
    if (s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:=,+@%") ==
        std::string::npos)
        return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string number(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1e", v);
    return b;
}

// One line per case as it finishes; on a terminal a "running ..." line is shown meanwhile.
class ConsoleTable {
public:
    explicit ConsoleTable(bool verbose) : verbose_(verbose), tty_(isatty(STDOUT_FILENO) != 0) {}

    void running(std::size_t i, std::size_t n, const std::string& id) const {
        if (!tty_) return;
        std::printf("\r[%3zu/%zu] running %s ...\033[K", i + 1, n, id.c_str());
        std::fflush(stdout);
    }

    void row(std::size_t i, std::size_t n, const cf::CaseOutcome& c) const {
        std::string numbers;
        if (c.metrics) numbers = "out " + number(c.metrics->out_rel_l2) + " state " + number(c.metrics->state_rel_l2);
        std::printf("%s[%3zu/%zu] %-11s %-34s %-22s %6.2fs  %s\n", tty_ ? "\r\033[K" : "", i + 1, n,
                    cf::status_name(c.status), c.id.c_str(), numbers.c_str(), c.seconds, c.description.c_str());
        if (!c.message.empty() && c.status != cf::Status::pass) std::printf("          %s\n", c.message.c_str());
        if (!c.reproduce.empty() && (verbose_ || c.status == cf::Status::fail))
            std::printf("          reproduce: %s\n", c.reproduce.c_str());
        std::fflush(stdout);
    }

private:
    bool verbose_, tty_;
};

void print_header(const Backend& b, const cf::Suite& suite, std::size_t golden_files) {
    const cf::Options& o = suite.options();
    const auto& t = b.table();
    std::printf("\n== %s: plugin %s %s (ABI %u.%u), %s\n   %s\n", b.name().c_str(), b.plugin().name().c_str(),
                t.version ? t.version : "?", t.abi_major, t.abi_minor, b.properties().name, b.plugin().path().c_str());
    std::printf("   seed %llu, %d random cases, %zu golden files", (unsigned long long)o.seed,
                suite.random_case_count(b), golden_files);
    if (!o.case_patterns.empty()) {
        std::printf(", cases matching");
        for (const auto& p : o.case_patterns) std::printf(" %s", p.c_str());
    }
    if (!o.skip_patterns.empty()) {
        std::printf(", leaving out");
        for (const auto& p : o.skip_patterns) std::printf(" %s", p.c_str());
    }
    std::printf("\n");
    for (const auto& [dtype, e] : o.tolerances.overrides(b.plugin().name()))
        std::printf("   tolerance override %s: out %g, state %g%s — reason: %s\n", dtype_name(dtype), e.tolerance.out,
                    e.tolerance.state, e.tolerance.conv_exact ? ", conv exact" : "", e.reason.c_str());
}

// Every failed case again, after all the rows: what it exercises, where it failed, how to rerun it.
void print_failures(const std::vector<cf::BackendReport>& reports) {
    bool any = false;
    for (const auto& r : reports)
        for (const auto& c : r.cases) {
            if (c.status != cf::Status::fail) continue;
            if (!any) std::printf("\nfailed cases:\n");
            any = true;
            std::printf("  %s %s: %s\n      %s\n", r.backend.c_str(), c.id.c_str(), c.description.c_str(),
                        c.message.c_str());
            if (!c.reproduce.empty()) std::printf("      reproduce: %s\n", c.reproduce.c_str());
        }
}

void print_summary(const cf::BackendReport& r) {
    std::printf("%s: %d passed, %d failed, %d unsupported, %d skipped (%.1f s)%s\n", r.backend.c_str(),
                r.count(cf::Status::pass), r.count(cf::Status::fail), r.count(cf::Status::unsupported),
                r.count(cf::Status::skipped), r.seconds, r.passed() ? "" : "  <-- FAILED");
}

// case x backend, every case any backend ran, in the order first seen.
void print_matrix(const std::vector<cf::BackendReport>& reports) {
    std::vector<std::string> ids;
    std::map<std::string, std::map<std::string, cf::Status>> cell;
    for (const auto& r : reports)
        for (const auto& c : r.cases) {
            if (!cell.count(c.id)) ids.push_back(c.id);
            cell[c.id][r.backend] = c.status;
        }
    std::size_t w = 4;
    for (const auto& id : ids) w = std::max(w, id.size());
    std::printf("\nconformance matrix (case x backend)\n%-*s", int(w) + 2, "case");
    for (const auto& r : reports) std::printf(" %-12s", r.backend.c_str());
    std::printf("\n");
    for (const auto& id : ids) {
        std::printf("%-*s", int(w) + 2, id.c_str());
        for (const auto& r : reports) {
            auto it = cell[id].find(r.backend);
            std::printf(" %-12s", it == cell[id].end() ? "-" : cf::status_name(it->second));
        }
        std::printf("\n");
    }
    std::printf("%-*s", int(w) + 2, "passed/failed");
    for (const auto& r : reports) {
        const std::string t =
            std::to_string(r.count(cf::Status::pass)) + "/" + std::to_string(r.count(cf::Status::fail));
        std::printf(" %-12s", t.c_str());
    }
    std::printf("\n");
}

void write_file(const std::string& file, const char* what, const std::function<void(std::ostream&)>& write) {
    std::ofstream out(file);
    if (!out) throw std::invalid_argument(std::string("--") + what + ": cannot write " + file);
    write(out);
    out.close();
    if (!out) throw std::invalid_argument(std::string("--") + what + ": writing " + file + " failed");
    std::printf("%s report: %s\n", what, file.c_str());
}

}  // namespace

int cmd_conformance(int argc, char** argv) {
    Args args(
        "conformance",
        "Holds a backend to the conformance suite: golden vectors, seeded random cases drawn from what the\n"
        "backend declares (every declared dtype, mode, conv width, GVA ratio and head dim, ragged batches,\n"
        "strong decay; coverage-declared fails when one never ran), invariants, capability honesty, guard\n"
        "bands and determinism. Cases outside the declared capabilities are UNSUPPORTED, not failures. A\n"
        "failure names its first element outside tolerance and prints a command that reruns it alone; the\n"
        "failed cases are listed again at the end. Exit code 0 only when nothing failed.",
        {{"backend", "NAME",
          "backend to test (cpu, cuda:1, a third-party name; auto = best available; default: GDN_BACKEND, else auto)",
          ""},
         {"plugin", "FILE", "test this plugin file (libgdn_<name>.so), loaded on its own", ""},
         {"all", "", "test every available backend and print a matrix case x backend", ""},
         {"golden", "DIRS",
          "':'-separated directories of more golden *.safetensors files, run after gdn's own and GDN_GOLDEN_PATH's",
          ""},
         {"no-golden", "", "run no golden files", ""},
         {"seed", "N", "seed of the random cases, or 'random' for a fresh one", "1"},
         {"random", "N", "number of random cases ('auto': enough to run every declared value, at least 24)", "auto"},
         {"case", "PATTERNS", "','-separated shell patterns of case ids to run (e.g. 'golden-*,random-17')", ""},
         {"skip", "PATTERNS", "','-separated shell patterns of case ids to leave out (e.g. 'coverage-*')", ""},
         {"tolerances", "FILE", "JSON tolerance table: defaults per dtype, overrides per backend with a reason", ""},
         {"json", "FILE", "write the report as JSON", ""},
         {"junit", "FILE", "write the report as JUnit XML", ""},
         {"list", "", "list the case ids that would run, and exit", ""},
         {"verbose", "", "print the reproduction command of every case", ""}});
    if (!args.parse(argc, argv)) return 0;
    if (!args.positional().empty()) throw std::invalid_argument("unexpected argument '" + args.positional()[0] + "'");
    const std::string backend_arg = args.str("backend"), plugin_arg = args.str("plugin");
    const bool all = args.flag("all");
    if (int(!backend_arg.empty()) + int(!plugin_arg.empty()) + int(all) > 1)
        throw std::invalid_argument("give one of --backend, --plugin and --all");

    cf::Options opt;
    std::string repro_extra;
    if (args.flag("no-golden")) {
        repro_extra += " --no-golden";
    } else {
        opt.golden_dirs = golden_dirs(args.str("golden"));
        if (!args.str("golden").empty()) repro_extra += " --golden " + shell_quote(args.str("golden"));
    }
    if (args.str("seed") == "random") {
        opt.seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
    } else {
        const long long s = args.integer("seed");
        if (s < 0) throw std::invalid_argument("--seed: a non-negative integer or 'random'");
        opt.seed = uint64_t(s);
    }
    if (args.str("random") != "auto") {
        const long long n = args.integer("random");
        if (n < 0 || n > 100000) throw std::invalid_argument("--random: a count in 0..100000 or 'auto'");
        opt.random_cases = int(n);
        repro_extra += " --random " + std::to_string(opt.random_cases);
    }
    opt.case_patterns = split(args.str("case"), ',');
    opt.skip_patterns = split(args.str("skip"), ',');
    if (!args.str("tolerances").empty()) {
        opt.tolerances.merge_json_file(args.str("tolerances"));
        repro_extra += " --tolerances " + shell_quote(args.str("tolerances"));
    }
    const std::size_t golden_count = cf::golden_files(opt.golden_dirs).size();

    // The backends, each with the command line that selects it again.
    std::vector<std::pair<Backend, std::string>> backends;
    std::unique_ptr<Registry> own_registry;
    if (!plugin_arg.empty()) {
        // A registry of this one file: its name cannot be shadowed by an installed plugin.
        own_registry = std::make_unique<Registry>(std::vector<fs::path>{});
        const LoadReport r = own_registry->load_file(plugin_arg);
        if (!r.usable)
            throw Error(r.status == GDN_OK ? GDN_ERR_INTERNAL : r.status,
                        "cannot use " + plugin_arg + ":\n" + format_report(r));
        std::error_code ec;
        const fs::path abs = fs::absolute(plugin_arg, ec);
        backends.emplace_back(own_registry->open(r.name), "--plugin " + shell_quote(ec ? plugin_arg : abs.string()));
    } else if (all) {
        for (const Backend& b : Registry::global().available()) backends.emplace_back(b, "--backend " + b.name());
        if (backends.empty()) throw Error(GDN_ERR_NO_DEVICE, "no backend is available (see gdn list)");
    } else {
        const Backend b =
            backend_arg.empty() ? Registry::global().open_default() : Registry::global().open(backend_arg);
        backends.emplace_back(b, "--backend " + b.name());
    }

    if (args.flag("list")) {
        const cf::Suite suite(opt);
        for (const auto& [b, sel] : backends) {
            std::printf("%s:\n", b.name().c_str());
            for (const auto& id : suite.case_ids(b)) std::printf("  %s\n", id.c_str());
        }
        return 0;
    }
    if (opt.golden_dirs.empty() && !args.flag("no-golden"))
        std::printf("note: no golden vectors found; pass --golden DIR to include them\n");

    const ConsoleTable table(args.flag("verbose"));
    std::vector<cf::BackendReport> reports;
    for (const auto& [b, selector] : backends) {
        cf::Options o = opt;
        o.reproduce_prefix = "gdn conformance " + selector + repro_extra;
        const cf::Suite suite(o);
        print_header(b, suite, golden_count);
        const std::vector<std::string> ids = suite.case_ids(b);
        if (ids.empty()) {
            const std::string why =
                "no case of " + b.name() + " matches --case '" + args.str("case") + "' (see --list)";
            if (backends.size() == 1) throw std::invalid_argument(why);
            std::printf("   %s\n", why.c_str());
            continue;
        }
        table.running(0, ids.size(), ids.front());
        reports.push_back(suite.run(b, [&](std::size_t i, std::size_t n, const cf::CaseOutcome& c) {
            table.row(i, n, c);
            if (i + 1 < n && i + 1 < ids.size()) table.running(i + 1, n, ids[i + 1]);
        }));
        print_summary(reports.back());
    }
    if (reports.empty()) throw std::invalid_argument("no case ran (see --list)");
    if (reports.size() > 1 || all) print_matrix(reports);
    print_failures(reports);

    if (!args.str("json").empty())
        write_file(args.str("json"), "json", [&](std::ostream& out) { cf::write_json(reports, out); });
    if (!args.str("junit").empty())
        write_file(args.str("junit"), "junit", [&](std::ostream& out) { cf::write_junit(reports, out); });

    bool passed = true;
    for (const auto& r : reports) passed = passed && r.passed();
    std::printf("%s\n", passed ? "conformance: PASSED" : "conformance: FAILED");
    return passed ? 0 : 1;
}

}  // namespace gdn::cli
