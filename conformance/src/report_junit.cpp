// The JUnit XML report: what CI systems (Jenkins, GitLab, GitHub actions) read. One <testsuite>
// per backend, one <testcase> per case; FAIL is a <failure>, UNSUPPORTED and SKIP are <skipped>
// with the reason. The description, numbers and the reproduction command go to <system-out>.
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "gdn/conformance.hpp"

namespace gdn::conformance {

namespace {

// Text as XML 1.0 character data or attribute value: markup escaped, characters XML forbids and
// invalid UTF-8 (plugin messages are foreign bytes) replaced by '?'.
std::string xml(const std::string& s) {
    std::string o;
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
                case '&': o += "&amp;"; break;
                case '<': o += "&lt;"; break;
                case '>': o += "&gt;"; break;
                case '"': o += "&quot;"; break;
                case '\'': o += "&apos;"; break;
                default: o += (c < 0x20 && c != '\t' && c != '\n' && c != '\r') ? '?' : char(c);
            }
            ++i;
            continue;
        }
        // A well-formed UTF-8 sequence of a character XML allows is copied; anything else
        // (stray bytes, overlong forms, surrogates, U+FFFE/U+FFFF) becomes '?'.
        const int n = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        bool ok = n > 0 && i + std::size_t(n) <= s.size();
        uint32_t cp = n == 2 ? c & 0x1Fu : n == 3 ? c & 0x0Fu : c & 0x07u;
        for (int k = 1; ok && k < n; ++k) {
            const unsigned char cc = static_cast<unsigned char>(s[i + std::size_t(k)]);
            ok = (cc & 0xC0) == 0x80;
            cp = (cp << 6) | (cc & 0x3Fu);
        }
        const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= smallest[n] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF) && cp != 0xFFFE &&
             cp != 0xFFFF;
        if (ok) {
            o.append(s, i, std::size_t(n));
            i += std::size_t(n);
        } else {
            o += '?';
            ++i;
        }
    }
    return o;
}

std::string seconds(double s) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", s);
    return b;
}

std::string details(const CaseOutcome& c) {
    std::ostringstream o;
    o << c.description << "\n";
    if (c.metrics)
        o << "out rel L2 " << c.metrics->out_rel_l2 << ", state rel L2 " << c.metrics->state_rel_l2 << ", out max abs "
          << c.metrics->out_max_abs << ", out max rel " << c.metrics->out_max_rel << ", conv "
          << (c.metrics->conv_exact ? "exact" : "differs") << "\n";
    if (c.tolerance)
        o << "tolerance: out " << c.tolerance->out << ", state " << c.tolerance->state
          << (c.tolerance->conv_exact ? ", conv exact" : "")
          << (c.tolerance_reason.empty() ? "" : " (override: " + c.tolerance_reason + ")") << "\n";
    if (!c.reproduce.empty()) o << "reproduce: " << c.reproduce << "\n";
    return o.str();
}

}  // namespace

void write_junit(const std::vector<BackendReport>& reports, std::ostream& out) {
    int tests = 0, failures = 0, skipped = 0;
    double total = 0;
    for (const auto& r : reports) {
        tests += int(r.cases.size());
        failures += r.count(Status::fail);
        skipped += r.count(Status::unsupported) + r.count(Status::skipped);
        total += r.seconds;
    }
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites name=\"gdn conformance\" tests=\"" << tests << "\" failures=\"" << failures
        << "\" errors=\"0\" skipped=\"" << skipped << "\" time=\"" << seconds(total) << "\">\n";
    for (const auto& r : reports) {
        out << "  <testsuite name=\"" << xml("gdn conformance: " + r.backend) << "\" tests=\"" << r.cases.size()
            << "\" failures=\"" << r.count(Status::fail) << "\" errors=\"0\" skipped=\""
            << r.count(Status::unsupported) + r.count(Status::skipped) << "\" time=\"" << seconds(r.seconds) << "\">\n";
        out << "    <properties>\n";
        const std::pair<const char*, std::string> props[] = {
            {"backend", r.backend},
            {"plugin", r.plugin_name + " " + r.plugin_version},
            {"plugin_path", r.plugin_path},
            {"plugin_abi", std::to_string(r.abi_major) + "." + std::to_string(r.abi_minor)},
            {"device", r.device_name},
            {"seed", std::to_string(r.seed)},
        };
        for (const auto& [name, value] : props)
            out << "      <property name=\"" << name << "\" value=\"" << xml(value) << "\"/>\n";
        for (const auto& [dtype, e] : r.tolerance_overrides)
            out << "      <property name=\"tolerance_override_" << dtype_name(dtype) << "\" value=\""
                << xml("out " + std::to_string(e.tolerance.out) + ", state " + std::to_string(e.tolerance.state) +
                       ": " + e.reason)
                << "\"/>\n";
        out << "    </properties>\n";
        for (const auto& c : r.cases) {
            out << "    <testcase name=\"" << xml(c.id) << "\" classname=\""
                << xml("gdn.conformance." + r.backend + "." + c.category) << "\" time=\"" << seconds(c.seconds)
                << "\">\n";
            if (c.status == Status::fail)
                out << "      <failure message=\"" << xml(c.message) << "\" type=\"FAIL\">" << xml(c.message)
                    << "</failure>\n";
            else if (c.status != Status::pass)
                out << "      <skipped message=\"" << xml(std::string(status_name(c.status)) + ": " + c.message)
                    << "\"/>\n";
            out << "      <system-out>" << xml(details(c)) << "</system-out>\n";
            out << "    </testcase>\n";
        }
        out << "  </testsuite>\n";
    }
    out << "</testsuites>\n";
}

}  // namespace gdn::conformance
