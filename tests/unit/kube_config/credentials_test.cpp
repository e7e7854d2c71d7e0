// Credentials: static tokens, token files the kubelet rotates, and exec
// credential plugins (real subprocesses: small shell scripts).
#include "kube/credentials.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "test_files.h"

namespace sto::kube {
namespace {

using namespace std::chrono_literals;
using testing::read_text;
using testing::set_mtime;
using testing::TempDir;

std::string auth(Credentials& c) {
  auto a = c.authorization();
  EXPECT_TRUE(a.ok()) << a.error();
  return a.ok() ? *a : std::string();
}

TEST(StaticToken, IsSentAsBearerWithoutSurroundingWhiteSpace) {
  EXPECT_EQ(auth(*static_token("abc")), "Bearer abc");
  EXPECT_EQ(auth(*static_token(" abc\n")), "Bearer abc");
}

TEST(StaticToken, RefusesControlCharacters) {
  auto a = static_token("abc\r\nX-Evil: 1")->authorization();
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find("control characters"), std::string::npos);
}

TEST(NoCredentials, SendNoAuthorization) { EXPECT_EQ(auth(*no_credentials()), ""); }

// A token file with a fake clock, so max_age is testable without sleeping.
struct TokenFileTest : ::testing::Test {
  TempDir dir;
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  std::shared_ptr<Credentials> make(const std::string& path) {
    return token_file(path, {.max_age = 60s, .now = [this] { return now; }});
  }
};

TEST_F(TokenFileTest, ReadsTheTokenTrimmed) {
  auto path = dir.write("token", "tok-1\n");
  EXPECT_EQ(auth(*make(path)), "Bearer tok-1");
}

TEST_F(TokenFileTest, PicksUpARewriteByItsMtime) {
  auto path = dir.write("token", "tok-1");
  set_mtime(path, 1'000'000);
  auto creds = make(path);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  dir.write("token", "tok-2");  // same size, same inode, new mtime
  set_mtime(path, 1'000'100);
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
}

TEST_F(TokenFileTest, PicksUpAnAtomicSwapLikeTheKubelets) {
  auto path = dir.write("token", "tok-1");
  auto creds = make(path);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  auto fresh = dir.write("token.new", "tok-2");
  set_mtime(fresh, 0);
  set_mtime(path, 0);
  std::filesystem::rename(fresh, path);  // new inode
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
}

TEST_F(TokenFileTest, RereadsAtLeastEveryMaxAgeEvenWhenTheFileLooksUnchanged) {
  auto path = dir.write("token", "tok-1");
  set_mtime(path, 1'000'000);
  auto creds = make(path);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  dir.write("token", "tok-2");
  set_mtime(path, 1'000'000);  // indistinguishable by stat
  now += 59s;
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  now += 1s;
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
}

TEST_F(TokenFileTest, InvalidateForcesARereadNow) {
  auto path = dir.write("token", "tok-1");
  set_mtime(path, 1'000'000);
  auto creds = make(path);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  dir.write("token", "tok-2");
  set_mtime(path, 1'000'000);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  creds->invalidate();
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
}

TEST_F(TokenFileTest, KeepsTheLastGoodTokenWhenTheFileDisappears) {
  auto path = dir.write("token", "tok-1");
  auto creds = make(path);
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  std::filesystem::remove(path);
  creds->invalidate();
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
}

TEST_F(TokenFileTest, MissingOrEmptyFileIsAnErrorNamingThePath) {
  auto missing = (dir.path() / "nope").string();
  auto a = make(missing)->authorization();
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find(missing), std::string::npos) << a.error();
  EXPECT_NE(a.error().find("No such file"), std::string::npos) << a.error();

  auto empty = dir.write("empty", "\n");
  a = make(empty)->authorization();
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().find("empty"), std::string::npos) << a.error();
}

// --- exec plugins ---

// The plugin records its invocations, arguments, environment and
// KUBERNETES_EXEC_INFO next to itself and prints token "tok-<n>" for its
// n-th run; STATUS_EXTRA adds fields to the status.
constexpr const char* kPlugin = R"(#!/bin/sh
dir=$(dirname "$0")
n=$(cat "$dir/count" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > "$dir/count"
printf '%s\n' "$@" > "$dir/args"
printf '%s' "$KUBERNETES_EXEC_INFO" > "$dir/exec_info"
printf '%s' "$PLUGIN_SETTING" > "$dir/env"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok-%s"%s}}\n' "$n" "$STATUS_EXTRA"
)";

struct ExecPluginTest : ::testing::Test {
  TempDir dir;
  std::string plugin = dir.write("bin/plugin.sh", kPlugin, 0755);
  int runs() { return std::stoi(read_text((dir.path() / "bin/count").string())); }
  ExecConfig config(std::string status_extra = "") {
    ExecConfig c;
    c.command = plugin;
    c.env = {{"STATUS_EXTRA", std::move(status_extra)}};
    return c;
  }
};

TEST_F(ExecPluginTest, PassesArgsEnvAndExecInfo) {
  ExecConfig c = config();
  c.args = {"get-token", "--cluster", "a b"};
  c.env.push_back({"PLUGIN_SETTING", "value-1"});
  EXPECT_EQ(auth(*exec_plugin(c, "")), "Bearer tok-1");
  EXPECT_EQ(read_text((dir.path() / "bin/args").string()), "get-token\n--cluster\na b\n");
  EXPECT_EQ(read_text((dir.path() / "bin/env").string()), "value-1");
  EXPECT_EQ(read_text((dir.path() / "bin/exec_info").string()),
            R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",)"
            R"("spec":{"interactive":false}})");
}

TEST_F(ExecPluginTest, ProvidesClusterInfoWhenAsked) {
  ExecConfig c = config();
  c.provide_cluster_info = true;
  c.cluster = {.server = "https://[::1]:6443",
               .tls_server_name = "kubernetes",
               .certificate_authority_pem = "PEM",
               .proxy_url = "http://proxy.example:3128"};
  EXPECT_EQ(auth(*exec_plugin(c, "")), "Bearer tok-1");
  std::string info = read_text((dir.path() / "bin/exec_info").string());
  EXPECT_NE(info.find(R"("server":"https://[::1]:6443")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("tls-server-name":"kubernetes")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("certificate-authority-data":"UEVN")"), std::string::npos) << info;
  EXPECT_NE(info.find(R"("proxy-url":"http://proxy.example:3128")"), std::string::npos) << info;
}

TEST_F(ExecPluginTest, RelativeCommandWithSlashResolvesAgainstKubeconfigDir) {
  ExecConfig c = config();
  c.command = "./bin/plugin.sh";
  EXPECT_EQ(auth(*exec_plugin(c, dir.path().string())), "Bearer tok-1");
}

TEST_F(ExecPluginTest, CachesTheTokenUntilItExpires) {
  auto creds = exec_plugin(config(R"(,"expirationTimestamp":"2999-01-01T00:00:00+01:00")"), "");
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  EXPECT_EQ(runs(), 1);
}

TEST_F(ExecPluginTest, RunsAgainOnceTheTokenExpired) {
  auto creds = exec_plugin(config(R"(,"expirationTimestamp":"2001-02-03T04:05:06.789Z")"), "");
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
  EXPECT_EQ(runs(), 2);
}

TEST_F(ExecPluginTest, WithoutExpiryCachesUntilInvalidated) {
  auto creds = exec_plugin(config(), "");
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  EXPECT_EQ(auth(*creds), "Bearer tok-1");
  creds->invalidate();  // the server answered 401
  EXPECT_EQ(auth(*creds), "Bearer tok-2");
  EXPECT_EQ(runs(), 2);
}

std::string exec_error(const ExecConfig& c) {
  auto a = exec_plugin(c, "")->authorization();
  EXPECT_FALSE(a.ok());
  return a.ok() ? std::string() : a.error();
}

TEST_F(ExecPluginTest, FailureReportsExitStatusAndFirstStderrLine) {
  ExecConfig c;
  c.command = dir.write("fail.sh",
                        "#!/bin/sh\necho 'error: you must log in first' >&2\n"
                        "echo 'second line' >&2\nexit 3\n",
                        0755);
  std::string e = exec_error(c);
  EXPECT_NE(e.find("exec plugin \"" + c.command + "\""), std::string::npos) << e;
  EXPECT_NE(e.find("exit status 3"), std::string::npos) << e;
  EXPECT_NE(e.find("error: you must log in first"), std::string::npos) << e;
  EXPECT_EQ(e.find("second line"), std::string::npos) << e;
}

TEST_F(ExecPluginTest, MissingCommandShowsTheInstallHint) {
  ExecConfig c;
  c.command = "sto-no-such-plugin-xyz";
  c.install_hint = "install it with: apt-get install sto-plugin";
  std::string e = exec_error(c);
  EXPECT_NE(e.find("not found"), std::string::npos) << e;
  EXPECT_NE(e.find("apt-get install sto-plugin"), std::string::npos) << e;
}

// Alive and not a zombie (a container's init may not reap orphans at once).
bool running(const std::string& pid) {
  std::string stat = read_text("/proc/" + pid + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

TEST_F(ExecPluginTest, TimesOutAndKillsTheProcessGroup) {
  ExecConfig c;
  c.command = dir.write("slow.sh", R"(#!/bin/sh
echo 'waiting for browser' >&2
sleep 30 &
echo $! > "$(dirname "$0")/child"
wait
)",
                        0755);
  c.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  std::string e = exec_error(c);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(e.find("timed out after 300ms"), std::string::npos) << e;
  EXPECT_NE(e.find("waiting for browser"), std::string::npos) << e;

  std::string child = read_text((dir.path() / "child").string());
  child = child.substr(0, child.find('\n'));
  ASSERT_FALSE(child.empty());
  for (int i = 0; i < 200 && running(child); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(running(child)) << "the plugin's child " << child << " survived";
}

struct BadOutput {
  const char* output;
  const char* expected;
};

TEST_F(ExecPluginTest, InvalidOutputIsExplained) {
  const BadOutput cases[] = {
      {"not json", "not an ExecCredential JSON object"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"Pod","status":{"token":"t"}})",
       R"(kind is "Pod")"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"t"}})",
       R"(apiVersion is "client.authentication.k8s.io/v1beta1", expected "client.authentication.k8s.io/v1")"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"})",
       "no status object"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})",
       "no status.token"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"clientCertificateData":"x","clientKeyData":"y"}})",
       "client certificate (status.clientCertificateData)"},
      {R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"tomorrow"}})",
       "status.expirationTimestamp: \"tomorrow\" is not an RFC 3339 time"},
  };
  for (const auto& bad : cases) {
    ExecConfig c;
    dir.write("out.json", bad.output);
    c.command = dir.write("print.sh", "#!/bin/sh\ncat \"$(dirname \"$0\")/out.json\"\n", 0755);
    std::string e = exec_error(c);
    EXPECT_NE(e.find(bad.expected), std::string::npos) << bad.output << "\n -> " << e;
  }
}

TEST_F(ExecPluginTest, SpeaksV1Beta1WhenConfiguredSo) {
  ExecConfig c;
  c.api_version = kExecApiV1Beta1;
  dir.write("out.json",
            R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",)"
            R"("status":{"token":"beta"}})");
  c.command = dir.write("print.sh", "#!/bin/sh\ncat \"$(dirname \"$0\")/out.json\"\n", 0755);
  EXPECT_EQ(auth(*exec_plugin(c, "")), "Bearer beta");
}

// --- exec plugins on an event loop ---

namespace asio = boost::asio;

// Runs `callers` concurrent authorization_async() calls on one io_context
// while a timer ticks every 10 ms on the same loop; what they answered, and
// how often the loop ticked while the plugin ran.
struct LoopRun {
  std::vector<Result<std::string, std::string>> answers;
  int ticks = 0;
  std::chrono::steady_clock::duration took{};
};

LoopRun run_on_loop(const std::shared_ptr<Credentials>& creds, int callers) {
  asio::io_context io;
  LoopRun out;
  int pending = callers;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < callers; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto answer = co_await creds->authorization_async();
          out.answers.push_back(std::move(answer));
          if (--pending == 0) out.took = std::chrono::steady_clock::now() - t0;
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer tick(io);
        while (pending > 0) {
          tick.expires_after(10ms);
          co_await tick.async_wait(asio::use_awaitable);
          if (pending > 0) ++out.ticks;
        }
      },
      asio::detached);
  io.run();
  return out;
}

TEST_F(ExecPluginTest, OnAnEventLoopTheLoopGoesOnWhileThePluginRuns) {
  ExecConfig c = config();
  c.command = dir.write("bin/slow.sh", "#!/bin/sh\nsleep 2\nexec \"$(dirname \"$0\")/plugin.sh\"\n",
                        0755);
  auto creds = exec_plugin(c, "");
  LoopRun r = run_on_loop(creds, 3);
  ASSERT_EQ(r.answers.size(), 3u);
  for (const auto& a : r.answers) {
    ASSERT_TRUE(a.ok()) << a.error();
    EXPECT_EQ(*a, "Bearer tok-1");
  }
  EXPECT_EQ(runs(), 1) << "concurrent callers share one run";
  EXPECT_GE(r.took, 1500ms);
  // 2 s of plugin is 200 ticks of 10 ms; a blocked loop ticks none. Lenient
  // for a busy machine.
  EXPECT_GE(r.ticks, 50) << "the event loop stood still while the plugin ran";
  // Cached now: answered at once, without another run.
  LoopRun again = run_on_loop(creds, 1);
  ASSERT_EQ(again.answers.size(), 1u);
  EXPECT_EQ(*again.answers[0], "Bearer tok-1");
  EXPECT_EQ(runs(), 1);
  // A 401 (invalidate) makes the next caller run it again.
  creds->invalidate();
  EXPECT_EQ(*run_on_loop(creds, 1).answers.at(0), "Bearer tok-2");
}

TEST_F(ExecPluginTest, OnAnEventLoopAPluginPastItsDeadlineIsKilled) {
  ExecConfig c;
  c.command = dir.write("hang.sh", R"(#!/bin/sh
echo 'waiting for the identity provider' >&2
sleep 30 &
echo $! > "$(dirname "$0")/child"
wait
)",
                        0755);
  c.timeout = 500ms;
  auto creds = exec_plugin(c, "");
  LoopRun r = run_on_loop(creds, 2);
  ASSERT_EQ(r.answers.size(), 2u);
  for (const auto& a : r.answers) {
    ASSERT_FALSE(a.ok());
    EXPECT_NE(a.error().find("exec plugin \"" + c.command + "\": timed out after 500ms and was "
                             "killed: waiting for the identity provider"),
              std::string::npos)
        << a.error();
  }
  EXPECT_LT(r.took, 5s);
  EXPECT_GE(r.ticks, 10) << "the event loop stood still while the plugin ran";
  std::string child = read_text((dir.path() / "child").string());
  child = child.substr(0, child.find('\n'));
  ASSERT_FALSE(child.empty());
  for (int i = 0; i < 200 && running(child); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(running(child)) << "the plugin's child " << child << " survived";
}

// Starts a plugin run (a script that hangs) from a coroutine on io, and
// returns once the script has started.
struct HangingRun {
  asio::io_context io;
  std::optional<Result<std::string, std::string>> answer;
  std::string child_file;

  void start(Credentials& creds, const std::string& child) {
    child_file = child;
    asio::co_spawn(
        io,
        [this, &creds]() -> asio::awaitable<void> {
          auto a = co_await creds.authorization_async();
          answer = std::move(a);
        },
        asio::detached);
    for (int i = 0; i < 500 && !std::filesystem::exists(child_file); ++i) io.run_for(10ms);
  }
  // The plugin's child is gone (killed with its process group).
  void expect_child_killed() {
    std::string child = read_text(child_file);
    child = child.substr(0, child.find('\n'));
    ASSERT_FALSE(child.empty());
    for (int i = 0; i < 200 && running(child); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(running(child)) << "the plugin's child " << child << " survived";
  }
};

constexpr const char* kHangingPlugin = R"(#!/bin/sh
sleep 30 &
echo $! > "$(dirname "$0")/child"
wait
)";

TEST_F(ExecPluginTest, ShutdownKillsARunInProgressAndRefusesNewOnes) {
  ExecConfig c;
  c.command = dir.write("hang.sh", kHangingPlugin, 0755);
  c.timeout = 60s;
  auto creds = exec_plugin(c, "");
  HangingRun run;
  run.start(*creds, (dir.path() / "child").string());
  ASSERT_TRUE(std::filesystem::exists(run.child_file));
  ASSERT_FALSE(run.answer.has_value());
  auto t0 = std::chrono::steady_clock::now();
  creds->shutdown();  // the client shutting down
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  run.io.run();  // the waiting caller resumes with the error
  ASSERT_TRUE(run.answer.has_value());
  ASSERT_FALSE(run.answer->ok());
  EXPECT_NE(run.answer->error().find("stopped: the client is shutting down"), std::string::npos)
      << run.answer->error();
  run.expect_child_killed();
  // Nothing runs any more.
  std::filesystem::remove(run.child_file);
  auto later = creds->authorization();
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.error().find("stopped"), std::string::npos) << later.error();
  EXPECT_FALSE(std::filesystem::exists(run.child_file));
}

TEST_F(ExecPluginTest, DestroyingTheCredentialsKillsARunInProgress) {
  ExecConfig c;
  c.command = dir.write("hang.sh", kHangingPlugin, 0755);
  c.timeout = 60s;
  auto creds = exec_plugin(c, "");
  HangingRun run;
  run.start(*creds, (dir.path() / "child").string());
  ASSERT_TRUE(std::filesystem::exists(run.child_file));
  auto t0 = std::chrono::steady_clock::now();
  creds.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  run.io.run();
  ASSERT_TRUE(run.answer.has_value());
  EXPECT_FALSE(run.answer->ok());
  run.expect_child_killed();
}

}  // namespace
}  // namespace sto::kube
