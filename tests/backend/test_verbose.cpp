// GDN_VERBOSE=plan: a stream created with it prints one line per call on stderr, naming every
// group of requests with the path it takes and why; a stream created without it prints nothing,
// whatever the environment says later (the setting is read once per stream).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "fixture.hpp"

using namespace gdn;

namespace {

// Everything written to file descriptor 2 between construction and finish().
class StderrCapture {
public:
    StderrCapture() {
        std::fflush(stderr);
        file_ = std::tmpfile();
        REQUIRE(file_);
        saved_ = dup(2);
        REQUIRE(dup2(fileno(file_), 2) == 2);
    }
    std::string finish() {
        std::fflush(stderr);
        dup2(saved_, 2);
        close(saved_);
        std::rewind(file_);
        std::string text;
        char buf[4096];
        for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) text.append(buf, n);
        std::fclose(file_);
        return text;
    }

private:
    FILE* file_ = nullptr;
    int saved_ = -1;
};

std::vector<std::string> plan_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (l.rfind("gdn_verbose,plan,", 0) == 0) lines.push_back(l);
    return lines;
}

// The count after `group` ("extend x") summed over every group of that kind in the line.
int64_t count_of(const std::string& line, const std::string& group) {
    int64_t n = 0;
    for (size_t at = line.find(group); at != std::string::npos; at = line.find(group, at + 1))
        n += std::atoll(line.c_str() + at + group.size());
    return n;
}

}  // namespace

TEST_CASE("GDN_VERBOSE=plan prints each call's request groups, their paths and why", "[verbose]") {
    const uint64_t seed = test::seed("GDN_VERBOSE=plan prints each call's request groups, their paths and why");
    RandomCaseSpec spec;
    spec.num_k_heads = 2;
    spec.num_v_heads = 4;
    spec.head_k_dim = 32;
    spec.head_v_dim = 48;
    spec.activation_dtype = DType::f32;
    spec.mode = ForwardMode::mixed;
    spec.lengths = {1, 50, 1, 0, 3, 70};  // extend x3 (two long, one short), decode x2, empty x1
    const Case c = random_case(spec, seed);

    const char* before = std::getenv("GDN_VERBOSE");
    const std::string saved = before ? before : "";
    unsetenv("GDN_VERBOSE");
    Stream quiet(test::backend(), 2);
    setenv("GDN_VERBOSE", "all", 1);
    Stream loud_all(test::backend(), 2);
    setenv("GDN_VERBOSE", "other,plan", 1);
    Stream loud(test::backend(), 2);

    StderrCapture capture;
    RunOptions opt;
    opt.stream = &quiet;  // GDN_VERBOSE is set now, but was not when this stream was created
    const CaseResult q = run_case(test::backend(), c, default_tolerance(DType::f32), opt);
    const std::string quiet_text = capture.finish();
    StderrCapture capture2;
    opt.stream = &loud;
    const CaseResult l = run_case(test::backend(), c, default_tolerance(DType::f32), opt);
    opt.stream = &loud_all;
    const CaseResult la = run_case(test::backend(), c, default_tolerance(DType::f32), opt);
    const std::string loud_text = capture2.finish();
    if (before)
        setenv("GDN_VERBOSE", saved.c_str(), 1);
    else
        unsetenv("GDN_VERBOSE");

    CHECK(q.passed);
    CHECK(l.passed);
    CHECK(la.passed);
    INFO(loud_text);
    CHECK(plan_lines(quiet_text).empty());
    const std::vector<std::string> lines = plan_lines(loud_text);
    REQUIRE(lines.size() == 2);  // one per call, on either stream
    const std::string& line = lines[0];
    CHECK(lines[1] == line);
    CHECK(line.rfind("gdn_verbose,plan," + test::backend().name() + ",", 0) == 0);
    CHECK(line.find(",f32,requests=6,tokens=125") != std::string::npos);
    CHECK(count_of(line, "extend x") == 3);
    CHECK(count_of(line, "decode x") == 2);
    CHECK(count_of(line, "empty x") == 1);
    CHECK(count_of(line, "padding x") == 0);
    if (test::backend().name() == "cpu" && !std::getenv("GDN_CPU_PREFILL")) {
        CHECK(line.find("extend x2 -> chunked (length >= 10 tokens)") != std::string::npos);
        CHECK(line.find("extend x1 -> token by token (length < 10 tokens)") != std::string::npos);
        CHECK(line.find("decode x2 -> token by token (one token)") != std::string::npos);
    }
}
