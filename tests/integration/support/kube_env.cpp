#include "kube_env.h"

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <random>

namespace sto::testing {

std::string required_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    ADD_FAILURE() << name << " is not set: run this test through ctest (controlplane fixture)";
    std::abort();
  }
  return v;
}

std::string controlplane_dir() { return required_env("STO_CONTROLPLANE_DIR"); }
std::string admin_kubeconfig() { return controlplane_dir() + "/kubeconfig"; }
std::string source_dir() { return STO_SOURCE_DIR; }

std::shared_ptr<kube::Client> make_client(boost::asio::io_context& ioc,
                                          const std::string& kubeconfig) {
  std::string path = kubeconfig.empty() ? admin_kubeconfig() : kubeconfig;
  auto config = kube::load_kubeconfig_file(path);
  if (!config) {
    ADD_FAILURE() << config.error();
    std::abort();
  }
  auto client = kube::Client::create(ioc.get_executor(), std::move(config.value()));
  if (!client) {
    ADD_FAILURE() << client.error();
    std::abort();
  }
  return client.value();
}

std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return {-1, "popen failed"};
  std::array<char, 4096> buf;
  while (std::size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string kubectl(const std::string& args) {
  std::string dir = controlplane_dir();
  auto [code, out] = shell(". '" + dir + "/env' && kubectl " + args);
  EXPECT_EQ(code, 0) << "kubectl " << args << ": " << out;
  return out;
}

TempNamespace::TempNamespace(const std::string& prefix) {
  std::random_device rd;
  name_ = prefix + "-" + std::to_string(rd() % 1000000);
  kubectl("create namespace " + name_);
}

TempNamespace::~TempNamespace() {
  shell(". '" + controlplane_dir() + "/env' && kubectl delete namespace " + name_ +
        " --wait=false");
}

boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  (void)co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

}  // namespace sto::testing
