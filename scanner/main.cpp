// layerleak entry point: everything lives in the libraries; see scanner/cli.
#include "layerleak/cli.h"

int main(int argc, char** argv) { return layerleak::cli::run(argc, argv); }
