// fake-ibm-cloud: a test server that speaks the IBM Cloud IAM and Monitoring
// (Sysdig) wire formats over TLS, seeded from a YAML file and driven through an
// admin API. See tests/fakes/README.md for every flag and endpoint.
//
// Exit codes: 0 after SIGINT/SIGTERM, 2 for bad flags or config, 1 when the
// server cannot start (address in use, TLS setup, unwritable files).
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/signal_set.hpp>

#include "fake_ibm_cloud.h"
#include "server.h"
#include "state.h"
#include "tls_identity.h"

namespace {

namespace asio = boost::asio;
using sto::fail;
using sto::Result;

constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 1;

struct Flags {
  std::string config;
  std::vector<std::string> listen;  // empty: 127.0.0.1:0
  std::string tls_dir;
  bool plain_http = false;
  std::vector<std::string> extra_names;
  std::string port_file;
  std::string ports_file;
  std::size_t recent_requests = 100;
  std::string log_level = "info";
};

// A private IPv4 address (10/8, 172.16/12, 192.168/16) held by a local Linux
// bridge, such as a test node's pod bridge: reachable from the machine's pods,
// never from outside it (a bridge has no physical port here). Prints the
// interface's name into `interface_name`.
bool is_private_bridge_address(const asio::ip::address& address, std::string& interface_name) {
  if (!address.is_v4()) return false;
  const auto bytes = address.to_v4().to_bytes();
  const bool private_range = bytes[0] == 10 || (bytes[0] == 172 && (bytes[1] & 0xf0) == 16) ||
                             (bytes[0] == 192 && bytes[1] == 168);
  if (!private_range) return false;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return false;
  bool found = false;
  for (ifaddrs* entry = list; entry != nullptr && !found; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
    asio::ip::address_v4::bytes_type held{};
    std::memcpy(held.data(), &in->sin_addr, held.size());
    if (held != bytes) continue;
    std::error_code ec;
    if (std::filesystem::exists(
            std::filesystem::path("/sys/class/net") / entry->ifa_name / "bridge", ec)) {
      interface_name = entry->ifa_name;
      found = true;
    }
  }
  freeifaddrs(list);
  return found;
}

// "HOST:PORT" with a loopback HOST (an IPv4/IPv6 address, IPv6 in brackets,
// or "localhost"), or a private IPv4 address of a local bridge (a test node's
// pod network, so that pods can call the fake).
Result<asio::ip::tcp::endpoint, std::string> parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return fail("--listen: expected HOST:PORT, got \"" + text + "\"");
  std::string host = text.substr(0, colon);
  std::string port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail("--listen: invalid port \"" + port_text + "\"");
  }
  boost::system::error_code address_error;
  auto address = asio::ip::make_address(host, address_error);
  if (address_error) return fail("--listen: invalid address \"" + host + "\"");
  std::string bridge;
  if (!address.is_loopback() && !is_private_bridge_address(address, bridge)) {
    return fail(
        "--listen: the fake serves loopback (127.0.0.0/8, ::1, localhost) or a private IPv4 "
        "address of a local bridge only, got " +
        host);
  }
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

// Writes through a temporary file and a rename, so that a reader polling for
// the file never sees it half written.
Result<sto::Ok, std::string> write_file_atomically(const std::filesystem::path& path,
                                                   const std::string& content) {
  std::filesystem::path temporary = path;
  temporary += ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) return fail("cannot write " + temporary.string());
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) return fail("cannot write " + path.string() + ": " + ec.message());
  return sto::Ok{};
}

// Hundreds of concurrent connections need more descriptors than some defaults.
void raise_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int run(const Flags& flags) {
  std::vector<asio::ip::tcp::endpoint> endpoints;
  for (const auto& text :
       flags.listen.empty() ? std::vector<std::string>{"127.0.0.1:0"} : flags.listen) {
    auto endpoint = parse_listen(text);
    if (!endpoint) {
      std::cerr << "fake-ibm-cloud: " << endpoint.error() << "\n";
      return kExitUsage;
    }
    endpoints.push_back(*endpoint);
  }
  for (const auto& name : flags.extra_names) {
    if (!sto::fake::is_valid_subject_alt_name(name)) {
      std::cerr << "fake-ibm-cloud: --san: not a DNS name or IP address: \"" << name << "\"\n";
      return kExitUsage;
    }
  }
  sto::fake::State state;
  if (!flags.config.empty()) {
    auto loaded = sto::fake::load_state_file(flags.config);
    if (!loaded) {
      std::cerr << "fake-ibm-cloud: " << loaded.error() << "\n";
      return kExitUsage;
    }
    state = std::move(loaded).value();
  }

  sto::fake::ServerOptions options;
  if (!flags.plain_http) {
    auto identity = sto::fake::generate_tls_identity(flags.extra_names);
    if (!identity) {
      std::cerr << "fake-ibm-cloud: TLS: " << identity.error() << "\n";
      return kExitRuntime;
    }
    options.tls = std::move(identity).value();
    if (!flags.tls_dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(flags.tls_dir, ec);
      auto written = write_file_atomically(std::filesystem::path(flags.tls_dir) / "ca.crt",
                                           options.tls->ca_cert_pem);
      if (ec || !written) {
        std::cerr << "fake-ibm-cloud: --tls-dir: "
                  << (ec ? flags.tls_dir + ": " + ec.message() : written.error()) << "\n";
        return kExitRuntime;
      }
    }
  }

  raise_file_limit();
  asio::io_context io(1);
  auto fake = std::make_shared<sto::fake::FakeIbmCloud>(
      std::move(state), sto::fake::FakeOptions{.max_recent_requests = flags.recent_requests});
  // Every listener serves the same fake (one state, one request log).
  std::vector<std::shared_ptr<sto::fake::Server>> servers;
  for (const auto& endpoint : endpoints) {
    options.listen = endpoint;
    auto server = sto::fake::Server::start(io, options, fake);
    if (!server) {
      std::cerr << "fake-ibm-cloud: " << server.error() << "\n";
      return kExitRuntime;
    }
    servers.push_back(std::move(server).value());
  }

  if (!flags.port_file.empty()) {
    auto written = write_file_atomically(
        flags.port_file, std::to_string(servers.front()->local_endpoint().port()) + "\n");
    if (!written) {
      std::cerr << "fake-ibm-cloud: --port-file: " << written.error() << "\n";
      return kExitRuntime;
    }
  }
  if (!flags.ports_file.empty()) {
    std::string ports;
    for (const auto& server : servers) {
      ports += std::to_string(server->local_endpoint().port()) + "\n";
    }
    auto written = write_file_atomically(flags.ports_file, ports);
    if (!written) {
      std::cerr << "fake-ibm-cloud: --ports-file: " << written.error() << "\n";
      return kExitRuntime;
    }
  }
  for (const auto& server : servers) std::cout << "listening on " << server->url() << "\n";
  std::cout.flush();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("signal {}: stopping", signal);
    for (const auto& server : servers) server->stop();
  });
  io.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "fake-ibm-cloud: a test server speaking the IBM Cloud IAM and Monitoring (Sysdig) APIs "
      "over TLS, with an admin API under /_fake/ (see tests/fakes/README.md)",
      "fake-ibm-cloud"};
  app.add_option("--config", flags.config,
                 "YAML file with the seed state: iam.tokenTTLSeconds, apiKeys, instances/teams");
  app.add_option("--listen", flags.listen, "HOST:PORT to listen on: loopback, or a private IPv4 address of a local bridge (a "
                 "test node's pod network); port 0 picks one. Repeatable: every listener serves "
                 "the same fake")
      ->default_str("127.0.0.1:0");
  auto* plain = app.add_flag("--plain-http", flags.plain_http,
                             "Serve plain HTTP instead of HTTPS (for debugging)");
  app.add_option("--tls-dir", flags.tls_dir,
                 "Directory to write ca.crt into: the CA that clients must trust")
      ->excludes(plain);
  app.add_option("--san", flags.extra_names,
                 "Extra DNS name or IP address for the server certificate (repeatable)")
      ->excludes(plain);
  app.add_option("--port-file", flags.port_file,
                 "File to write the listening port into once the server accepts connections "
                 "(the first listener's)");
  app.add_option("--ports-file", flags.ports_file,
                 "File to write every listener's port into, one a line in --listen order");
  app.add_option("--recent-requests", flags.recent_requests,
                 "How many recent requests GET /_fake/requests keeps")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string(STO_VERSION));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "fake-ibm-cloud: " << e.what() << " (see --help)\n";
    return kExitUsage;
  }

  auto logger = spdlog::stderr_color_mt("fake-ibm-cloud");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(flags.log_level));
  std::signal(SIGPIPE, SIG_IGN);

  try {
    return run(flags);
  } catch (const std::exception& e) {
    std::cerr << "fake-ibm-cloud: " << e.what() << "\n";
    return kExitRuntime;
  }
}
