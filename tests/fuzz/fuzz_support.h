// Shared by the fuzz targets: invariant checks that stop the run with a
// message (libFuzzer then saves the input), and a scratch folder for parsers
// that read files.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace sto::fuzz {

// Fails the run when an invariant does not hold.
[[noreturn]] inline void fail(std::string_view what) {
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline void check(bool ok, std::string_view what) {
  if (!ok) fail(what);
}

// One private folder per process, made on first use, e.g. /tmp/sto-fuzz-XXXXXX.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sto-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) fail("mkdtemp failed");
    return pattern;
  }();
  return dir;
}

inline std::string write_file(const std::string& name, std::string_view content) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  if (!out) fail("cannot write " + path);
  return path;
}

}  // namespace sto::fuzz
