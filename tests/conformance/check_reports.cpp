// Validates the reports of `gdn conformance`: the JSON parses and follows schema
// gdn-conformance/1, the JUnit file is well-formed XML (a strict parser of its own, no XML
// library needed) with the structure CI systems read, and both tell the same story.
//
//   check_reports --json FILE --junit FILE [--backend NAME]... [--expect-pass] [--expect-fail]
//
// Exit code 0 when everything holds; otherwise one line per problem and exit code 1.
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

std::vector<std::string> problems;
void problem(const std::string& p) { problems.push_back(p); }

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// ---- a strict XML 1.0 reader (elements, attributes, text, comments, the prolog) --------------

struct Element {
    std::string name;
    std::map<std::string, std::string> attributes;
    std::vector<std::unique_ptr<Element>> children;
    std::string text;

    std::vector<const Element*> all(const std::string& child) const {
        std::vector<const Element*> out;
        for (const auto& c : children)
            if (c->name == child) out.push_back(c.get());
        return out;
    }
    std::string attr(const std::string& a) const {
        auto it = attributes.find(a);
        return it == attributes.end() ? std::string() : it->second;
    }
    bool has(const std::string& a) const { return attributes.count(a) != 0; }
};

class XmlReader {
public:
    explicit XmlReader(const std::string& s) : s_(s) {}

    std::unique_ptr<Element> document() {
        check_utf8();
        if (s_.compare(0, 5, "<?xml") == 0) {
            const auto end = s_.find("?>");
            if (end == std::string::npos) fail("unterminated XML declaration");
            if (s_.find("encoding=\"UTF-8\"") > end) fail("the declaration does not say encoding=\"UTF-8\"");
            i_ = end + 2;
        }
        misc();
        if (i_ >= s_.size() || s_[i_] != '<') fail("no root element");
        auto root = element();
        misc();
        if (i_ != s_.size()) fail("content after the root element");
        return root;
    }

private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error("XML: " + why + " at byte " + std::to_string(i_));
    }
    void check_utf8() const {
        for (std::size_t k = 0; k < s_.size();) {
            const unsigned char c = static_cast<unsigned char>(s_[k]);
            if (c < 0x80) {
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                    throw std::runtime_error("XML: control character " + std::to_string(c) + " at byte " +
                                             std::to_string(k));
                ++k;
                continue;
            }
            const int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
            if (n == 0 || k + std::size_t(n) > s_.size())
                throw std::runtime_error("XML: invalid UTF-8 at byte " + std::to_string(k));
            for (int j = 1; j < n; ++j)
                if ((static_cast<unsigned char>(s_[k + std::size_t(j)]) & 0xC0) != 0x80)
                    throw std::runtime_error("XML: invalid UTF-8 at byte " + std::to_string(k));
            k += std::size_t(n);
        }
    }
    void skip_space() {
        while (i_ < s_.size() && std::strchr(" \t\r\n", s_[i_])) ++i_;
    }
    // Whitespace and comments between elements.
    void misc() {
        for (;;) {
            skip_space();
            if (s_.compare(i_, 4, "<!--") == 0) {
                const auto end = s_.find("-->", i_ + 4);
                if (end == std::string::npos) fail("unterminated comment");
                i_ = end + 3;
            } else {
                return;
            }
        }
    }
    static bool name_char(char c, bool first) {
        const unsigned char u = static_cast<unsigned char>(c);
        if (std::isalpha(u) || c == '_' || c == ':' || u >= 0x80) return true;
        return !first && (std::isdigit(u) || c == '-' || c == '.');
    }
    std::string name() {
        const std::size_t b = i_;
        if (i_ >= s_.size() || !name_char(s_[i_], true)) fail("a name expected");
        while (i_ < s_.size() && name_char(s_[i_], false)) ++i_;
        return s_.substr(b, i_ - b);
    }
    // Character data up to `stop`, entities resolved; '<' and '&' must not appear raw.
    std::string chars(char stop) {
        std::string out;
        while (i_ < s_.size() && s_[i_] != stop) {
            const char c = s_[i_];
            if (c == '<') {
                if (stop == '<') break;
                fail("raw '<' in an attribute value");
            }
            if (c == '&') {
                const auto semi = s_.find(';', i_);
                if (semi == std::string::npos || semi - i_ > 10) fail("unterminated entity");
                const std::string ent = s_.substr(i_ + 1, semi - i_ - 1);
                static const std::map<std::string, char> named{
                    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
                if (auto it = named.find(ent); it != named.end()) {
                    out += it->second;
                } else if (ent.size() > 1 && ent[0] == '#') {
                    const bool hex = ent[1] == 'x';
                    const std::string digits = ent.substr(hex ? 2 : 1);
                    if (digits.empty() ||
                        digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") != std::string::npos)
                        fail("bad character reference &" + ent + ";");
                    const unsigned long cp = std::stoul(digits, nullptr, hex ? 16 : 10);
                    if (cp < 0x20 && cp != 9 && cp != 10 && cp != 13)
                        fail("character reference to a forbidden character");
                    out += '?';  // the value does not matter here, only that it is legal
                } else {
                    fail("unknown entity &" + ent + ";");
                }
                i_ = semi + 1;
                continue;
            }
            out += c;
            ++i_;
        }
        return out;
    }
    std::unique_ptr<Element> element() {
        ++i_;  // '<'
        auto e = std::make_unique<Element>();
        e->name = name();
        for (;;) {
            const std::size_t before = i_;
            skip_space();
            if (i_ >= s_.size()) fail("unterminated start tag <" + e->name);
            if (s_.compare(i_, 2, "/>") == 0) {
                i_ += 2;
                return e;
            }
            if (s_[i_] == '>') {
                ++i_;
                break;
            }
            if (i_ == before) fail("whitespace expected before an attribute of <" + e->name);
            const std::string a = name();
            skip_space();
            if (i_ >= s_.size() || s_[i_] != '=') fail("'=' expected after attribute " + a);
            ++i_;
            skip_space();
            if (i_ >= s_.size() || (s_[i_] != '"' && s_[i_] != '\'')) fail("quoted value expected for attribute " + a);
            const char q = s_[i_++];
            std::string v = chars(q);
            if (i_ >= s_.size()) fail("unterminated value of attribute " + a);
            ++i_;
            if (!e->attributes.emplace(a, v).second) fail("attribute " + a + " given twice");
        }
        for (;;) {
            e->text += chars('<');
            if (i_ >= s_.size()) fail("unterminated element <" + e->name + ">");
            if (s_.compare(i_, 4, "<!--") == 0) {
                const auto end = s_.find("-->", i_ + 4);
                if (end == std::string::npos) fail("unterminated comment");
                i_ = end + 3;
            } else if (s_.compare(i_, 2, "</") == 0) {
                i_ += 2;
                const std::string closing = name();
                if (closing != e->name) fail("</" + closing + "> closes <" + e->name + ">");
                skip_space();
                if (i_ >= s_.size() || s_[i_] != '>') fail("'>' expected");
                ++i_;
                return e;
            } else {
                e->children.push_back(element());
            }
        }
    }

    const std::string& s_;
    std::size_t i_ = 0;
};

// ---- the checks ---------------------------------------------------------------------------------

const std::set<std::string> statuses{"pass", "fail", "unsupported", "skipped"};

struct Counts {
    int cases = 0, fail = 0, not_run = 0;
};

// JSON: the schema, every case well-formed, summaries equal to the cases.
std::map<std::string, Counts> check_json(const nlohmann::json& j) {
    std::map<std::string, Counts> per_backend;
    auto need = [&](const nlohmann::json& o, const char* key, const char* where) -> bool {
        if (!o.contains(key)) {
            problem(std::string("json: ") + where + " has no '" + key + "'");
            return false;
        }
        return true;
    };
    if (j.value("schema", "") != "gdn-conformance/1") problem("json: schema is not gdn-conformance/1");
    for (const char* k : {"gdn_version", "host_abi", "passed", "summary", "backends"}) need(j, k, "the document");
    if (!j.contains("backends") || !j["backends"].is_array() || j["backends"].empty()) {
        problem("json: 'backends' is not a non-empty array");
        return per_backend;
    }
    bool all_passed = true;
    for (const auto& b : j["backends"]) {
        for (const char* k : {"backend", "plugin", "device", "capabilities", "seed", "passed", "summary", "cases"})
            need(b, k, "a backend");
        const std::string name = b.value("backend", "?");
        Counts& n = per_backend[name];
        std::set<std::string> ids;
        int fails = 0, pass = 0, unsupported = 0, skipped = 0;
        for (const auto& c : b.value("cases", nlohmann::json::array())) {
            for (const char* k :
                 {"id", "category", "description", "status", "message", "seconds", "reproduce", "metrics", "tolerance"})
                need(c, k, ("case of " + name).c_str());
            const std::string id = c.value("id", ""), st = c.value("status", "");
            if (id.empty() || !ids.insert(id).second)
                problem("json: " + name + ": empty or repeated case id '" + id + "'");
            if (!statuses.count(st)) problem("json: " + name + ": case " + id + " has status '" + st + "'");
            if (c.value("reproduce", "").find("--case " + id) == std::string::npos)
                problem("json: " + name + ": case " + id + " has no reproduction command naming it");
            fails += st == "fail";
            pass += st == "pass";
            unsupported += st == "unsupported";
            skipped += st == "skipped";
        }
        std::vector<std::string> failed_ids;
        for (const auto& c : b.value("cases", nlohmann::json::array()))
            if (c.value("status", "") == "fail") failed_ids.push_back(c.value("id", ""));
        if (!b.contains("failed_cases") || b["failed_cases"] != nlohmann::json(failed_ids))
            problem("json: " + name + ": 'failed_cases' is not the ids of its failed cases, in order");
        n.cases = int(ids.size());
        n.fail = fails;
        n.not_run = unsupported + skipped;
        const auto& s = b.value("summary", nlohmann::json::object());
        if (s.value("cases", -1) != n.cases || s.value("fail", -1) != fails || s.value("pass", -1) != pass ||
            s.value("unsupported", -1) != unsupported || s.value("skipped", -1) != skipped)
            problem("json: " + name + ": the summary does not count its cases");
        if (b.value("passed", !fails) != (fails == 0))
            problem("json: " + name + ": 'passed' disagrees with its failures");
        all_passed = all_passed && fails == 0;
    }
    if (j.value("passed", !all_passed) != all_passed) problem("json: 'passed' disagrees with the backends");
    return per_backend;
}

// JUnit: testsuites > testsuite > testcase, counts in the attributes equal to the elements.
std::map<std::string, Counts> check_junit(const Element& root) {
    std::map<std::string, Counts> per_backend;
    if (root.name != "testsuites") problem("junit: the root is <" + root.name + ">, not <testsuites>");
    int tests = 0, failures = 0, skipped = 0;
    for (const Element* suite : root.all("testsuite")) {
        const std::string name = suite->attr("name");
        const std::string prefix = "gdn conformance: ";
        const std::string backend = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
        Counts& n = per_backend[backend];
        for (const char* a : {"name", "tests", "failures", "errors", "skipped", "time"})
            if (!suite->has(a)) problem("junit: <testsuite " + name + "> has no " + a);
        for (const Element* tc : suite->all("testcase")) {
            if (!tc->has("name") || !tc->has("classname") || !tc->has("time"))
                problem("junit: a <testcase> lacks name, classname or time");
            const auto f = tc->all("failure"), s = tc->all("skipped");
            if (f.size() + s.size() > 1) problem("junit: testcase " + tc->attr("name") + " is both failed and skipped");
            for (const Element* x : f)
                if (!x->has("message")) problem("junit: a <failure> has no message");
            ++n.cases;
            n.fail += int(f.size());
            n.not_run += int(s.size());
        }
        if (suite->attr("tests") != std::to_string(n.cases) || suite->attr("failures") != std::to_string(n.fail) ||
            suite->attr("skipped") != std::to_string(n.not_run))
            problem("junit: <testsuite " + name + "> counts disagree with its testcases");
        tests += n.cases;
        failures += n.fail;
        skipped += n.not_run;
    }
    if (root.attr("tests") != std::to_string(tests) || root.attr("failures") != std::to_string(failures) ||
        root.attr("skipped") != std::to_string(skipped))
        problem("junit: <testsuites> counts disagree with the testcases");
    return per_backend;
}

}  // namespace

int main(int argc, char** argv) {
    std::string json_file, junit_file;
    std::vector<std::string> backends;
    int expect = -1;  // 1: must pass, 0: must fail
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--json" && i + 1 < argc)
            json_file = argv[++i];
        else if (a == "--junit" && i + 1 < argc)
            junit_file = argv[++i];
        else if (a == "--backend" && i + 1 < argc)
            backends.push_back(argv[++i]);
        else if (a == "--expect-pass")
            expect = 1;
        else if (a == "--expect-fail")
            expect = 0;
        else {
            std::fprintf(
                stderr,
                "usage: check_reports --json FILE --junit FILE [--backend NAME]... [--expect-pass|--expect-fail]\n");
            return 2;
        }
    }
    if (json_file.empty() || junit_file.empty()) {
        std::fprintf(stderr, "check_reports: --json and --junit are required\n");
        return 2;
    }
    try {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_file(json_file));
        } catch (const nlohmann::json::exception& e) {
            throw std::runtime_error(json_file + ": not valid JSON: " + e.what());
        }
        const auto from_json = check_json(j);
        const std::string xml = read_file(junit_file);
        const auto root = XmlReader(xml).document();
        const auto from_junit = check_junit(*root);
        for (const auto& b : backends)
            if (!from_json.count(b) || !from_junit.count(b)) problem("backend " + b + " is missing from a report");
        for (const auto& [b, n] : from_json) {
            auto it = from_junit.find(b);
            if (it == from_junit.end()) {
                problem("backend " + b + " is in the JSON but not in the JUnit report");
                continue;
            }
            if (it->second.cases != n.cases || it->second.fail != n.fail || it->second.not_run != n.not_run)
                problem("backend " + b + ": the JSON and JUnit reports count differently");
        }
        const bool passed = j.value("passed", false);
        if (expect == 1 && !passed) problem("the run was expected to pass, and the report says it did not");
        if (expect == 0 && passed) problem("the run was expected to fail, and the report says it passed");
        for (const auto& [b, n] : from_json)
            std::printf("%s: %d cases, %d failed, %d unsupported or skipped\n", b.c_str(), n.cases, n.fail, n.not_run);
    } catch (const std::exception& e) {
        problem(e.what());
    }
    for (const auto& p : problems) std::printf("PROBLEM: %s\n", p.c_str());
    std::printf("%s\n", problems.empty() ? "reports valid" : "reports INVALID");
    return problems.empty() ? 0 : 1;
}
