// Plugins that must not be loaded, or not be loaded as they are: one that refers to a symbol no
// library defines (a load report, never the end of the process), and one that users other than
// root and the current one could replace (refused unless GDN_ALLOW_INSECURE_PLUGINS=1). Every
// directory these tests create gets its permissions set explicitly, whatever the umask.
#include <catch2/catch.hpp>

#include <elf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "elf_check.hpp"
#include "plugin_trust.hpp"
#include "registry_test_util.hpp"

using Catch::Matchers::Contains;
using gdn::LoadStage;
using namespace gdn_test;

namespace {

// A directory of its own under the temporary directory, mode 0755, with a copy of the fake
// plugin (mode 0755); removed at the end.
class PluginCopy {
public:
    explicit PluginCopy(const fs::path& source = test_plugin("fake")) {
        std::random_device rd;
        dir_ = fs::temp_directory_path() /
               ("gdn_trust_" + std::to_string(::getpid()) + "_" + std::to_string(rd() % 1000000));
        fs::create_directory(dir_);
        fs::permissions(dir_, fs::perms(0755));
        file_ = dir_ / source.filename();
        fs::copy_file(source, file_);
        fs::permissions(file_, fs::perms(0755));
    }
    ~PluginCopy() {
        std::error_code ec;
        fs::permissions(dir_, fs::perms(0755), ec);
        fs::remove_all(dir_, ec);
    }
    const fs::path& dir() const { return dir_; }
    const fs::path& file() const { return file_; }
    gdn::LoadReport load() const {
        const gdn::Registry reg({file_});
        const auto reports = reg.reports();
        REQUIRE(reports.size() == 1);
        INFO(gdn::format_report(reports[0]));
        return reports[0];
    }

private:
    fs::path dir_, file_;
};

void require_refused(const gdn::LoadReport& r, const std::string& what) {
    INFO(gdn::format_report(r));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(r.reason, Contains("refusing a plugin that other users can replace: " + what));
    CHECK_THAT(r.reason, Contains("GDN_ALLOW_INSECURE_PLUGINS=1"));
}

}  // namespace

TEST_CASE("a plugin with an unresolved symbol is a load report, and cpu still opens") {
    const fs::path file = test_plugin_dir() / "unresolved" / "libgdn_unresolved.so";
    REQUIRE(fs::exists(file));
    std::vector<fs::path> path{file};
    const fs::path cpu = real_plugin_dir() / "libgdn_cpu.so";
    if (fs::exists(cpu)) path.push_back(cpu);
    // Bound lazily, the plugin's init would end this process here (exit 127).
    const gdn::Registry reg(path);
    const auto r = report_of(reg, "unresolved");
    INFO(gdn::format_report(r));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::found);
    CHECK(r.status == GDN_ERR_RUNTIME);
    CHECK_THAT(r.reason, Contains("undefined symbol: gdn_test_symbol_nowhere"));
    CHECK_THAT(r.reason, Contains("libgdn_unresolved.so"));
    if (fs::exists(cpu)) CHECK(reg.open("cpu").plugin().name() == "cpu");
}

TEST_CASE("a plugin file or directory others can write is refused, with the reason") {
    PluginCopy copy;
    REQUIRE(copy.load().usable);  // the copy itself is fine

    SECTION("the file is group-writable") {
        fs::permissions(copy.file(), fs::perms(0775));
        require_refused(copy.load(),
                        "the plugin file " + copy.file().string() + " is writable by its group (mode 0775)");
    }
    SECTION("the file is world-writable") {
        fs::permissions(copy.file(), fs::perms(0757));
        require_refused(copy.load(), "the plugin file " + copy.file().string() + " is writable by others (mode 0757)");
    }
    SECTION("the directory is writable by all, without the sticky bit") {
        fs::permissions(copy.dir(), fs::perms(0777));
        require_refused(copy.load(), "the directory " + copy.dir().string() +
                                         " is writable by group and others (mode 0777, no sticky bit)");
    }
    SECTION("a directory above it is writable by others") {
        PluginCopy outer;
        const fs::path inner = outer.dir() / "inner";
        fs::create_directory(inner);
        fs::permissions(inner, fs::perms(0755));
        fs::copy_file(copy.file(), inner / "libgdn_fake.so");
        fs::permissions(inner / "libgdn_fake.so", fs::perms(0755));
        fs::permissions(outer.dir(), fs::perms(0757));
        const gdn::Registry reg({inner});
        const auto r = report_of(reg, "fake");
        require_refused(r,
                        "the directory " + outer.dir().string() + " is writable by others (mode 0757, no sticky bit)");
    }
    SECTION("a link in a safe directory to a file in an unsafe one") {
        PluginCopy safe;
        const fs::path link = safe.dir() / "libgdn_linked.so";
        fs::create_symlink(copy.file(), link);
        fs::permissions(copy.dir(), fs::perms(0775));
        const gdn::Registry reg({link});
        require_refused(reg.reports().at(0), "the directory " + copy.dir().string() +
                                                 " is writable by its group (mode 0775, no sticky bit)");
    }
    SECTION("a sticky directory writable by all, like /tmp, is fine") {
        fs::permissions(copy.dir(), fs::perms(01777));
        CHECK(copy.load().usable);
    }
    SECTION("GDN_ALLOW_INSECURE_PLUGINS=1 loads it anyway") {
        fs::permissions(copy.dir(), fs::perms(0777));
        fs::permissions(copy.file(), fs::perms(0777));
        const ScopedEnv allow("GDN_ALLOW_INSECURE_PLUGINS", "1");
        CHECK(copy.load().usable);
        const ScopedEnv zero("GDN_ALLOW_INSECURE_PLUGINS", "0");
        CHECK_FALSE(copy.load().usable);
    }
    SECTION("a file owned by another user (only root can make one)") {
        if (::geteuid() != 0) {
            WARN("skipped: chown needs root; ownership_problem is checked on its own below");
            return;
        }
        REQUIRE(::chown(copy.file().c_str(), 65534, 65534) == 0);
        require_refused(copy.load(), "the plugin file " + copy.file().string() +
                                         " is owned by uid 65534 (neither root nor the current user, uid 0)");
    }
}

TEST_CASE("the ownership rule: root or the current user, writable by nobody else") {
    using gdn::detail::ownership_problem;
    CHECK(ownership_problem(false, 0, 0755, 1000).empty());
    CHECK(ownership_problem(false, 1000, 0644, 1000).empty());
    CHECK(ownership_problem(true, 0, 01777, 1000).empty());
    CHECK(ownership_problem(false, 1001, 0644, 1000) ==
          "owned by uid 1001 (neither root nor the current user, uid 1000)");
    CHECK(ownership_problem(true, 1001, 0755, 0) == "owned by uid 1001 (neither root nor the current user, uid 0)");
    CHECK(ownership_problem(false, 0, 01777, 1000) == "writable by group and others (mode 1777)");
    CHECK(ownership_problem(true, 1000, 0770, 1000) == "writable by its group (mode 0770, no sticky bit)");
}

TEST_CASE("a plugin whose RUNPATH has an empty entry is refused") {
    // libgdn_runpath.so carries RUNPATH /nonexistent/gdn-test-runpath; its copy gets the last
    // byte of that string turned into ':', which adds an empty entry (the current directory).
    PluginCopy copy(test_plugin_dir() / "runpath" / "libgdn_runpath.so");
    REQUIRE(copy.load().usable);
    const std::string value = "/nonexistent/gdn-test-runpath";
    REQUIRE(gdn::detail::elf_search_paths(copy.file()).runpath == value);
    std::vector<char> bytes;
    {
        std::ifstream in(copy.file(), std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::string needle = value + '\0';
    const auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
    REQUIRE(at != bytes.end());
    *(at + std::ptrdiff_t(value.size() - 1)) = ':';
    // A new file: the dynamic loader would hand out a mapping of the old one by its name.
    const fs::path patched = copy.dir() / "libgdn_runpath_patched.so";
    {
        std::ofstream out(patched, std::ios::binary);
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    fs::permissions(patched, fs::perms(0755));
    REQUIRE(gdn::detail::elf_search_paths(patched).runpath == "/nonexistent/gdn-test-runpat:");
    const auto load = [&] { return gdn::Registry({patched}).reports().at(0); };
    const auto r = load();
    INFO(gdn::format_report(r));
    CHECK_FALSE(r.usable);
    CHECK(r.stage == LoadStage::found);
    CHECK(r.status == GDN_ERR_UNSUPPORTED);
    CHECK_THAT(r.reason, Contains("refusing a plugin whose libraries would be searched in the current directory: its "
                                  "RUNPATH `/nonexistent/gdn-test-runpat:` entry 2 is empty (the current directory)"));
    const ScopedEnv allow("GDN_ALLOW_INSECURE_PLUGINS", "1");
    CHECK(load().usable);
}

TEST_CASE("search path entries: empty and relative ones are unsafe, absolute and $ORIGIN ones are not") {
    using gdn::detail::search_path_problems;
    CHECK(search_path_problems("RUNPATH", "$ORIGIN/../lib").empty());
    CHECK(search_path_problems("RUNPATH", "${ORIGIN}:/usr/lib:$ORIGIN").empty());
    CHECK(search_path_problems("RUNPATH", "$ORIGIN/../lib:") ==
          std::vector<std::string>{"RUNPATH `$ORIGIN/../lib:` entry 2 is empty (the current directory)"});
    CHECK(search_path_problems("RPATH", "lib:/usr/lib") ==
          std::vector<std::string>{"RPATH `lib:/usr/lib` entry 1 `lib` is relative (to the current directory)"});
    CHECK(search_path_problems("RUNPATH", "$ORIGINAL").size() == 1);
    CHECK(search_path_problems("RUNPATH", "::").size() == 3);
}

TEST_CASE("the search path reader refuses a dynamic segment larger than the file") {
    // A crafted header must give an error, never an allocation of its size or a read past the end.
    PluginCopy copy;
    std::vector<char> bytes;
    {
        std::ifstream in(copy.file(), std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    Elf64_Ehdr eh;
    REQUIRE(bytes.size() > sizeof eh);
    std::memcpy(&eh, bytes.data(), sizeof eh);
    bool patched = false;
    for (int i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        const std::size_t at = eh.e_phoff + std::size_t(i) * sizeof ph;
        REQUIRE(at + sizeof ph <= bytes.size());
        std::memcpy(&ph, bytes.data() + at, sizeof ph);
        if (ph.p_type != PT_DYNAMIC) continue;
        ph.p_filesz = uint64_t(1) << 62;
        std::memcpy(bytes.data() + at, &ph, sizeof ph);
        patched = true;
    }
    REQUIRE(patched);
    const fs::path crafted = copy.dir() / "libgdn_crafted.so";
    {
        std::ofstream out(crafted, std::ios::binary);
        out.write(bytes.data(), std::streamsize(bytes.size()));
    }
    fs::permissions(crafted, fs::perms(0755));
    const auto p = gdn::detail::elf_search_paths(crafted);
    CHECK(p.is_elf);
    CHECK(p.error == "the dynamic section lies outside the file");
    const auto r = gdn::Registry({crafted}).reports().at(0);
    INFO(gdn::format_report(r));
    CHECK_FALSE(r.usable);
    CHECK_THAT(r.reason, Contains("truncated ELF file"));  // the check before mapping still says why
}
