// The fake-ibm-cloud executable's contract with scripts: the listening line,
// --port-file (and --ports-file for several --listen), --tls-dir/ca.crt, exit
// codes, and clear errors for bad input.

#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_server.h"

namespace sto::fake::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sto::testing::read_file;
using sto::testing::write_file;

class TempDir : public sto::testing::TempDir {
 public:
  TempDir() : sto::testing::TempDir("fake-ibm-cloud-test") {}
};

// The fake-ibm-cloud binary as a child process, stdout and stderr in files.
class Process : public sto::testing::ChildProcess {
 public:
  Process(const std::vector<std::string>& args, const fs::path& out, const fs::path& err)
      : ChildProcess(with_binary(args), out, err) {}

 private:
  static std::vector<std::string> with_binary(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {FAKE_IBM_CLOUD_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

struct Outcome {
  int exit_code;
  std::string err;
};

// Runs the binary to completion.
Outcome run_binary(const TempDir& dir, const std::vector<std::string>& args) {
  Process process(args, dir.path() / "stdout", dir.path() / "stderr");
  int code = process.wait();
  return {code, read_file(dir.path() / "stderr")};
}

bool wait_for_file(const fs::path& path, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

TEST(Binary, ServesHttpsOnAPickedPortAndWritesThePortAndCaFiles) {
  TempDir dir;
  write_file(dir.path() / "config.yaml", kDemoConfigYaml);
  Process fake(
      {"--config", (dir.path() / "config.yaml").string(), "--listen", "127.0.0.1:0", "--tls-dir",
       (dir.path() / "tls").string(), "--port-file", (dir.path() / "port").string()},
      dir.path() / "stdout", dir.path() / "stderr");
  ASSERT_TRUE(wait_for_file(dir.path() / "port")) << read_file(dir.path() / "stderr");

  const std::string port = read_file(dir.path() / "port");
  ASSERT_FALSE(port.empty());
  EXPECT_EQ(port.back(), '\n');
  const std::string url = "https://127.0.0.1:" + port.substr(0, port.size() - 1);
  EXPECT_EQ(read_file(dir.path() / "stdout"), "listening on " + url + "\n");

  const std::string ca = read_file(dir.path() / "tls" / "ca.crt");
  EXPECT_EQ(ca.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  {
    TestClient client(url, ca);
    std::string token = client.access_token();
    auto response = client.get_monitoring("/api/token", token, kGuid, kOpsTeam);
    EXPECT_EQ(body_json(response)["token"]["key"], kOpsToken);
  }

  fake.signal(SIGTERM);
  EXPECT_EQ(fake.wait(), 0);
}

TEST(Binary, SeveralListenersServeOneFake) {
  TempDir dir;
  write_file(dir.path() / "config.yaml", kDemoConfigYaml);
  Process fake({"--config", (dir.path() / "config.yaml").string(), "--listen", "127.0.0.1:0",
                "--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--tls-dir",
                (dir.path() / "tls").string(), "--port-file", (dir.path() / "port").string(),
                "--ports-file", (dir.path() / "ports").string()},
               dir.path() / "stdout", dir.path() / "stderr");
  ASSERT_TRUE(wait_for_file(dir.path() / "ports")) << read_file(dir.path() / "stderr");
  ASSERT_TRUE(wait_for_file(dir.path() / "port"));
  std::istringstream lines(read_file(dir.path() / "ports"));
  std::vector<std::string> ports;
  for (std::string line; std::getline(lines, line);) ports.push_back(line);
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(read_file(dir.path() / "port"), ports[0] + "\n");
  std::string listening;
  for (const auto& port : ports) listening += "listening on https://127.0.0.1:" + port + "\n";
  EXPECT_EQ(read_file(dir.path() / "stdout"), listening);

  // One state: a token issued through one listener is good at another.
  const std::string ca = read_file(dir.path() / "tls" / "ca.crt");
  std::string token;
  {
    TestClient first("https://127.0.0.1:" + ports[0], ca);
    token = first.access_token();
  }
  {
    TestClient last("https://127.0.0.1:" + ports[2], ca);
    auto response = last.get_monitoring("/api/token", token, kGuid, kOpsTeam);
    EXPECT_EQ(body_json(response)["token"]["key"], kOpsToken);
  }
  fake.signal(SIGTERM);
  EXPECT_EQ(fake.wait(), 0);
}

TEST(Binary, PlainHttpForDebugging) {
  TempDir dir;
  Process fake({"--plain-http", "--port-file", (dir.path() / "port").string()},
               dir.path() / "stdout", dir.path() / "stderr");
  ASSERT_TRUE(wait_for_file(dir.path() / "port")) << read_file(dir.path() / "stderr");
  std::string port = read_file(dir.path() / "port");
  const std::string url = "http://127.0.0.1:" + port.substr(0, port.size() - 1);
  EXPECT_EQ(read_file(dir.path() / "stdout"), "listening on " + url + "\n");

  {
    TestClient client(url, "");
    EXPECT_EQ(client.admin("GET", "/_fake/state")["instances"], nlohmann::json::array());
  }
  fake.signal(SIGINT);
  EXPECT_EQ(fake.wait(), 0);
}

TEST(Binary, MalformedConfigExitsWith2NamingTheField) {
  TempDir dir;
  const fs::path config = dir.path() / "config.yaml";
  write_file(config,
             "instances:\n  - guid: g\n    teams:\n      - {id: 1, name: a}\n"
             "      - {id: x, name: b}\n");
  Outcome outcome = run_binary(dir, {"--config", config.string()});
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_EQ(outcome.err, "fake-ibm-cloud: " + config.string() +
                             ": instances[0].teams[1].id: expected an integer, got a string\n");

  write_file(config, "apiKeys: [\n");
  outcome = run_binary(dir, {"--config", config.string()});
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_NE(outcome.err.find("line 2"), std::string::npos) << outcome.err;

  outcome = run_binary(dir, {"--config", (dir.path() / "missing.yaml").string()});
  EXPECT_EQ(outcome.exit_code, 2);
  EXPECT_NE(outcome.err.find("cannot read"), std::string::npos) << outcome.err;
}

TEST(Binary, BadFlagsExitWith2) {
  TempDir dir;
  for (const auto& args : std::vector<std::vector<std::string>>{{"--listen", "0.0.0.0:0"},
                                                                // public; private but no bridge's
                                                                {"--listen", "192.0.2.1:0"},
                                                                {"--listen", "10.255.254.253:0"},
                                                                {"--listen", "127.0.0.1:70000"},
                                                                {"--listen", "nonsense"},
                                                                {"--plain-http", "--tls-dir", "x"},
                                                                {"--san", "not a name"},
                                                                {"--log-level", "loud"},
                                                                {"--no-such-flag"}}) {
    Outcome outcome = run_binary(dir, args);
    EXPECT_EQ(outcome.exit_code, 2) << args[0];
    EXPECT_EQ(outcome.err.rfind("fake-ibm-cloud: ", 0), 0u) << outcome.err;
    EXPECT_EQ(std::count(outcome.err.begin(), outcome.err.end(), '\n'), 1) << outcome.err;
  }
}

}  // namespace
}  // namespace sto::fake::testing
