// Reading whole files, with errors as values (the reason only: callers name
// the file and what it was for).
#pragma once

#include <string>

#include "common/result.h"

namespace sto {

Result<std::string, std::string> read_file(const std::string& path);

}  // namespace sto
