// Whether a plugin file may be loaded at all: code that users other than root and the current
// one can replace, or that makes the dynamic loader search the working directory, is refused
// before it is mapped (as ssh and sudo refuse such files), unless GDN_ALLOW_INSECURE_PLUGINS=1.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

namespace gdn::detail {

// Empty when `file` may be loaded; else the reason, naming the file or directory at fault and
// the way out. Checked: the file and every directory above it, both along the path as given and
// along its canonical path (symbolic links resolved); and the file's DT_RPATH/DT_RUNPATH.
std::string untrusted_plugin_reason(const std::filesystem::path& file);

// GDN_ALLOW_INSECURE_PLUGINS is set to something other than "" or "0".
bool insecure_plugins_allowed();

// The rule for one file or directory: owned by root or `self`, and writable by nobody else (a
// directory with the sticky bit, such as /tmp, may be writable by all: others cannot replace
// what they do not own there). Empty when it holds; else what is wrong, e.g.
// "writable by group and others (mode 0777)" or "owned by uid 1001 (neither root nor uid 0)".
std::string ownership_problem(bool is_directory, uid_t owner, mode_t mode, uid_t self);

}  // namespace gdn::detail
