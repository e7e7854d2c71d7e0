#include "common/files.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace sto {

Result<std::string, std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return fail(std::string("is a directory"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::string(std::strerror(errno)));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return fail(std::string("read error"));
  return out.str();
}

}  // namespace sto
