#include "test_files.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <openssl/evp.h>

namespace sto::kube::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "kube_config_test.XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& relative, std::string_view content, unsigned mode) {
  fs::path file = path_ / relative;
  fs::create_directories(file.parent_path());
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + file.string());
  }
  if (mode != 0) fs::permissions(file, static_cast<fs::perms>(mode));
  return file.string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

const TestPems& test_pems() {
  static const TestPems pems = [] {
    static TempDir dir;  // lives for the whole run
    std::string d = dir.path().string();
    auto run = [](const std::string& command) {
      if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) {
        throw std::runtime_error("test setup failed (is openssl installed?): " + command);
      }
    };
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";
    run("openssl req -x509" + ec + " -keyout " + d + "/ca.key -out " + d +
        "/ca.crt -subj /CN=test-ca");
    run("openssl req -x509" + ec + " -keyout " + d + "/client.key -out " + d +
        "/client.crt -subj /O=system:masters/CN=admin");
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out " + d +
        "/other.key");
    TestPems p;
    p.ca_cert = read_text(d + "/ca.crt");
    p.client_cert = read_text(d + "/client.crt");
    p.client_key = read_text(d + "/client.key");
    p.other_key = read_text(d + "/other.key");
    return p;
  }();
  return pems;
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string fill(std::string text, const std::map<std::string, std::string>& values) {
  std::vector<std::pair<std::string, std::string>> ordered(values.begin(), values.end());
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  for (const auto& [name, value] : ordered) {
    std::string key = "$" + name;
    for (auto pos = text.find(key); pos != std::string::npos; pos = text.find(key, pos)) {
      text.replace(pos, key.size(), value);
      pos += value.size();
    }
  }
  return text;
}

void set_mtime(const std::string& path, long long seconds) {
  timespec times[2] = {{static_cast<time_t>(seconds), 0}, {static_cast<time_t>(seconds), 0}};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) != 0) {
    throw std::runtime_error("utimensat failed on " + path);
  }
}

}  // namespace sto::kube::testing
