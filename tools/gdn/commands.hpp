// The subcommands of the gdn program; each parses its own options (argv excludes the command).
#pragma once

namespace gdn::cli {
int cmd_list(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_check(int argc, char** argv);
int cmd_conformance(int argc, char** argv);
}  // namespace gdn::cli
