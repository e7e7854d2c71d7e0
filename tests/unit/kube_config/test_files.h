// Test support for the kube configuration tests: a scratch directory, files
// written into it, and a CA, client certificate and keys made once per run.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>

namespace sto::kube::testing {

// A fresh directory under the system temp dir, removed with its content.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Writes `content` to `relative` (creating parent directories); returns
  // the absolute path. `mode` is applied when non-zero (e.g. 0755 for scripts).
  std::string write(const std::string& relative, std::string_view content, unsigned mode = 0);

 private:
  std::filesystem::path path_;
};

// Test PEMs made with the openssl command line on first use.
struct TestPems {
  std::string ca_cert;
  std::string client_cert;
  std::string client_key;
  std::string other_key;  // matches no certificate
};
const TestPems& test_pems();

std::string base64(std::string_view data);

// Replaces each "$NAME" in text by its value (longer names first).
std::string fill(std::string text, const std::map<std::string, std::string>& values);

// Sets a file's mtime to `seconds` since the epoch.
void set_mtime(const std::string& path, long long seconds);

std::string read_text(const std::string& path);

}  // namespace sto::kube::testing
