#include "kube/credentials.h"

#include "common/encoding.h"
#include "common/files.h"
#include "common/rfc3339.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

extern char** environ;  // NOLINT: POSIX

namespace sto::kube {

boost::asio::awaitable<Result<std::string, std::string>> Credentials::authorization_async() {
  co_return authorization();
}

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

// A token goes into an HTTP header: surrounding white space is dropped (as
// client-go does) and control characters are refused.
Result<std::string, std::string> clean_token(std::string_view token) {
  auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return fail(std::string("the token is empty"));
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  for (unsigned char c : token) {
    if (c < 0x20 || c == 0x7f) return fail(std::string("the token contains control characters"));
  }
  return std::string(token);
}

class NoCredentials final : public Credentials {
 public:
  Result<std::string, std::string> authorization() override { return std::string(); }
};

class StaticToken final : public Credentials {
 public:
  explicit StaticToken(std::string token) : token_(std::move(token)) {}
  Result<std::string, std::string> authorization() override {
    auto token = clean_token(token_);
    if (!token) return fail(token.error());
    return "Bearer " + *token;
  }

 private:
  std::string token_;
};

struct FileIdentity {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

Result<FileIdentity, std::string> identify(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail(std::string(std::strerror(errno)));
  return FileIdentity{st.st_dev, st.st_ino, st.st_size,
                      std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

class TokenFile final : public Credentials {
 public:
  TokenFile(std::string path, TokenFileOptions options)
      : path_(std::move(path)), options_(std::move(options)) {
    if (!options_.now) options_.now = [] { return Clock::now(); };
  }

  Result<std::string, std::string> authorization() override {
    std::lock_guard lock(mutex_);
    auto now = options_.now();
    auto identity = identify(path_);
    bool fresh = cached_ && !invalidated_ && now - read_at_ < options_.max_age && identity &&
                 *identity == identity_;
    if (fresh) return "Bearer " + token_;

    auto token = read();
    if (!token) {
      // Keep serving the last good token while the file cannot be read.
      if (cached_) return "Bearer " + token_;
      return fail("token file " + path_ + ": " + token.error());
    }
    token_ = std::move(*token);
    identity_ = identity ? *identity : FileIdentity{};
    read_at_ = now;
    cached_ = true;
    invalidated_ = false;
    return "Bearer " + token_;
  }

  void invalidate() override {
    std::lock_guard lock(mutex_);
    invalidated_ = true;
  }

 private:
  Result<std::string, std::string> read() const {
    auto text = read_file(path_);
    if (!text) return fail("cannot read: " + text.error());
    return clean_token(*text);
  }

  std::string path_;
  TokenFileOptions options_;
  std::mutex mutex_;
  bool cached_ = false;
  bool invalidated_ = false;
  std::string token_;
  FileIdentity identity_;
  Clock::time_point read_at_{};
};

// --- exec plugins ---------------------------------------------------------

std::string first_line(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text = text.substr(start);
  text = text.substr(0, text.find_first_of("\r\n"));
  return std::string(text);
}

struct ProcessOutput {
  std::string out;
  std::string err;
  int status = 0;  // waitpid status
};

// An open file descriptor closed on scope exit.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Stops a run_process() from another thread, waking its poll at once.
class CancelSignal {
 public:
  CancelSignal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~CancelSignal() {
    if (fd_ >= 0) ::close(fd_);
  }
  CancelSignal(const CancelSignal&) = delete;
  CancelSignal& operator=(const CancelSignal&) = delete;
  void fire() {
    fired_ = true;
    if (fd_ >= 0) {
      std::uint64_t one = 1;
      ssize_t written = ::write(fd_, &one, sizeof one);
      (void)written;  // already signalled, or polled within 100 ms anyway
    }
  }
  bool fired() const { return fired_.load(); }
  int fd() const { return fd_; }  // -1 without an eventfd

 private:
  std::atomic<bool> fired_{false};
  int fd_ = -1;
};

// Runs argv with env, stdin from /dev/null, stdout and stderr captured, in
// its own process group (so that a timeout kills its children too). Blocks
// the calling thread; `cancel` kills the process group early.
Result<ProcessOutput, std::string> run_process(const std::vector<std::string>& argv,
                                               const std::vector<std::string>& env,
                                               std::chrono::milliseconds timeout,
                                               const CancelSignal& cancel) {
  constexpr std::size_t kMaxOutput = 1u << 20;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail("pipe: " + std::string(std::strerror(errno)));
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail("pipe: " + std::string(std::strerror(errno)));
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t no_signals, default_signals;
  sigemptyset(&no_signals);
  sigemptyset(&default_signals);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&default_signals, sig);
  posix_spawnattr_setsigmask(&attr, &no_signals);
  posix_spawnattr_setsigdefault(&attr, &default_signals);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);

  pid_t pid = -1;
  bool search_path = argv[0].find('/') == std::string::npos;
  int rc = search_path
               ? ::posix_spawnp(&pid, argv[0].c_str(), &actions, &attr, c_argv.data(), c_env.data())
               : ::posix_spawn(&pid, argv[0].c_str(), &actions, &attr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    if (rc == ENOENT) return fail(std::string("executable not found"));
    return fail("cannot start: " + std::string(std::strerror(rc)));
  }
  out_write.reset();
  err_write.reset();

  ProcessOutput result;
  auto deadline = Clock::now() + timeout;
  bool timed_out = false, too_large = false, stopped = false;
  bool out_open = true, err_open = true;
  char buffer[16384];
  while (out_open || err_open) {
    if (cancel.fired()) {
      stopped = true;
      break;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                     {err_open ? err_read.get() : -1, POLLIN, 0},
                     {cancel.fd(), POLLIN, 0}};
    int n = ::poll(fds, 3, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      std::string& sink = i == 0 ? result.out : result.err;
      if (sink.size() + static_cast<std::size_t>(got) > kMaxOutput) {
        too_large = i == 0;
        if (i == 0) break;
        continue;  // stderr beyond the limit is dropped
      }
      sink.append(buffer, static_cast<std::size_t>(got));
    }
    if (too_large) break;
  }
  // The pipes are closed (or given up on); wait for the process itself.
  for (;;) {
    if (!timed_out && !too_large && !stopped) {
      pid_t done = ::waitpid(pid, &result.status, WNOHANG);
      if (done == pid) break;
      if (done < 0 && errno != EINTR) return fail("waitpid: " + std::string(std::strerror(errno)));
      if (cancel.fired()) {
        stopped = true;
      } else if (Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      } else {
        timed_out = true;
      }
    }
    ::kill(-pid, SIGKILL);  // the whole process group
    while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
    }
    break;
  }
  if (stopped) return fail(std::string("stopped: the client is shutting down"));
  if (timed_out) {
    auto ms = timeout.count();
    std::string limit =
        ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
    std::string line = first_line(result.err);
    return fail("timed out after " + limit + " and was killed" +
                (line.empty() ? "" : ": " + line));
  }
  if (too_large) return fail("output larger than 1 MiB");
  return result;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "ended abnormally";
}

struct ExecToken {
  std::string token;
  std::optional<std::chrono::sys_seconds> expires;
};

Result<ExecToken, std::string> parse_exec_credential(const std::string& text,
                                                     const std::string& api_version) {
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(std::string("output is not an ExecCredential JSON object"));
  }
  auto string_at = [](const nlohmann::json& obj, const char* key) -> std::optional<std::string> {
    auto it = obj.find(key);
    if (it == obj.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  auto kind = string_at(doc, "kind");
  if (kind != "ExecCredential") {
    return fail("output kind is \"" + kind.value_or("") + "\", expected \"ExecCredential\"");
  }
  auto version = string_at(doc, "apiVersion");
  if (version != api_version) {
    return fail("output apiVersion is \"" + version.value_or("") + "\", expected \"" + api_version +
                "\"");
  }
  auto status = doc.find("status");
  if (status == doc.end() || !status->is_object()) {
    return fail(std::string("output has no status object"));
  }
  ExecToken result;
  auto token = string_at(*status, "token").value_or("");
  if (token.empty()) {
    if (status->contains("clientCertificateData") || status->contains("clientKeyData")) {
      return fail(std::string(
          "the plugin returned a client certificate (status.clientCertificateData); only "
          "token credentials from exec plugins are supported"));
    }
    return fail(std::string("output has no status.token"));
  }
  auto cleaned = clean_token(token);
  if (!cleaned) return fail("status.token: " + cleaned.error());
  result.token = std::move(*cleaned);
  if (auto it = status->find("expirationTimestamp"); it != status->end() && !it->is_null()) {
    std::optional<std::chrono::sys_seconds> when;
    if (it->is_string()) {
      if (auto t = sto::parse_rfc3339(it->get<std::string>()))
        when = std::chrono::floor<std::chrono::seconds>(*t);
    }
    if (!when) {
      return fail("status.expirationTimestamp: " + it->dump() + " is not an RFC 3339 time");
    }
    result.expires = when;
  }
  return result;
}

class ExecPlugin final : public Credentials {
 public:
  ExecPlugin(ExecConfig config, std::string kubeconfig_dir) : config_(std::move(config)) {
    // kubectl rule: a relative command with a slash is relative to the kubeconfig.
    if (config_.command.find('/') != std::string::npos &&
        std::filesystem::path(config_.command).is_relative() && !kubeconfig_dir.empty()) {
      command_ = (std::filesystem::path(kubeconfig_dir) / config_.command).lexically_normal();
    } else {
      command_ = config_.command;
    }
  }

  ~ExecPlugin() override { shutdown(); }

  // Kills a run in progress (its waiters get an error) and waits for the
  // worker thread, which then touches no executor any more; later runs fail
  // at once.
  void shutdown() override {
    cancel_.fire();
    std::unique_lock lock(mutex_);
    if (worker_.joinable()) {
      std::thread worker = std::move(worker_);
      lock.unlock();
      worker.join();
    }
  }

  // Blocks the calling thread until the plugin has answered (or joins the
  // run in progress).
  Result<std::string, std::string> authorization() override {
    std::unique_lock lock(mutex_);
    if (fresh()) return "Bearer " + cached_->token;
    auto seen = runs_;
    if (!running_) start();
    answered_.wait(lock, [&] { return runs_ != seen; });
    if (!last_error_.empty()) return fail(last_error_);
    return last_authorization_;
  }

  // Never blocks: a run happens on the worker thread and the caller resumes
  // on its own executor once it is over.
  asio::awaitable<Result<std::string, std::string>> authorization_async() override {
    {
      std::lock_guard lock(mutex_);
      if (fresh()) co_return "Bearer " + cached_->token;
    }
    auto initiation = [this](auto handler) { wait_for_run(std::move(handler)); };
    auto answer = asio::async_initiate<decltype(asio::use_awaitable),
                                       void(std::string, std::string)>(initiation,
                                                                       asio::use_awaitable);
    auto [authorization, error] = co_await std::move(answer);
    if (!error.empty()) co_return fail(std::move(error));
    co_return std::move(authorization);
  }

  void invalidate() override {
    std::lock_guard lock(mutex_);
    cached_.reset();
  }

 private:
  // Told the outcome of a run: the Authorization value, or the error.
  using Waiter = std::function<void(const std::string& authorization, const std::string& error)>;

  // Refresh a little before expiry so a request does not carry a token that
  // expires in flight. With mutex_ held.
  bool fresh() const {
    constexpr auto kSkew = std::chrono::seconds(10);
    auto now = std::chrono::floor<std::chrono::seconds>(WallClock::now());
    return cached_ && (!cached_->expires || now + kSkew < *cached_->expires);
  }

  // Queues an asynchronous caller's completion handler for the answer of
  // the run in progress, starting one if none is. The handler is invoked on
  // its own executor, which counts as having work meanwhile (so a loop does
  // not run out of work while only the plugin runs).
  template <typename Handler>
  void wait_for_run(Handler handler) {
    auto work = asio::prefer(asio::get_associated_executor(handler),
                             asio::execution::outstanding_work.tracked);
    auto shared = std::make_shared<Handler>(std::move(handler));
    Waiter waiter = [shared, work](const std::string& authorization, const std::string& error) {
      asio::post(work, [shared, authorization, error]() mutable {
        (*shared)(std::move(authorization), std::move(error));
      });
    };
    std::lock_guard lock(mutex_);
    if (fresh()) {
      // Another caller's run finished since the check.
      waiter("Bearer " + cached_->token, "");
      return;
    }
    waiters_.push_back(std::move(waiter));
    if (!running_) start();
  }

  // Starts a run on the worker thread. With mutex_ held and no run going on.
  void start() {
    running_ = true;
    // The previous worker has posted its answers and is ending.
    if (worker_.joinable()) worker_.join();
    try {
      worker_ = std::thread([this] { run_and_answer(); });
    } catch (const std::system_error& e) {
      finish(fail(std::string("cannot start a thread to run it: ") + e.what()));
    }
  }

  void run_and_answer() {
    auto token = run();
    std::lock_guard lock(mutex_);
    finish(std::move(token));
  }

  // Records a run's outcome and answers everyone who waited for it. With
  // mutex_ held.
  void finish(Result<ExecToken, std::string> token) {
    if (token) {
      last_authorization_ = "Bearer " + token->token;
      last_error_.clear();
      cached_ = std::move(*token);
    } else {
      last_authorization_.clear();
      last_error_ = "exec plugin \"" + config_.command + "\": " + token.error();
    }
    ++runs_;
    running_ = false;
    answered_.notify_all();
    for (auto& waiter : waiters_) waiter(last_authorization_, last_error_);
    waiters_.clear();
  }

  std::string exec_info() const {
    nlohmann::json spec = {{"interactive", false}};
    if (config_.provide_cluster_info) {
      nlohmann::json cluster = {{"server", config_.cluster.server}};
      if (!config_.cluster.tls_server_name.empty())
        cluster["tls-server-name"] = config_.cluster.tls_server_name;
      if (config_.cluster.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
      if (!config_.cluster.proxy_url.empty()) cluster["proxy-url"] = config_.cluster.proxy_url;
      if (!config_.cluster.certificate_authority_pem.empty()) {
        cluster["certificate-authority-data"] =
            base64_encode(config_.cluster.certificate_authority_pem);
      }
      spec["cluster"] = std::move(cluster);
    }
    nlohmann::json info = {
        {"apiVersion", config_.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
    return info.dump();
  }

  std::vector<std::string> environment() const {
    auto overridden = [&](std::string_view entry) {
      auto name = entry.substr(0, entry.find('='));
      if (name == "KUBERNETES_EXEC_INFO") return true;
      return std::any_of(config_.env.begin(), config_.env.end(),
                         [&](const ExecEnvVar& v) { return v.name == name; });
    };
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
      if (!overridden(*e)) env.emplace_back(*e);
    }
    for (const auto& v : config_.env) env.push_back(v.name + "=" + v.value);
    env.push_back("KUBERNETES_EXEC_INFO=" + exec_info());
    return env;
  }

  // On the worker thread; config_ and command_ never change.
  Result<ExecToken, std::string> run() const {
    if (cancel_.fired()) return fail(std::string("stopped: the client is shutting down"));
    std::vector<std::string> argv{command_};
    argv.insert(argv.end(), config_.args.begin(), config_.args.end());
    auto output = run_process(argv, environment(), config_.timeout, cancel_);
    if (!output) {
      std::string message = output.error();
      if (message == "executable not found" && !config_.install_hint.empty()) {
        message += "; " + config_.install_hint;
      }
      return fail(std::move(message));
    }
    if (!WIFEXITED(output->status) || WEXITSTATUS(output->status) != 0) {
      std::string line = first_line(output->err);
      return fail(describe_status(output->status) + (line.empty() ? "" : ": " + line));
    }
    return parse_exec_credential(output->out, config_.api_version);
  }

  const ExecConfig config_;
  std::string command_;
  CancelSignal cancel_;

  std::mutex mutex_;  // guards everything below
  std::condition_variable answered_;
  std::optional<ExecToken> cached_;
  bool running_ = false;
  std::uint64_t runs_ = 0;           // runs finished
  std::string last_authorization_;   // of the last run, when it succeeded
  std::string last_error_;           // of the last run, when it failed
  std::vector<Waiter> waiters_;      // asynchronous callers of the run in progress
  std::thread worker_;
};

}  // namespace

std::shared_ptr<Credentials> no_credentials() { return std::make_shared<NoCredentials>(); }

std::shared_ptr<Credentials> static_token(std::string token) {
  return std::make_shared<StaticToken>(std::move(token));
}

std::shared_ptr<Credentials> token_file(std::string path, TokenFileOptions options) {
  return std::make_shared<TokenFile>(std::move(path), std::move(options));
}

std::shared_ptr<Credentials> exec_plugin(ExecConfig config, std::string kubeconfig_dir) {
  return std::make_shared<ExecPlugin>(std::move(config), std::move(kubeconfig_dir));
}

}  // namespace sto::kube
