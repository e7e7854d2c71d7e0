// sysdig-token-operator: flags -> configuration -> wiring -> run until SIGTERM.
#include <cstdio>
#include <iostream>

#include "cli/logging.h"
#include "cli/options.h"

int main(int argc, char** argv) {
  auto outcome = sto::cli::parse_command_line(argc, argv);
  if (auto* exit = std::get_if<sto::cli::Exit>(&outcome)) {
    (exit->code == 0 ? std::cout : std::cerr) << exit->text << '\n';
    return exit->code;
  }
  const auto& options = std::get<sto::cli::Options>(outcome);
  sto::log::configure(options.log_level, options.log_format);
  sto::log::error("the controller is not available in this build");
  return 1;
}
