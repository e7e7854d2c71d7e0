// Test support: a program run as a child process with its stdout and stderr
// in files, and a temporary directory for such files.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace sto::testing {

std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& content);

// A fresh directory, removed with its contents by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "sto-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class ChildProcess {
 public:
  // Starts argv[0] with argv; throws when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& out,
               const std::filesystem::path& err);
  ~ChildProcess();  // kills it (SIGKILL) when still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  void signal(int sig);
  // Whether it has exited (then exit_code() holds its code).
  bool exited();
  // The exit code (128 + signal when killed by one), or -1 when the process
  // did not exit within the timeout.
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then SIGKILL after the grace period; waits for the exit.
  void terminate(std::chrono::milliseconds grace = std::chrono::seconds(5));
  int exit_code() const { return exit_code_; }

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace sto::testing
