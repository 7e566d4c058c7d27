// layerleak cli: the command line (CONTRACT.md). Parses options into one validated options struct,
// runs the command, maps the outcome to an exit status: 0 clean, 1 findings at or above --fail-on,
// 2 the scan could not be completed (or bad usage).
//
// Not responsible for: scanning (pipeline) or formatting (report).
#pragma once

namespace layerleak::cli {

int run(int argc, char** argv);

}  // namespace layerleak::cli
