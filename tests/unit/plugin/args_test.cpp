#include "plugin/args.h"

#include <gtest/gtest.h>

namespace sto::plugin {
namespace {

using namespace std::chrono_literals;

Args ok(std::vector<std::string_view> argv) {
  auto r = parse_args(argv);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error());
  return r.ok() ? r.value() : Args{};
}

std::string error(std::vector<std::string_view> argv) {
  auto r = parse_args(argv);
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error();
}

TEST(PluginArgs, StatusWithoutNameUsesTheContextNamespace) {
  auto a = ok({"status"});
  EXPECT_EQ(a.command, Command::Status);
  EXPECT_EQ(a.name, "");
  EXPECT_EQ(a.namespace_, "");
  EXPECT_FALSE(a.all_namespaces);
  EXPECT_FALSE(a.wait);
}

TEST(PluginArgs, NamespaceInEveryKubectlSpelling) {
  for (auto argv : std::vector<std::vector<std::string_view>>{
           {"status", "-n", "team-a"},
           {"status", "-nteam-a"},
           {"status", "-n=team-a"},
           {"status", "--namespace", "team-a"},
           {"status", "--namespace=team-a"},
           {"-n", "team-a", "status"}}) {
    auto a = ok(argv);
    EXPECT_EQ(a.namespace_, "team-a");
    EXPECT_EQ(a.command, Command::Status);
  }
}

TEST(PluginArgs, AllNamespaces) {
  EXPECT_TRUE(ok({"status", "-A"}).all_namespaces);
  EXPECT_TRUE(ok({"status", "--all-namespaces"}).all_namespaces);
  EXPECT_TRUE(ok({"status", "--all-namespaces=true"}).all_namespaces);
  EXPECT_FALSE(ok({"status", "--all-namespaces=false"}).all_namespaces);
  // A boolean never takes the next argument: "ops" is the NAME.
  EXPECT_NE(error({"status", "-A", "ops"}).find("NAME cannot be given with --all-namespaces"),
            std::string::npos);
  EXPECT_NE(error({"status", "-A", "-n", "x"}).find("cannot be used together"), std::string::npos);
  EXPECT_NE(error({"status", "--all-namespaces=maybe"}).find("want true or false"),
            std::string::npos);
}

TEST(PluginArgs, KubeconfigAndContext) {
  auto a = ok({"--kubeconfig", "/tmp/k", "--context=dev", "status", "ops"});
  EXPECT_EQ(a.kubeconfig, "/tmp/k");
  EXPECT_EQ(a.context, "dev");
  EXPECT_EQ(a.name, "ops");
  EXPECT_NE(error({"status", "--kubeconfig"}).find("flag needs an argument: --kubeconfig"),
            std::string::npos);
  EXPECT_NE(error({"status", "--context="}).find("--context needs a context name"),
            std::string::npos);
  EXPECT_FALSE(a.insecure_kubeconfig);
  EXPECT_TRUE(ok({"status", "--insecure-kubeconfig"}).insecure_kubeconfig);
  EXPECT_FALSE(ok({"status", "--insecure-kubeconfig=false"}).insecure_kubeconfig);
}

TEST(PluginArgs, RotateWaitDefaultsTo60sAndTakesOnlyAnAttachedDuration) {
  auto a = ok({"rotate", "ops", "-n", "monitoring"});
  EXPECT_EQ(a.command, Command::Rotate);
  EXPECT_EQ(a.name, "ops");
  EXPECT_FALSE(a.wait);
  EXPECT_EQ(ok({"rotate", "ops", "--wait"}).wait, std::chrono::milliseconds(60s));
  EXPECT_EQ(ok({"rotate", "--wait", "ops"}).wait, std::chrono::milliseconds(60s));
  EXPECT_EQ(ok({"rotate", "ops", "--wait=2m"}).wait, std::chrono::milliseconds(2min));
  EXPECT_EQ(ok({"rotate", "ops", "--wait=1m30s"}).wait, std::chrono::milliseconds(90s));
  EXPECT_EQ(ok({"rotate", "ops", "--wait=500ms"}).wait, std::chrono::milliseconds(500));
  // --wait 30s: "30s" is a second NAME, as with kubectl's --wait.
  EXPECT_NE(error({"rotate", "ops", "--wait", "30s"}).find("at most one NAME"), std::string::npos);
  EXPECT_NE(error({"rotate", "ops", "--wait=soon"}).find("want a duration"), std::string::npos);
  EXPECT_NE(error({"rotate", "ops", "--wait=0s"}).find("longer than 0s"), std::string::npos);
  EXPECT_NE(error({"rotate", "ops", "--wait=-5s"}).find("--wait"), std::string::npos);
  EXPECT_NE(error({"rotate", "ops", "--wait=48h"}).find("at most 24h"), std::string::npos);
  EXPECT_NE(error({"status", "--wait"}).find("--wait is a flag of rotate"), std::string::npos);
}

TEST(PluginArgs, RotateNeedsOneNameInOneNamespace) {
  EXPECT_NE(error({"rotate"}).find("rotate needs the NAME"), std::string::npos);
  EXPECT_NE(error({"rotate", "a", "b"}).find("at most one NAME"), std::string::npos);
  EXPECT_NE(error({"rotate", "ops", "-A"}).find("--all-namespaces is not allowed"),
            std::string::npos);
}

TEST(PluginArgs, BadNamesAndNamespacesAreRefusedNamingThem) {
  EXPECT_NE(error({"status", "Ops_Team"}).find("invalid SysdigToken name \"Ops_Team\""),
            std::string::npos);
  EXPECT_NE(error({"rotate", "../secrets"}).find("invalid SysdigToken name"), std::string::npos);
  EXPECT_NE(error({"rotate", std::string_view("a\nb", 3)}).find("\"a?b\""), std::string::npos);
  EXPECT_NE(error({"status", "-n", "Team.A"}).find("invalid namespace \"Team.A\""),
            std::string::npos);
  EXPECT_NE(error({"status", "-n", ""}).find("needs a namespace name"), std::string::npos);
  EXPECT_NE(error({"status", "-n"}).find("flag needs an argument: -n"), std::string::npos);
  // Object names may hold dots (DNS-1123 subdomains), namespaces may not.
  EXPECT_EQ(ok({"status", "ops.team-1"}).name, "ops.team-1");
}

TEST(PluginArgs, UnknownCommandsAndFlags) {
  EXPECT_NE(error({}).find("a command is required"), std::string::npos);
  EXPECT_NE(error({"list"}).find("unknown command \"list\""), std::string::npos);
  EXPECT_NE(error({"status", "--output=yaml"}).find("unknown flag: \"--output\""),
            std::string::npos);
  EXPECT_NE(error({"status", "-o", "yaml"}).find("unknown shorthand flag: 'o'"), std::string::npos);
  // A value attached to a mistyped flag is never repeated (it may be a secret).
  EXPECT_EQ(error({"status", "--tokne=s3cr3t"}).find("s3cr3t"), std::string::npos);
  EXPECT_EQ(error({"status", "-xs3cr3t"}).find("s3cr3t"), std::string::npos);
  // A control character as the shorthand letter is not repeated as it is.
  const std::string escape = error({"status", "-\x1b[2J"});
  EXPECT_EQ(escape.find('\x1b'), std::string::npos) << escape;
}

TEST(PluginArgs, HelpAndVersionWinAndDoubleDashEndsFlags) {
  EXPECT_EQ(ok({"--help"}).command, Command::Help);
  EXPECT_EQ(ok({"status", "-h"}).command, Command::Help);
  EXPECT_EQ(ok({"help"}).command, Command::Help);
  EXPECT_EQ(ok({"--version"}).command, Command::Version);
  EXPECT_NE(usage().find("kubectl sysdigtoken rotate NAME"), std::string::npos);
  // After "--", "-n" is an argument, not a flag (and not a valid name).
  EXPECT_NE(error({"status", "--", "-n"}).find("invalid SysdigToken name \"-n\""),
            std::string::npos);
}

}  // namespace
}  // namespace sto::plugin
