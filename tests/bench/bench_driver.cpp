// bench_driver: the measuring half of scripts/bench (which starts the control
// plane, fake-ibm-cloud and the operator, then runs this).
//
//   bench_driver fake-config --teams K --api-keys A        the fake's seed (YAML)
//   bench_driver run --kubeconfig F --fake-url U --fake-ca F --operator-pid P ...
//   bench_driver compare A.json B.json [--label-a NAME] [--label-b NAME]
//
// `run` creates N SysdigTokens as fast as the API server takes them and
// watches them (and the managed Secrets) become ready; after a few seconds of
// settling it watches a quiet phase (--quiet-window, 30 s, in which nothing
// changes and the operator should neither write nor ask IBM Cloud anything);
// then it stays idle for one refresh interval; then it resets every team in
// the fake and changes the reset annotation of all N resources at once (the
// rotation storm). It reads the operator's /metrics, the fake's request
// counts and /proc at each phase boundary, prints a table and writes one JSON
// document.
//
// `compare` prints two such JSON documents side by side, with the change
// from A to B.
//
// One io_context, one thread; every co_awaited call gets named arguments
// (GCC 12, PR 100611).
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "bench_lib.h"
#include "controller/sysdig_token.h"  // parse_go_duration, as the operator reads durations
#include "kube/client.h"
#include "kube/config.h"
#include "kube/watcher.h"
#include "net/http_client.h"

namespace sto::bench {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Options {
  std::string kubeconfig;
  std::string fake_url;
  std::string fake_ca;
  std::string metrics_url;  // http://127.0.0.1:PORT/metrics; empty: none
  std::string json_path;
  int operator_pid = 0;
  std::vector<std::string> peers;  // NAME=PID of other processes to account (apiserver, etcd, fake)
  std::vector<std::string> info;   // KEY=VALUE for the report's environment section
  Layout layout;
  int latency_ms = 20;
  std::string refresh_interval = "2m";
  std::string idle_window;  // default: refresh interval * 1.1
  int concurrency = 64;
  double settle_seconds = 5;
  double quiet_seconds = 30;  // 0: no quiet phase
  double ready_timeout = 0;  // 0: 120 s + 50 ms per resource
  bool skip_idle = false;
  bool skip_storm = false;
};

struct Item {
  Clock::time_point create_sent{}, created{}, ready_at{}, patched{}, rotated_at{}, handled_at{};
  bool create_ok = false;
  bool ready = false;
  bool patch_ok = false;
  bool rotated = false;
  bool handled = false;
};

struct Snapshot {
  Clock::time_point at{};
  std::optional<Metrics> metrics;    // the operator's
  std::optional<Metrics> apiserver;  // kube-apiserver's request counts and durations
  std::optional<FakeCounts> fake;
  ProcStats op;
  std::map<std::string, ProcStats> peers;
  double self_cpu = 0;
  MachineCpu machine;
  std::string loadavg;
};

struct Phase {
  Snapshot begin, end;
  std::map<std::string, std::int64_t> token_events;   // SysdigToken watch events by type
  std::map<std::string, std::int64_t> secret_events;  // Secret watch events by type
  double max_queue_depth = -1;                        // sampled workqueue_depth; -1: unknown
};

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Bench {
 public:
  Bench(asio::io_context& ioc, Options options)
      : ioc_(ioc), o_(std::move(options)), layout_(o_.layout), items_(layout_.n) {
    token_resource_ = {"monitoring.ibm.com", "v1alpha1", "sysdigtokens", "SysdigToken", true};
    secret_resource_ = kube::resources::secrets();
    namespace_resource_ = kube::resources::namespaces();
    for (const auto& p : o_.peers) {
      auto eq = p.find('=');
      if (eq != std::string::npos) peer_pids_[p.substr(0, eq)] = std::atoi(p.c_str() + eq + 1);
    }
  }

  asio::awaitable<int> run();

 private:
  // --- setup ---
  bool connect();
  asio::awaitable<bool> setup_cluster();
  asio::awaitable<bool> set_latency();
  void start_watchers();
  void stop_watchers();

  // --- phases ---
  asio::awaitable<void> burst();
  asio::awaitable<double> measure(Phase& phase, double window);
  asio::awaitable<void> quiet();
  asio::awaitable<void> idle();
  asio::awaitable<void> storm();

  // --- helpers ---
  asio::awaitable<void> pool(int n, const std::function<asio::awaitable<void>(int)>& fn);
  asio::awaitable<void> create_one(int i);
  asio::awaitable<void> patch_one(int i);
  asio::awaitable<bool> wait_until(const std::function<bool()>& done,
                                   const std::function<std::string()>& progress,
                                   double timeout_seconds);
  asio::awaitable<void> sleep(double s);
  asio::awaitable<Snapshot> snapshot();
  asio::awaitable<std::optional<std::string>> fake_call(const std::string& method,
                                                        const std::string& path,
                                                        const std::string& body);
  asio::awaitable<std::optional<std::string>> scrape();
  asio::awaitable<void> sampler();

  void on_token(kube::WatcherEvent&& ev);
  void on_secret(kube::WatcherEvent&& ev);

  // --- report ---
  json report() const;
  void print(const json& r) const;

  asio::io_context& ioc_;
  Options o_;
  const Layout& layout_;
  std::vector<Item> items_;
  std::map<std::string, int> peer_pids_;

  std::shared_ptr<kube::Client> kube_;
  std::shared_ptr<net::HttpClient> fake_;
  std::shared_ptr<net::HttpClient> metrics_;
  std::string metrics_path_;
  kube::Resource token_resource_, secret_resource_, namespace_resource_;
  kube::PatchOptions patch_options_;
  std::unique_ptr<kube::Watcher> token_watcher_, secret_watcher_;
  bool tokens_synced_ = false, secrets_synced_ = false;
  simdjson::dom::parser parser_;

  Clock::time_point start_ = Clock::now();
  bool stopping_ = false;
  bool metrics_warned_ = false;

  // counters fed by the watch sinks
  int ready_count_ = 0, rotated_count_ = 0, handled_count_ = 0;
  std::map<std::string, std::int64_t> not_ready_reasons_;  // Ready=False/Unknown observations
  std::map<std::string, std::int64_t> reset_outcomes_;
  Phase* current_ = nullptr;  // the phase whose watch events are being counted

  // setup results
  int setup_failures_ = 0;
  std::string first_error_;

  Phase burst_, quiet_, idle_, storm_;
  bool quiet_ran_ = false, idle_ran_ = false, storm_ran_ = false;
  double quiet_window_s_ = 0;
  // When the first refresh was due, in seconds after the quiet window began
  // (negative: before it); set when it fell inside the window.
  std::optional<double> quiet_refresh_due_s_;
  int create_failures_ = 0, patch_failures_ = 0;
  std::string storm_value_;
  Clock::time_point storm_patch_start_{};
  std::vector<std::string> expected_fp_;  // by team, during the storm
  double idle_window_s_ = 0;
  double settle_s_ = 0;
  std::int64_t steady_rss_kib_ = 0;
  std::int64_t max_rss_sampled_kib_ = 0;
  std::vector<std::array<double, 3>> timeline_;  // seconds since start, RSS KiB, CPU s
  std::vector<std::pair<std::string, std::int64_t>> rss_by_mapping_;  // at the end
  std::vector<std::string> problems_;
};

// ---------------------------------------------------------------------------- setup --

bool Bench::connect() {
  auto config = kube::load_kubeconfig_file(o_.kubeconfig);
  if (!config) {
    std::cerr << "bench_driver: " << config.error() << "\n";
    return false;
  }
  kube::ClientOptions co;
  co.qps = 1e6;  // the API server's own limits apply, not a client-side one
  co.burst = 1000000;
  co.timeout = std::chrono::seconds(60);
  co.user_agent = "sto-bench-driver";
  auto client = kube::Client::create(ioc_.get_executor(), std::move(config.value()), co);
  if (!client) {
    std::cerr << "bench_driver: " << client.error() << "\n";
    return false;
  }
  kube_ = client.value();

  auto fake_url = net::Url::parse(o_.fake_url);
  if (!fake_url) {
    std::cerr << "bench_driver: --fake-url: " << fake_url.error() << "\n";
    return false;
  }
  net::TlsConfig tls;
  tls.use_system_store = false;
  tls.ca_pem = read_file(o_.fake_ca);
  net::ClientOptions ho;
  ho.user_agent = "sto-bench-driver";
  auto fake = net::HttpClient::create(ioc_.get_executor(), fake_url.value(), tls, ho);
  if (!fake) {
    std::cerr << "bench_driver: fake client: " << fake.error().message << "\n";
    return false;
  }
  fake_ = fake.value();

  if (!o_.metrics_url.empty()) {
    auto url = net::Url::parse(o_.metrics_url);
    if (!url) {
      std::cerr << "bench_driver: --metrics-url: " << url.error() << "\n";
      return false;
    }
    metrics_path_ = url->path;
    net::TlsConfig none;
    auto m = net::HttpClient::create(ioc_.get_executor(), url.value(), none, ho);
    if (m) metrics_ = m.value();
  }
  return true;
}

asio::awaitable<std::optional<std::string>> Bench::fake_call(const std::string& method,
                                                             const std::string& path,
                                                             const std::string& body) {
  net::HttpRequest req;
  req.method = method;
  req.target = path;
  req.body = body;
  if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
  req.timeout = std::chrono::seconds(30);
  auto r = co_await fake_->send(req);
  if (!r) {
    std::cerr << "bench_driver: fake " << method << " " << path << ": " << r.error().message << "\n";
    co_return std::nullopt;
  }
  if (r->status / 100 != 2) {
    std::cerr << "bench_driver: fake " << method << " " << path << ": HTTP " << r->status << " "
              << r->body << "\n";
    co_return std::nullopt;
  }
  co_return std::move(r->body);
}

asio::awaitable<std::optional<std::string>> Bench::scrape() {
  if (!metrics_) co_return std::nullopt;
  net::HttpRequest req;
  req.target = metrics_path_;
  req.timeout = std::chrono::seconds(10);
  auto r = co_await metrics_->send(req);
  if (!r || r->status != 200) {
    if (!metrics_warned_) {
      std::cerr << "bench_driver: operator metrics unavailable at " << o_.metrics_url << " ("
                << (r ? "HTTP " + std::to_string(r->status) : r.error().message)
                << "): API request counts are reported as n/a\n";
      metrics_warned_ = true;
    }
    co_return std::nullopt;
  }
  co_return std::move(r->body);
}

asio::awaitable<bool> Bench::set_latency() {
  if (o_.latency_ms <= 0) co_return true;
  for (const char* prefix : {"/identity/", "/api/"}) {
    // No "times": the fault applies to every matching request until removed.
    std::string body =
        json{{"pathPrefix", prefix}, {"latencyMs", o_.latency_ms}}.dump();
    std::string method = "POST", path = "/_fake/faults";
    auto r = co_await fake_call(method, path, body);
    if (!r) co_return false;
  }
  co_return true;
}

asio::awaitable<void> Bench::pool(int n, const std::function<asio::awaitable<void>(int)>& fn) {
  auto ex = co_await asio::this_coro::executor;
  int next = 0;
  int running = std::max(1, std::min(o_.concurrency, n));
  asio::steady_timer done(ex, Clock::time_point::max());
  int workers = running;
  for (int w = 0; w < workers; ++w) {
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          while (next < n) {
            int i = next++;
            co_await fn(i);
          }
          if (--running == 0) done.cancel();
        },
        asio::detached);
  }
  while (running > 0) (void)co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> Bench::sleep(double s) {
  asio::steady_timer t(co_await asio::this_coro::executor,
                       std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)));
  (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<bool> Bench::wait_until(const std::function<bool()>& done,
                                        const std::function<std::string()>& progress,
                                        double timeout_seconds) {
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(timeout_seconds));
  auto next_note = Clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (Clock::now() >= deadline) co_return false;
    if (Clock::now() >= next_note) {
      std::cerr << "bench:   " << progress() << "\n";
      next_note += std::chrono::seconds(5);
    }
    co_await sleep(0.01);
  }
  co_return true;
}

asio::awaitable<bool> Bench::setup_cluster() {
  // Namespaces, then the API key Secrets each namespace needs.
  std::vector<std::string> names;
  for (int m = 0; m < std::min(layout_.namespaces, layout_.n); ++m)
    names.push_back(layout_.namespace_name(m));
  const std::function<asio::awaitable<void>(int)> make_ns =
      [this, &names](int m) -> asio::awaitable<void> {
    std::string body = json{{"apiVersion", "v1"},
                            {"kind", "Namespace"},
                            {"metadata", {{"name", names[m]}, {"labels", {{"sto-bench", "1"}}}}}}
                           .dump();
    std::string none;
    auto r = co_await kube_->create(namespace_resource_, none, body);
    if (!r && r.error().kind != kube::ApiErrorKind::AlreadyExists) {
      if (first_error_.empty()) first_error_ = "namespace " + names[m] + ": " + r.error().describe();
      ++setup_failures_;
    }
  };
  co_await pool(static_cast<int>(names.size()), make_ns);

  auto secrets = layout_.key_secrets();
  const std::function<asio::awaitable<void>(int)> make_secret =
      [this, &secrets](int s) -> asio::awaitable<void> {
    auto [m, a] = secrets[s];
    std::string ns = layout_.namespace_name(m);
    std::string body =
        json{{"apiVersion", "v1"},
             {"kind", "Secret"},
             {"metadata", {{"name", Layout::api_key_secret_name(a)}, {"namespace", ns}}},
             {"type", "Opaque"},
             {"stringData", {{"apikey", Layout::api_key(a)}}}}
            .dump();
    auto r = co_await kube_->create(secret_resource_, ns, body);
    if (!r && r.error().kind != kube::ApiErrorKind::AlreadyExists) {
      if (first_error_.empty()) first_error_ = "secret in " + ns + ": " + r.error().describe();
      ++setup_failures_;
    }
  };
  co_await pool(static_cast<int>(secrets.size()), make_secret);
  if (setup_failures_ > 0) {
    std::cerr << "bench_driver: setup failed (" << setup_failures_ << " errors): " << first_error_
              << "\n";
    co_return false;
  }
  std::cerr << "bench: " << names.size() << " namespaces, " << secrets.size()
            << " API key Secrets created\n";
  co_return true;
}

void Bench::start_watchers() {
  kube::WatcherConfig tc;
  tc.resource = token_resource_;
  tc.label_selector = "sto-bench=1";
  tc.page_size = 1000;
  token_watcher_ = std::make_unique<kube::Watcher>(kube_, tc);
  kube::WatcherConfig sc;
  sc.resource = secret_resource_;
  sc.label_selector = "app.kubernetes.io/managed-by=sysdig-token-operator";
  sc.page_size = 1000;
  secret_watcher_ = std::make_unique<kube::Watcher>(kube_, sc);
  asio::co_spawn(ioc_, token_watcher_->run([this](kube::WatcherEvent&& ev) { on_token(std::move(ev)); }),
                 asio::detached);
  asio::co_spawn(ioc_,
                 secret_watcher_->run([this](kube::WatcherEvent&& ev) { on_secret(std::move(ev)); }),
                 asio::detached);
}

void Bench::stop_watchers() {
  if (token_watcher_) token_watcher_->stop();
  if (secret_watcher_) secret_watcher_->stop();
}

// ------------------------------------------------------------------------ watch sinks --

namespace {
const char* event_name(kube::WatcherEventType t) {
  switch (t) {
    case kube::WatcherEventType::InitApply:
      return "list";
    case kube::WatcherEventType::Apply:
      return "apply";
    case kube::WatcherEventType::Delete:
      return "delete";
    default:
      return "other";
  }
}
}  // namespace

void Bench::on_token(kube::WatcherEvent&& ev) {
  if (ev.type == kube::WatcherEventType::InitDone) tokens_synced_ = true;
  if (ev.type == kube::WatcherEventType::InitStart || ev.type == kube::WatcherEventType::InitDone)
    return;
  auto now = Clock::now();
  if (current_) ++current_->token_events[event_name(ev.type)];
  if (ev.type == kube::WatcherEventType::Delete) return;
  simdjson::dom::element doc;
  if (parser_.parse(ev.object).get(doc) != simdjson::SUCCESS) return;
  std::string_view name;
  if (doc["metadata"]["name"].get_string().get(name) != simdjson::SUCCESS) return;
  int i = Layout::resource_index(name);
  if (i < 0 || i >= layout_.n) return;
  Item& item = items_[i];
  simdjson::dom::element status;
  if (doc["status"].get(status) != simdjson::SUCCESS) return;
  simdjson::dom::array conditions;
  if (status["conditions"].get_array().get(conditions) == simdjson::SUCCESS) {
    for (auto c : conditions) {
      std::string_view type, value, reason;
      if (c["type"].get_string().get(type) != simdjson::SUCCESS || type != "Ready") continue;
      if (c["status"].get_string().get(value) != simdjson::SUCCESS) continue;
      if (value == "True") {
        if (!item.ready) {
          item.ready = true;
          item.ready_at = now;
          ++ready_count_;
        }
      } else {
        if (c["reason"].get_string().get(reason) != simdjson::SUCCESS) reason = "";
        ++not_ready_reasons_[std::string(value) + "/" + std::string(reason)];
      }
    }
  }
  if (!storm_value_.empty() && !item.handled) {
    std::string_view handled, outcome;
    if (status["lastHandledReset"].get_string().get(handled) == simdjson::SUCCESS &&
        handled == storm_value_) {
      item.handled = true;
      item.handled_at = now;
      ++handled_count_;
      if (status["lastResetOutcome"].get_string().get(outcome) != simdjson::SUCCESS) outcome = "";
      ++reset_outcomes_[outcome.empty() ? "(none)" : std::string(outcome)];
    }
  }
}

void Bench::on_secret(kube::WatcherEvent&& ev) {
  if (ev.type == kube::WatcherEventType::InitDone) secrets_synced_ = true;
  if (ev.type == kube::WatcherEventType::InitStart || ev.type == kube::WatcherEventType::InitDone)
    return;
  auto now = Clock::now();
  if (current_) ++current_->secret_events[event_name(ev.type)];
  if (ev.type == kube::WatcherEventType::Delete || expected_fp_.empty()) return;
  simdjson::dom::element doc;
  if (parser_.parse(ev.object).get(doc) != simdjson::SUCCESS) return;
  std::string_view name, ns, fp;
  if (doc["metadata"]["name"].get_string().get(name) != simdjson::SUCCESS) return;
  if (doc["metadata"]["namespace"].get_string().get(ns) != simdjson::SUCCESS ||
      !ns.starts_with("bench-"))
    return;
  int i = Layout::resource_index(name);
  if (i < 0 || i >= layout_.n || items_[i].rotated) return;
  if (doc["metadata"]["annotations"]["monitoring.ibm.com/token-fingerprint"].get_string().get(fp) !=
      simdjson::SUCCESS)
    return;
  if (fp == expected_fp_[layout_.team_of(i)]) {
    items_[i].rotated = true;
    items_[i].rotated_at = now;
    ++rotated_count_;
  }
}

// ---------------------------------------------------------------------------- phases --

asio::awaitable<Snapshot> Bench::snapshot() {
  Snapshot s;
  s.at = Clock::now();
  s.op = read_proc(o_.operator_pid);
  for (const auto& [name, pid] : peer_pids_) s.peers[name] = read_proc(pid);
  s.self_cpu = self_cpu_seconds();
  s.machine = read_machine_cpu();
  s.loadavg = read_file("/proc/loadavg");
  while (!s.loadavg.empty() && s.loadavg.back() == '\n') s.loadavg.pop_back();
  auto text = co_await scrape();
  if (text) s.metrics = parse_prometheus_text(*text);
  {
    std::string method = "GET", path = "/metrics", body, type;
    auto api = co_await kube_->request(method, path, body, type);
    static const std::vector<std::string_view> wanted = {
        "apiserver_request_total{", "apiserver_request_duration_seconds_sum{",
        "apiserver_request_duration_seconds_count{"};
    if (api) s.apiserver = parse_prometheus_text(*api, wanted);
  }
  std::string method = "GET", path = "/_fake/requests", none;
  auto counts = co_await fake_call(method, path, none);
  if (counts) s.fake = parse_fake_counts(*counts);
  co_return s;
}

asio::awaitable<void> Bench::sampler() {
  auto next = Clock::now();
  int tick = 0;
  while (!stopping_) {
    if (tick++ % 4 == 0 && metrics_ && !metrics_warned_) {
      // The work queue's depth, once a second, while a phase runs.
      Phase* phase = current_;
      auto text = co_await scrape();
      if (text && phase && phase == current_) {
        static const std::vector<std::string_view> wanted = {"workqueue_depth"};
        auto m = parse_prometheus_text(*text, wanted);
        if (auto depth = sum_of(m, "workqueue_depth"))
          phase->max_queue_depth = std::max(phase->max_queue_depth, *depth);
      }
    }
    ProcStats p = read_proc(o_.operator_pid);
    if (p.alive) {
      max_rss_sampled_kib_ = std::max(max_rss_sampled_kib_, p.rss_kib);
      double t = seconds(Clock::now() - start_);
      if (timeline_.empty() || t - timeline_.back()[0] >= 0.999)
        timeline_.push_back({t, static_cast<double>(p.rss_kib), p.cpu_seconds});
    }
    next += std::chrono::milliseconds(250);
    asio::steady_timer t(co_await asio::this_coro::executor, next);
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> Bench::create_one(int i) {
  Item& item = items_[i];
  std::string ns = layout_.namespace_name(layout_.namespace_of(i));
  std::string body = sysdig_token_json(layout_, i, o_.fake_url, o_.refresh_interval);
  item.create_sent = Clock::now();
  for (int attempt = 0;; ++attempt) {
    auto r = co_await kube_->create(token_resource_, ns, body);
    if (r || r.error().kind == kube::ApiErrorKind::AlreadyExists) {
      item.created = Clock::now();
      item.create_ok = true;
      co_return;
    }
    if (!r.error().retryable() || attempt >= 10) {
      ++create_failures_;
      if (first_error_.empty()) first_error_ = "create " + ns + "/sdt-" + std::to_string(i) + ": " + r.error().describe();
      co_return;
    }
    co_await sleep(0.1 * (attempt + 1));
  }
}

asio::awaitable<void> Bench::patch_one(int i) {
  Item& item = items_[i];
  std::string ns = layout_.namespace_name(layout_.namespace_of(i));
  std::string name = Layout::resource_name(i);
  std::string body =
      json{{"metadata", {{"annotations", {{"monitoring.ibm.com/reset-token", storm_value_}}}}}}.dump();
  for (int attempt = 0;; ++attempt) {
    auto r = co_await kube_->patch(token_resource_, ns, name, kube::PatchType::Merge, body,
                                   patch_options_);
    if (r) {
      item.patched = Clock::now();
      item.patch_ok = true;
      co_return;
    }
    if (!r.error().retryable() || attempt >= 10) {
      ++patch_failures_;
      if (first_error_.empty()) first_error_ = "patch " + ns + "/" + name + ": " + r.error().describe();
      co_return;
    }
    co_await sleep(0.1 * (attempt + 1));
  }
}

asio::awaitable<void> Bench::burst() {
  const int n = layout_.n;
  std::cerr << "bench: creating " << n << " SysdigTokens (" << o_.concurrency << " in flight)\n";
  burst_.begin = co_await snapshot();
  current_ = &burst_;
  const std::function<asio::awaitable<void>(int)> fn = [this](int i) { return create_one(i); };
  co_await pool(n, fn);
  int created = n - create_failures_;
  std::cerr << "bench: " << created << " created in "
            << format_seconds(seconds(Clock::now() - burst_.begin.at)) << "; waiting for Ready\n";
  double timeout = o_.ready_timeout > 0 ? o_.ready_timeout : 120 + 0.05 * n;
  const std::function<bool()> done = [this, created] { return ready_count_ >= created; };
  const std::function<std::string()> progress = [this, n] {
    return "Ready " + std::to_string(ready_count_) + "/" + std::to_string(n);
  };
  bool ok = co_await wait_until(done, progress, timeout);
  if (!ok) problems_.push_back("only " + std::to_string(ready_count_) + " of " + std::to_string(n) +
                               " resources became Ready within " + format_seconds(timeout));
  burst_.end = co_await snapshot();
  current_ = nullptr;
  std::cerr << "bench: " << ready_count_ << "/" << n << " Ready after "
            << format_seconds(seconds(burst_.end.at - burst_.begin.at)) << "\n";
}

// Records a phase in which the driver changes nothing for `window` seconds;
// the window's measured length.
asio::awaitable<double> Bench::measure(Phase& phase, double window) {
  phase.begin = co_await snapshot();
  current_ = &phase;
  co_await sleep(window);
  phase.end = co_await snapshot();
  current_ = nullptr;
  co_return seconds(phase.end.at - phase.begin.at);
}

asio::awaitable<void> Bench::quiet() {
  const double window = o_.quiet_seconds;
  std::cerr << "bench: quiet for " << format_seconds(window)
            << " (nothing changes: no write and no IBM request expected)\n";
  quiet_window_s_ = co_await measure(quiet_, window);
  quiet_ran_ = true;
  // A resource refreshes one interval (plus up to 10 % jitter) after its
  // sync, i.e. about when it became Ready: with a short interval the first
  // refreshes fall inside the window, which then is not quiet.
  auto interval = controller::parse_go_duration(o_.refresh_interval);
  Clock::time_point first_ready = Clock::time_point::max();
  for (const auto& it : items_)
    if (it.ready) first_ready = std::min(first_ready, it.ready_at);
  if (interval && first_ready != Clock::time_point::max()) {
    auto due = first_ready + std::chrono::duration_cast<Clock::duration>(*interval);
    if (due < quiet_.end.at) {
      quiet_refresh_due_s_ = seconds(due - quiet_.begin.at);
      problems_.push_back(
          "the refresh interval (" + o_.refresh_interval +
          ") is too short for the quiet window: the first refreshes were due " +
          (*quiet_refresh_due_s_ < 0
               ? format_seconds(-*quiet_refresh_due_s_) + " before it began"
               : format_seconds(*quiet_refresh_due_s_) + " into it") +
          ", so its writes and IBM requests may be refreshes (use a longer --refresh-interval)");
    }
  }
}

asio::awaitable<void> Bench::idle() {
  auto interval = controller::parse_go_duration(o_.refresh_interval);
  double window =
      o_.idle_window.empty()
          ? 1.1 * std::chrono::duration<double>(interval.value_or(std::chrono::minutes(2))).count()
          : std::chrono::duration<double>(
                controller::parse_go_duration(o_.idle_window).value_or(std::chrono::minutes(2)))
                .count();
  std::cerr << "bench: idle for " << format_seconds(window) << " (one refresh interval of "
            << o_.refresh_interval << " plus its 10 % jitter)\n";
  idle_window_s_ = co_await measure(idle_, window);
  steady_rss_kib_ = idle_.end.op.rss_kib;
  idle_ran_ = true;
}

asio::awaitable<void> Bench::storm() {
  const int n = layout_.n;
  storm_.begin = co_await snapshot();
  current_ = &storm_;
  // Reset every team (the Monitoring UI's Reset Token), then annotate all N.
  std::vector<std::string> fps(layout_.teams);
  for (int k = 0; k < layout_.teams; ++k) {
    std::string method = "POST",
                path = "/_fake/instances/" + std::string(Layout::kInstanceGuid) + "/teams/" +
                       std::to_string(Layout::team_id(k)) + "/reset",
                none;
    auto r = co_await fake_call(method, path, none);
    if (!r) {
      problems_.push_back("the fake did not reset team " + std::to_string(Layout::team_id(k)));
      co_return;
    }
    auto j = json::parse(*r, nullptr, false);
    if (j.is_discarded() || !j.contains("token")) co_return;
    fps[k] = token_fingerprint(j["token"].get<std::string>());
  }
  expected_fp_ = fps;
  storm_value_ = "bench-storm-" + std::to_string(std::time(nullptr));
  std::cerr << "bench: rotation storm: " << layout_.teams << " teams reset, annotating " << n
            << " SysdigTokens\n";
  storm_patch_start_ = Clock::now();
  const std::function<asio::awaitable<void>(int)> fn = [this](int i) { return patch_one(i); };
  co_await pool(n, fn);
  std::cerr << "bench: " << n - patch_failures_ << " annotated in "
            << format_seconds(seconds(Clock::now() - storm_patch_start_))
            << "; waiting for every Secret to carry the new token\n";
  int patched = n - patch_failures_;
  const std::function<bool()> rotated = [this, patched] { return rotated_count_ >= patched; };
  const std::function<std::string()> progress = [this, n] {
    return "Secrets rotated " + std::to_string(rotated_count_) + "/" + std::to_string(n) +
           ", statuses " + std::to_string(handled_count_) + "/" + std::to_string(n);
  };
  // Resets ask Sysdig again, through the operator's per-host rate limit:
  // allow twice the creates' time.
  double timeout = o_.ready_timeout > 0 ? o_.ready_timeout : 120 + 0.1 * n;
  bool ok = co_await wait_until(rotated, progress, timeout);
  if (!ok)
    problems_.push_back("only " + std::to_string(rotated_count_) + " of " + std::to_string(n) +
                        " Secrets carried the new token within " + format_seconds(timeout));
  storm_.end = co_await snapshot();
  // The statuses follow the Secrets; give them a little time (not measured
  // into the Monitoring cost above).
  const std::function<bool()> handled = [this, patched] { return handled_count_ >= patched; };
  (void)co_await wait_until(handled, progress, 30);
  current_ = nullptr;
  storm_ran_ = true;
}

asio::awaitable<int> Bench::run() {
  if (!connect()) co_return 1;
  asio::co_spawn(ioc_, sampler(), asio::detached);
  int rc = 0;
  do {
    if (!co_await set_latency()) {
      rc = 1;
      break;
    }
    if (!co_await setup_cluster()) {
      rc = 1;
      break;
    }
    start_watchers();
    const std::function<bool()> synced = [this] { return tokens_synced_ && secrets_synced_; };
    const std::function<std::string()> progress = [] { return std::string("waiting for the watches"); };
    if (!co_await wait_until(synced, progress, 60)) {
      std::cerr << "bench_driver: the watches did not sync within 60 s\n";
      rc = 1;
      break;
    }
    co_await burst();
    if (!o_.skip_idle || o_.quiet_seconds > 0) {
      settle_s_ = o_.settle_seconds;
      std::cerr << "bench: settling " << format_seconds(settle_s_) << "\n";
      co_await sleep(settle_s_);
    }
    if (o_.quiet_seconds > 0) co_await quiet();
    if (!o_.skip_idle) co_await idle();
    if (!o_.skip_storm) co_await storm();
  } while (false);
  stopping_ = true;
  rss_by_mapping_ = read_smaps_rss(o_.operator_pid);
  stop_watchers();
  if (rc == 0) {
    json r = report();
    print(r);
    if (!o_.json_path.empty()) {
      std::ofstream out(o_.json_path);
      out << r.dump(2) << "\n";
      if (!out) {
        std::cerr << "bench_driver: cannot write " << o_.json_path << "\n";
        rc = 1;
      } else {
        std::cerr << "bench: JSON written to " << o_.json_path << "\n";
      }
    }
  }
  kube_->shutdown();
  fake_->shutdown();
  if (metrics_) metrics_->shutdown();
  co_return rc;
}

// ---------------------------------------------------------------------------- report --

json dist_json(const Distribution& d) {
  if (d.count == 0) return nullptr;
  return {{"count", d.count}, {"p50", d.p50}, {"p95", d.p95}, {"p99", d.p99}, {"max", d.max},
          {"mean", d.mean}};
}

// API requests by method from rest_client_requests_total, or null.
json api_requests(const Phase& p) {
  if (!p.begin.metrics || !p.end.metrics) return nullptr;
  auto d = delta(sum_by(*p.begin.metrics, "rest_client_requests_total", "method"),
                 sum_by(*p.end.metrics, "rest_client_requests_total", "method"));
  json out = json::object();
  for (const auto& [method, v] : d)
    if (v != 0) out[method] = static_cast<std::int64_t>(v);
  return out;
}

json reconciles(const Phase& p) {
  if (!p.begin.metrics || !p.end.metrics) return nullptr;
  auto d = delta(sum_by(*p.begin.metrics, "controller_runtime_reconcile_total", "result"),
                 sum_by(*p.end.metrics, "controller_runtime_reconcile_total", "result"));
  json out = json::object();
  for (const auto& [result, v] : d)
    if (v != 0) out[result] = static_cast<std::int64_t>(v);
  return out;
}

json operator_ibm_requests(const Phase& p) {
  if (!p.begin.metrics || !p.end.metrics) return nullptr;
  auto d = delta(sum_by(*p.begin.metrics, "sysdigtoken_ibm_requests_total", "api"),
                 sum_by(*p.end.metrics, "sysdigtoken_ibm_requests_total", "api"));
  json out = json::object();
  for (const auto& [api, v] : d)
    if (v != 0) out[api] = static_cast<std::int64_t>(v);
  return out;
}

// kube-apiserver's own count of requests by "VERB resource [subresource]"
// (all clients: the operator and the benchmark driver), with the mean
// latency the API server measured for each.
json apiserver_requests(const Phase& p) {
  if (!p.begin.apiserver || !p.end.apiserver) return nullptr;
  static const std::vector<std::string_view> key = {"verb", "resource", "subresource"};
  auto n = delta(sum_by(*p.begin.apiserver, "apiserver_request_total", key),
                 sum_by(*p.end.apiserver, "apiserver_request_total", key));
  auto sum = delta(sum_by(*p.begin.apiserver, "apiserver_request_duration_seconds_sum", key),
                   sum_by(*p.end.apiserver, "apiserver_request_duration_seconds_sum", key));
  auto count = delta(sum_by(*p.begin.apiserver, "apiserver_request_duration_seconds_count", key),
                     sum_by(*p.end.apiserver, "apiserver_request_duration_seconds_count", key));
  json out = json::object();
  for (const auto& [k, v] : n) {
    if (v <= 0) continue;
    json e = {{"requests", static_cast<std::int64_t>(v)}};
    if (count[k] > 0 && k.rfind("WATCH", 0) != 0) e["mean_latency_ms"] = 1e3 * sum[k] / count[k];
    out[k] = e;
  }
  return out;
}

// Mean reconcile duration in the phase, from the operator's histogram.
json reconcile_mean(const Phase& p) {
  if (!p.begin.metrics || !p.end.metrics) return nullptr;
  auto s0 = sum_of(*p.begin.metrics, "controller_runtime_reconcile_time_seconds_sum");
  auto s1 = sum_of(*p.end.metrics, "controller_runtime_reconcile_time_seconds_sum");
  auto c0 = sum_of(*p.begin.metrics, "controller_runtime_reconcile_time_seconds_count");
  auto c1 = sum_of(*p.end.metrics, "controller_runtime_reconcile_time_seconds_count");
  if (!s0 || !s1 || !c0 || !c1 || *c1 - *c0 <= 0) return nullptr;
  return (*s1 - *s0) / (*c1 - *c0);
}

json fake_requests(const Phase& p) {
  if (!p.begin.fake || !p.end.fake) return nullptr;
  json out = json::object();
  for (const auto& [endpoint, v] : fake_deltas(*p.begin.fake, *p.end.fake))
    if (v != 0) out[endpoint] = v;
  return out;
}

std::int64_t iam_count(const json& fake) {
  if (!fake.is_object()) return -1;
  return fake.value("POST /identity/token", std::int64_t{0});
}
std::int64_t monitoring_count(const json& fake) {
  if (!fake.is_object()) return -1;
  std::int64_t n = 0;
  for (const auto& [endpoint, v] : fake.items())
    if (endpoint.rfind("GET /api/", 0) == 0) n += v.get<std::int64_t>();
  return n;
}
std::int64_t token_count(const json& fake) {
  if (!fake.is_object()) return -1;
  return fake.value("GET /api/token", std::int64_t{0});
}

bool is_write(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

json process_json(const Phase& p) {
  json out = json::object();
  out["operator_cpu_seconds"] = p.end.op.cpu_seconds - p.begin.op.cpu_seconds;
  out["operator_rss_kib_end"] = p.end.op.rss_kib;
  out["operator_peak_rss_kib_so_far"] = p.end.op.hwm_kib;
  out["operator_rss_anon_kib_end"] = p.end.op.rss_anon_kib;
  out["operator_rss_file_kib_end"] = p.end.op.rss_file_kib;
  out["operator_max_workqueue_depth"] = p.max_queue_depth < 0 ? json(nullptr) : json(p.max_queue_depth);
  out["operator_mean_reconcile_seconds"] = reconcile_mean(p);
  json peers = json::object();
  for (const auto& [name, end] : p.end.peers) {
    auto it = p.begin.peers.find(name);
    if (it != p.begin.peers.end() && end.alive)
      peers[name + "_cpu_seconds"] = end.cpu_seconds - it->second.cpu_seconds;
  }
  peers["bench_driver_cpu_seconds"] = p.end.self_cpu - p.begin.self_cpu;
  out["others"] = peers;
  // The whole machine: how busy its cores were, and how much of that was
  // neither the operator nor the benchmark's own processes (other work on a
  // shared machine).
  double wall = seconds(p.end.at - p.begin.at);
  double busy = p.end.machine.busy_seconds - p.begin.machine.busy_seconds;
  double total = p.end.machine.total_seconds - p.begin.machine.total_seconds;
  double ours = out["operator_cpu_seconds"].get<double>();
  for (const auto& [k, v] : peers.items()) ours += v.get<double>();
  out["machine"] = {{"wall_seconds", wall},
                    {"busy_cpu_seconds", busy},
                    {"busy_percent", total > 0 ? 100 * busy / total : 0},
                    {"unrelated_cpu_seconds", std::max(0.0, busy - ours)},
                    {"loadavg_begin", p.begin.loadavg},
                    {"loadavg_end", p.end.loadavg}};
  return out;
}

// Writes seen by a watch: apply and delete events (the "list" events of a
// re-list are not writes).
std::int64_t watch_writes(const std::map<std::string, std::int64_t>& events) {
  std::int64_t n = 0;
  for (const auto& [type, count] : events)
    if (type == "apply" || type == "delete") n += count;
  return n;
}

// api_writes and api_reads into out from api_requests() (null when unknown).
void writes_and_reads(const json& api, json& out) {
  if (!api.is_object()) {
    out["api_writes"] = nullptr;
    out["api_reads"] = nullptr;
    return;
  }
  std::int64_t writes = 0, reads = 0;
  for (const auto& [method, v] : api.items()) {
    if (is_write(method)) writes += v.get<std::int64_t>();
    else if (method == "GET" || method == "LIST") reads += v.get<std::int64_t>();
  }
  out["api_writes"] = writes;
  out["api_reads"] = reads;
}

// Every request the fake answered (IAM and Monitoring), or null.
json ibm_total(const json& fake) {
  if (!fake.is_object()) return nullptr;
  std::int64_t n = 0;
  for (const auto& [endpoint, v] : fake.items())
    if (endpoint.find(" /_fake/") == std::string::npos) n += v.get<std::int64_t>();
  return n;
}

// The fake's request counts of a phase into `into`: fake_requests, and IAM,
// Monitoring, Monitoring token and all IBM requests (null when unknown).
void add_fake_counts(const Phase& p, json& into) {
  json fake = fake_requests(p);
  const bool known = !fake.is_null();
  into["iam_requests"] = known ? json(iam_count(fake)) : json(nullptr);
  into["monitoring_requests"] = known ? json(monitoring_count(fake)) : json(nullptr);
  into["monitoring_token_requests"] = known ? json(token_count(fake)) : json(nullptr);
  into["ibm_requests"] = ibm_total(fake);
  into["fake_requests"] = std::move(fake);
}

json Bench::report() const {
  json r;
  const int n = layout_.n;
  r["benchmark"] = "sysdig-token-operator";
  {
    char buf[64];
    std::time_t t = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    r["finished_at"] = buf;
  }
  r["parameters"] = {{"n", n},
                     {"namespaces", layout_.namespaces},
                     {"teams", layout_.teams},
                     {"api_keys", layout_.api_keys},
                     {"latency_ms", o_.latency_ms},
                     {"refresh_interval", o_.refresh_interval},
                     {"concurrency", o_.concurrency},
                     {"team_key_pairs", layout_.team_key_pairs()},
                     {"api_keys_used", layout_.keys_used()}};
  json env = json::object();
  env["nproc"] = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  utsname u{};
  if (uname(&u) == 0) env["kernel"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  for (const auto& kv : o_.info) {
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env["operator_metrics"] = burst_.end.metrics.has_value();
  r["environment"] = env;

  // --- burst ---
  {
    json b;
    Clock::time_point first_sent = Clock::time_point::max(), last_created{}, last_ready{};
    std::vector<double> ttr;
    for (const auto& it : items_) {
      if (it.create_ok) {
        first_sent = std::min(first_sent, it.create_sent);
        last_created = std::max(last_created, it.created);
      }
      if (it.ready && it.create_ok) {
        last_ready = std::max(last_ready, it.ready_at);
        ttr.push_back(std::max(0.0, seconds(it.ready_at - it.created)));
      }
    }
    int created = n - create_failures_;
    b["created"] = created;
    b["create_failures"] = create_failures_;
    b["ready"] = ready_count_;
    double create_s = created > 0 ? seconds(last_created - first_sent) : 0;
    b["create_seconds"] = create_s;
    b["creates_per_second"] = create_s > 0 ? created / create_s : 0;
    b["time_to_ready_seconds"] = dist_json(distribution(ttr));
    bool all = ready_count_ >= created && created > 0;
    b["all_ready"] = all;
    if (all) {
      b["all_ready_after_first_create_seconds"] = seconds(last_ready - first_sent);
      b["all_ready_after_last_create_seconds"] = std::max(0.0, seconds(last_ready - last_created));
    }
    b["not_ready_observations"] = not_ready_reasons_;
    b["api_requests_by_method"] = api_requests(burst_);
    b["reconciles_by_result"] = reconciles(burst_);
    b["apiserver_requests"] = apiserver_requests(burst_);
    b["operator_ibm_requests_by_api"] = operator_ibm_requests(burst_);
    add_fake_counts(burst_, b);
    b["watch_events"] = {{"sysdigtokens", burst_.token_events}, {"secrets", burst_.secret_events}};
    b["process"] = process_json(burst_);
    b["operator_peak_rss_kib"] = burst_.end.op.hwm_kib;
    r["burst"] = b;
  }

  // --- quiet ---
  if (quiet_ran_) {
    json q;
    q["settle_seconds"] = settle_s_;
    q["window_seconds"] = quiet_window_s_;
    json api = api_requests(quiet_);
    q["api_requests_by_method"] = api;
    writes_and_reads(api, q);
    q["reconciles_by_result"] = reconciles(quiet_);
    q["apiserver_requests"] = apiserver_requests(quiet_);
    q["operator_ibm_requests_by_api"] = operator_ibm_requests(quiet_);
    add_fake_counts(quiet_, q);
    q["sysdigtoken_writes_observed"] = watch_writes(quiet_.token_events);
    q["secret_writes_observed"] = watch_writes(quiet_.secret_events);
    q["watch_events"] = {{"sysdigtokens", quiet_.token_events}, {"secrets", quiet_.secret_events}};
    q["refresh_inside_window"] = quiet_refresh_due_s_.has_value();
    if (quiet_refresh_due_s_) q["first_refresh_due_seconds"] = *quiet_refresh_due_s_;
    q["process"] = process_json(quiet_);
    r["quiet"] = q;
  }

  // --- idle ---
  if (idle_ran_) {
    json i;
    double minutes = idle_window_s_ / 60;
    i["settle_seconds"] = settle_s_;
    // After settling and the quiet phase.
    i["starts_after_burst_seconds"] = seconds(idle_.begin.at - burst_.end.at);
    i["window_seconds"] = idle_window_s_;
    json api = api_requests(idle_);
    i["api_requests_by_method"] = api;
    writes_and_reads(api, i);
    if (api.is_object()) {
      json per_min = json::object();
      for (const auto& [method, v] : api.items()) per_min[method] = v.get<double>() / minutes;
      i["api_requests_per_minute"] = per_min;
    }
    i["reconciles_by_result"] = reconciles(idle_);
    i["apiserver_requests"] = apiserver_requests(idle_);
    json fake = fake_requests(idle_);
    i["fake_requests"] = fake;
    if (fake.is_object()) {
      i["iam_requests"] = iam_count(fake);
      i["monitoring_requests"] = monitoring_count(fake);
      i["iam_per_minute"] = iam_count(fake) / minutes;
      i["monitoring_per_minute"] = monitoring_count(fake) / minutes;
    }
    // Writes seen from the objects' side: every apply or delete event in the
    // idle window is a write someone made.
    i["sysdigtoken_writes_observed"] = watch_writes(idle_.token_events);
    i["secret_writes_observed"] = watch_writes(idle_.secret_events);
    i["watch_events"] = {{"sysdigtokens", idle_.token_events}, {"secrets", idle_.secret_events}};
    i["process"] = process_json(idle_);
    i["operator_steady_rss_kib"] = steady_rss_kib_;
    r["idle"] = i;
  }

  // --- storm ---
  if (storm_ran_) {
    json s;
    Clock::time_point first_patch = Clock::time_point::max(), last_patch{}, last_rotated{},
                      last_handled{};
    std::vector<double> lat;
    for (const auto& it : items_) {
      if (!it.patch_ok) continue;
      last_patch = std::max(last_patch, it.patched);
      if (it.rotated) {
        last_rotated = std::max(last_rotated, it.rotated_at);
        lat.push_back(std::max(0.0, seconds(it.rotated_at - it.patched)));
      }
      if (it.handled) last_handled = std::max(last_handled, it.handled_at);
    }
    first_patch = storm_patch_start_;  // the first patch was sent then
    int patched = n - patch_failures_;
    s["teams_reset"] = layout_.teams;
    s["annotated"] = patched;
    s["patch_failures"] = patch_failures_;
    s["annotate_seconds"] = patched > 0 ? seconds(last_patch - first_patch) : 0;
    s["secrets_rotated"] = rotated_count_;
    bool all = rotated_count_ >= patched && patched > 0;
    s["all_rotated"] = all;
    if (all) {
      s["all_secrets_rotated_after_storm_start_seconds"] = seconds(last_rotated - first_patch);
      s["all_secrets_rotated_after_last_patch_seconds"] =
          std::max(0.0, seconds(last_rotated - last_patch));
    }
    s["rotation_latency_seconds"] = dist_json(distribution(lat));
    s["statuses_handled"] = handled_count_;
    if (handled_count_ >= patched && patched > 0)
      s["all_statuses_handled_after_storm_start_seconds"] = seconds(last_handled - first_patch);
    s["reset_outcomes"] = reset_outcomes_;
    s["api_requests_by_method"] = api_requests(storm_);
    s["reconciles_by_result"] = reconciles(storm_);
    s["apiserver_requests"] = apiserver_requests(storm_);
    add_fake_counts(storm_, s);
    s["process"] = process_json(storm_);
    r["storm"] = s;
  }

  // --- operator totals ---
  {
    const Snapshot& last = storm_ran_  ? storm_.end
                           : idle_ran_ ? idle_.end
                           : quiet_ran_ ? quiet_.end
                                        : burst_.end;
    json op;
    op["peak_rss_kib"] = std::max(last.op.hwm_kib, max_rss_sampled_kib_);
    op["steady_rss_kib"] = idle_ran_ ? json(steady_rss_kib_) : json(nullptr);
    op["cpu_seconds_total"] = last.op.cpu_seconds;
    op["start_rss_kib"] = burst_.begin.op.rss_kib;
    op["start_rss_anon_kib"] = burst_.begin.op.rss_anon_kib;
    op["start_rss_file_kib"] = burst_.begin.op.rss_file_kib;
    op["end_rss_anon_kib"] = last.op.rss_anon_kib;
    op["end_rss_file_kib"] = last.op.rss_file_kib;
    json maps = json::array();
    for (std::size_t k = 0; k < rss_by_mapping_.size() && k < 12; ++k)
      maps.push_back({{"mapping", rss_by_mapping_[k].first}, {"rss_kib", rss_by_mapping_[k].second}});
    op["end_rss_by_mapping"] = maps;
    op["cpu_seconds_during_bench"] = last.op.cpu_seconds - burst_.begin.op.cpu_seconds;
    if (last.metrics) {
      auto rss = sum_of(*last.metrics, "process_resident_memory_bytes");
      auto cpu = sum_of(*last.metrics, "process_cpu_seconds_total");
      op["metrics_process_resident_memory_bytes"] = rss ? json(*rss) : json(nullptr);
      op["metrics_process_cpu_seconds_total"] = cpu ? json(*cpu) : json(nullptr);
    }
    r["operator"] = op;
  }

  // --- targets ---
  {
    json t = json::array();
    // unit: how print() shows the value ("seconds", "kib", "count", "ratio").
    auto add = [&](const std::string& name, const std::string& goal, const json& value,
                   std::optional<bool> met, const std::string& unit) {
      t.push_back({{"target", name}, {"goal", goal}, {"value", value}, {"unit", unit},
                   {"met", met ? json(*met) : json(nullptr)}});
    };
    // A count that must be at most (or exactly) a bound; n/a when unmeasured.
    auto count_target = [&](const std::string& name, const std::string& goal, const json& value,
                            const std::function<bool(std::int64_t)>& ok) {
      if (value.is_number())
        add(name, goal, value, ok(value.get<std::int64_t>()), "count");
      else
        add(name, goal, nullptr, std::nullopt, "count");
    };
    const json& b = r["burst"];
    bool small = n <= 1000;
    std::int64_t peak = r["operator"]["peak_rss_kib"].get<std::int64_t>();
    // Burst: all Ready after the last create; for N <= 1,000 also p99 time to
    // Ready. A run in which not all became Ready misses it.
    {
      double limit = small ? 5 : 60;
      std::string goal = small ? "<= 5 s" : "<= 60 s";
      if (b.contains("all_ready_after_last_create_seconds")) {
        double v = b["all_ready_after_last_create_seconds"].get<double>();
        add("all Ready after the last create", goal, v, v <= limit, "seconds");
      } else {
        add("all Ready after the last create", goal, nullptr, false, "seconds");
      }
    }
    if (small && b["time_to_ready_seconds"].is_object()) {
      double v = b["time_to_ready_seconds"]["p99"].get<double>();
      add("time to Ready p99", "<= 3 s", v, v <= 3, "seconds");
    }
    if (small)
      add("operator peak RSS", "<= 20 MiB", peak, peak <= 20 * 1024, "kib");
    else
      add("operator peak RSS", "<= 48 MiB", peak, peak <= 48 * 1024, "kib");
    const std::int64_t keys_used = layout_.keys_used(), pairs = layout_.team_key_pairs();
    count_target("IAM requests in the burst", "= API keys used (" + std::to_string(keys_used) + ")",
                 b["iam_requests"], [&](std::int64_t v) { return v == keys_used; });
    count_target("Monitoring token requests in the burst",
                 "<= (team, API key) pairs (" + std::to_string(pairs) + ")",
                 b["monitoring_token_requests"], [&](std::int64_t v) { return v <= pairs; });
    if (r.contains("quiet")) {
      const json& q = r["quiet"];
      char window[32];
      std::snprintf(window, sizeof window, "%g s", o_.quiet_seconds);
      std::string over = std::string("quiet ") + window + ": ";
      count_target(over + "operator API writes", "= 0", q["api_writes"],
                   [](std::int64_t v) { return v == 0; });
      count_target(over + "IBM requests", "= 0", q["ibm_requests"],
                   [](std::int64_t v) { return v == 0; });
    }
    if (r.contains("idle")) {
      const json& i = r["idle"];
      // A refresh that finds the same token writes nothing.
      std::int64_t observed =
          i["sysdigtoken_writes_observed"].get<std::int64_t>() + i["secret_writes_observed"].get<std::int64_t>();
      add("idle writes seen by the watches", "= 0", observed, observed == 0, "count");
      if (!i["api_reads"].is_null()) {
        // One API key Secret read per resource and refresh is what a refresh
        // needs (API key Secrets are not watched); the window spans one
        // interval plus its jitter.
        double per = i["api_reads"].get<double>() / std::max(1, n);
        add("idle API reads per resource and refresh interval", "<= 1 (the API key Secret)", per,
            per <= 1.0, "ratio");
      } else {
        add("idle API reads per resource and refresh interval", "<= 1 (the API key Secret)", nullptr,
            std::nullopt, "ratio");
      }
    }
    if (r.contains("storm")) {
      const json& s = r["storm"];
      if (small) {
        if (s.contains("all_secrets_rotated_after_storm_start_seconds")) {
          double v = s["all_secrets_rotated_after_storm_start_seconds"].get<double>();
          add("storm: every Secret rotated after the first patch", "<= 10 s", v, v <= 10, "seconds");
        } else {
          add("storm: every Secret rotated after the first patch", "<= 10 s", nullptr, false,
              "seconds");
        }
      }
      // Each pair fetched about once after the storm began.
      count_target("storm: Monitoring token requests",
                   "<= (team, API key) pairs (" + std::to_string(pairs) + ")",
                   s["monitoring_token_requests"], [&](std::int64_t v) { return v <= pairs; });
    }
    r["targets"] = t;
  }
  r["problems"] = problems_;
  if (!first_error_.empty()) r["first_error"] = first_error_;
  json tl = json::array();
  for (const auto& s : timeline_) tl.push_back({std::round(s[0] * 10) / 10, s[1], s[2]});
  r["operator_timeline"] = {{"columns", {"seconds", "rss_kib", "cpu_seconds"}}, {"samples", tl}};
  return r;
}

std::string num(const json& v, int decimals = 0) {
  if (v.is_null()) return "n/a";
  char buf[64];
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v.get<double>());
  return buf;
}

std::string secs(const json& v) { return v.is_null() ? "n/a" : format_seconds(v.get<double>()); }
std::string mib(const json& v) { return v.is_null() ? "n/a" : format_mib(v.get<std::int64_t>()); }

std::string by_key(const json& v, int decimals = 0) {
  if (v.is_null()) return "n/a (operator /metrics unavailable)";
  if (v.empty()) return "none";
  std::string out;
  for (const auto& [k, x] : v.items()) {
    if (!out.empty()) out += "  ";
    out += k + " " + num(x, decimals);
  }
  return out;
}

std::string machine_line(const json& m) {
  return num(m["busy_percent"]) + " % of all cores, " + secs(m["unrelated_cpu_seconds"]) +
         " CPU unrelated to the benchmark (load " + m["loadavg_begin"].get<std::string>().substr(0, 14) + ")";
}

std::string apiserver_line(const json& a) {
  if (a.is_null()) return "n/a";
  if (a.empty()) return "none";
  std::string out;
  for (const auto& [k, v] : a.items()) {
    if (k.rfind("WATCH", 0) == 0 || k.rfind("LIST", 0) == 0) continue;
    if (!out.empty()) out += ", ";
    out += k + " " + num(v["requests"]);
    if (v.contains("mean_latency_ms")) out += " (" + num(v["mean_latency_ms"]) + " ms)";
  }
  return out;
}

std::string operator_line(const json& p) {
  return "CPU " + secs(p["operator_cpu_seconds"]) + ", mean reconcile " +
         secs(p["operator_mean_reconcile_seconds"]) + ", max queue depth " +
         num(p["operator_max_workqueue_depth"]);
}

std::string dist_line(const json& d) {
  if (d.is_null()) return "n/a";
  return "p50 " + secs(d["p50"]) + "   p95 " + secs(d["p95"]) + "   p99 " + secs(d["p99"]) +
         "   max " + secs(d["max"]);
}

void Bench::print(const json& r) const {
  auto row = [](const std::string& k, const std::string& v) {
    std::printf("  %-44s %s\n", k.c_str(), v.c_str());
  };
  const json& p = r["parameters"];
  const json& e = r["environment"];
  std::printf("\nsysdig-token-operator benchmark\n");
  row("SysdigTokens / namespaces / teams / API keys",
      num(p["n"]) + " / " + num(p["namespaces"]) + " / " + num(p["teams"]) + " / " +
          num(p["api_keys"]) + "   ((team, key) pairs " + num(p["team_key_pairs"]) + ")");
  row("IBM latency per request, refresh interval",
      num(p["latency_ms"]) + " ms, " + p["refresh_interval"].get<std::string>());
  std::string envs;
  for (const auto& [k, v] : e.items())
    if (k != "operator_metrics")
      envs += (envs.empty() ? "" : "; ") + k + " " + (v.is_string() ? v.get<std::string>() : v.dump());
  row("environment", envs);

  const json& b = r["burst"];
  std::printf("\nCreate burst\n");
  row("created (failed), in", num(b["created"]) + " (" + num(b["create_failures"]) + "), " +
                                  secs(b["create_seconds"]) + " = " + num(b["creates_per_second"]) +
                                  "/s, " + num(p["concurrency"]) + " in flight");
  row("Ready", num(b["ready"]) + " of " + num(p["n"]));
  row("time from create to Ready", dist_line(b["time_to_ready_seconds"]));
  row("all Ready, after the first create", secs(b.value("all_ready_after_first_create_seconds", json())));
  row("all Ready, after the last create", secs(b.value("all_ready_after_last_create_seconds", json())));
  row("API requests by method", by_key(b["api_requests_by_method"]));
  row("API server: requests (mean latency)", apiserver_line(b["apiserver_requests"]));
  row("reconciles by result", by_key(b["reconciles_by_result"]));
  row("operator", operator_line(b["process"]));
  row("IAM requests (fake)", num(b["iam_requests"]) + "   (API keys used: " + num(p["api_keys_used"]) + ")");
  row("Monitoring requests (fake): token / all", num(b["monitoring_token_requests"]) + " / " +
                                                     num(b["monitoring_requests"]) + "   ((team, key) pairs: " +
                                                     num(p["team_key_pairs"]) + ")");
  if (!b["not_ready_observations"].empty()) row("Ready!=True observations", by_key(b["not_ready_observations"]));
  row("operator CPU, peak RSS so far", secs(b["process"]["operator_cpu_seconds"]) + ", " +
                                           mib(b["operator_peak_rss_kib"]));
  row("other CPU (s)", by_key(b["process"]["others"], 2));
  row("machine busy, of which unrelated work", machine_line(b["process"]["machine"]));

  if (r.contains("quiet")) {
    const json& q = r["quiet"];
    std::printf("\nQuiet (nothing changing)\n");
    row("window", secs(q["window_seconds"]) + " (after " + secs(q["settle_seconds"]) + " settling)");
    row("API requests by method", by_key(q["api_requests_by_method"]));
    row("API writes / reads in the window", num(q["api_writes"]) + " / " + num(q["api_reads"]));
    row("writes seen by watches (SysdigToken / Secret)",
        num(q["sysdigtoken_writes_observed"]) + " / " + num(q["secret_writes_observed"]));
    row("API server: requests (mean latency)", apiserver_line(q["apiserver_requests"]));
    row("reconciles by result", by_key(q["reconciles_by_result"]));
    row("IBM requests (fake): IAM / Monitoring / all",
        num(q["iam_requests"]) + " / " + num(q["monitoring_requests"]) + " / " + num(q["ibm_requests"]));
    if (q.value("refresh_inside_window", false))
      row("note", "refreshes were due inside the window (see problems)");
    row("operator", operator_line(q["process"]));
    row("machine busy, of which unrelated work", machine_line(q["process"]["machine"]));
  }
  if (r.contains("idle")) {
    const json& i = r["idle"];
    std::printf("\nIdle (one refresh interval)\n");
    if (i.contains("starts_after_burst_seconds"))
      row("window", secs(i["window_seconds"]) + " (starting " + secs(i["starts_after_burst_seconds"]) +
                        " after the burst: settling" + (r.contains("quiet") ? " and the quiet phase)" : ")"));
    else
      row("window", secs(i["window_seconds"]) + " (after " + secs(i["settle_seconds"]) + " settling)");
    row("API requests per minute by method", by_key(i.value("api_requests_per_minute", json()), 1));
    row("API writes / reads in the window", num(i["api_writes"]) + " / " + num(i["api_reads"]));
    row("writes seen by watches (SysdigToken / Secret)",
        num(i["sysdigtoken_writes_observed"]) + " / " + num(i["secret_writes_observed"]));
    row("API server: requests (mean latency)", apiserver_line(i["apiserver_requests"]));
    row("reconciles by result", by_key(i["reconciles_by_result"]));
    row("IAM / Monitoring requests (fake)", num(i.value("iam_requests", json())) + " / " +
                                                num(i.value("monitoring_requests", json())) + "  (" +
                                                num(i.value("iam_per_minute", json()), 1) + " / " +
                                                num(i.value("monitoring_per_minute", json()), 1) +
                                                " per minute)");
    row("machine busy, of which unrelated work", machine_line(i["process"]["machine"]));
    row("operator CPU in the window, steady RSS", secs(i["process"]["operator_cpu_seconds"]) + ", " +
                                                      mib(i["operator_steady_rss_kib"]));
  }
  if (r.contains("storm")) {
    const json& s = r["storm"];
    std::printf("\nRotation storm (every team reset, all resources annotated)\n");
    row("annotated (failed), in", num(s["annotated"]) + " (" + num(s["patch_failures"]) + "), " +
                                      secs(s["annotate_seconds"]));
    row("every Secret has the new token, after start",
        secs(s.value("all_secrets_rotated_after_storm_start_seconds", json())) + "   (after the last patch: " +
            secs(s.value("all_secrets_rotated_after_last_patch_seconds", json())) + ")");
    row("per resource, patch to new Secret", dist_line(s["rotation_latency_seconds"]));
    row("statuses handled, reset outcomes", num(s["statuses_handled"]) + ", " + by_key(s["reset_outcomes"]));
    row("Monitoring requests (fake): token / all", num(s["monitoring_token_requests"]) + " / " +
                                                       num(s["monitoring_requests"]) + "   (IAM " +
                                                       num(s["iam_requests"]) + ")");
    row("API requests by method", by_key(s["api_requests_by_method"]));
    row("API server: requests (mean latency)", apiserver_line(s["apiserver_requests"]));
    row("operator", operator_line(s["process"]));
    row("operator CPU, peak RSS so far", secs(s["process"]["operator_cpu_seconds"]) + ", " +
                                             mib(s["process"]["operator_peak_rss_kib_so_far"]));
    row("machine busy, of which unrelated work", machine_line(s["process"]["machine"]));
  }
  const json& op = r["operator"];
  std::printf("\nOperator\n");
  row("peak RSS (VmHWM)", mib(op["peak_rss_kib"]));
  row("RSS at start (before the first create)", mib(op["start_rss_kib"]) + " (heap and stacks " +
                                                    mib(op["start_rss_anon_kib"]) + ", binary and libraries " +
                                                    mib(op["start_rss_file_kib"]) + ")");
  row("RSS at the end: heap and stacks, files", mib(op["end_rss_anon_kib"]) + ", " + mib(op["end_rss_file_kib"]));
  {
    std::string top;
    int shown = 0;
    for (const auto& m : op["end_rss_by_mapping"]) {
      if (shown++ == 6) break;
      std::string name = m["mapping"].get<std::string>();
      if (auto slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);
      top += (top.empty() ? "" : ", ") + name + " " + mib(m["rss_kib"]);
    }
    row("largest mappings at the end", top.empty() ? "n/a" : top);
  }
  row("steady RSS (VmRSS after the idle window)", mib(op["steady_rss_kib"]));
  row("CPU seconds during the benchmark (total)", secs(op["cpu_seconds_during_bench"]) + " (" +
                                                      secs(op["cpu_seconds_total"]) + ")");
  std::printf("\nTargets\n");
  for (const auto& t : r["targets"]) {
    const json& v = t["value"];
    const std::string unit = t.value("unit", std::string());
    std::string value = v.is_null()              ? "n/a"
                        : unit == "seconds"      ? secs(v)
                        : unit == "kib"          ? mib(v)
                        : v.is_number_float()    ? num(v, 2)
                                                 : num(v);
    std::string met = t["met"].is_null() ? "n/a" : t["met"].get<bool>() ? "met" : "MISSED";
    std::printf("  %-52s %-36s %-12s %s\n", t["target"].get<std::string>().c_str(),
                t["goal"].get<std::string>().c_str(), value.c_str(), met.c_str());
  }
  for (const auto& pr : r["problems"]) std::printf("  problem: %s\n", pr.get<std::string>().c_str());
  std::printf("\n");
  std::fflush(stdout);
}

// ------------------------------------------------------------------------------- main --

int main_impl(int argc, char** argv) {
  CLI::App app{"bench_driver: the measuring half of scripts/bench"};
  app.require_subcommand(1);
  Options o;
  auto* cfg = app.add_subcommand("fake-config", "Print fake-ibm-cloud's seed (YAML) for the layout");
  cfg->add_option("--teams", o.layout.teams)->check(CLI::PositiveNumber);
  cfg->add_option("--api-keys", o.layout.api_keys)->check(CLI::PositiveNumber);

  auto* run = app.add_subcommand("run", "Run the benchmark against running processes");
  run->add_option("--kubeconfig", o.kubeconfig)->required();
  run->add_option("--fake-url", o.fake_url)->required();
  run->add_option("--fake-ca", o.fake_ca)->required()->check(CLI::ExistingFile);
  run->add_option("--metrics-url", o.metrics_url, "the operator's /metrics URL");
  run->add_option("--operator-pid", o.operator_pid)->required();
  run->add_option("--peer", o.peers, "NAME=PID of another process whose CPU is reported");
  run->add_option("--info", o.info, "KEY=VALUE for the environment section");
  run->add_option("--n", o.layout.n)->required()->check(CLI::PositiveNumber);
  run->add_option("--namespaces", o.layout.namespaces)->check(CLI::PositiveNumber);
  run->add_option("--teams", o.layout.teams)->check(CLI::PositiveNumber);
  run->add_option("--api-keys", o.layout.api_keys)->check(CLI::PositiveNumber);
  run->add_option("--latency-ms", o.latency_ms)->check(CLI::NonNegativeNumber);
  run->add_option("--refresh-interval", o.refresh_interval);
  run->add_option("--idle-window", o.idle_window, "default: the refresh interval plus 10 %");
  run->add_option("--concurrency", o.concurrency)->check(CLI::PositiveNumber);
  run->add_option("--settle", o.settle_seconds,
                  "seconds between all Ready and the quiet phase (or the idle window)");
  run->add_option("--quiet-window", o.quiet_seconds,
                  "seconds of the quiet phase after settling, in which nothing changes (0: none)")
      ->check(CLI::NonNegativeNumber);
  run->add_option("--ready-timeout", o.ready_timeout,
                  "seconds; default 120 + 0.05 per resource (0.1 for the storm)");
  run->add_flag("--skip-idle", o.skip_idle);
  run->add_flag("--skip-storm", o.skip_storm);
  run->add_option("--json", o.json_path);

  std::string compare_a, compare_b, label_a, label_b;
  auto* cmp = app.add_subcommand("compare", "Print two runs' JSON documents side by side");
  cmp->add_option("A", compare_a, "the first run's JSON (the base)")->required()->check(CLI::ExistingFile);
  cmp->add_option("B", compare_b, "the second run's JSON")->required()->check(CLI::ExistingFile);
  cmp->add_option("--label-a", label_a, "name of the first run (default: its file)");
  cmp->add_option("--label-b", label_b, "name of the second run (default: its file)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (cfg->parsed()) {
    std::cout << fake_config_yaml(o.layout);
    return 0;
  }
  if (cmp->parsed()) {
    std::string error;
    auto rows = compare_reports(read_file(compare_a), read_file(compare_b), &error);
    if (!rows) {
      std::cerr << "bench_driver compare: " << error << " (" << compare_a << ", " << compare_b << ")\n";
      return 2;
    }
    std::cout << format_compare(*rows, label_a.empty() ? compare_a : label_a,
                                label_b.empty() ? compare_b : label_b);
    return 0;
  }
  if (!controller::parse_go_duration(o.refresh_interval)) {
    std::cerr << "bench_driver: --refresh-interval: not a duration: " << o.refresh_interval << "\n";
    return 2;
  }
  if (!o.idle_window.empty() && !controller::parse_go_duration(o.idle_window)) {
    std::cerr << "bench_driver: --idle-window: not a duration: " << o.idle_window << "\n";
    return 2;
  }
  asio::io_context ioc(1);
  Bench bench(ioc, std::move(o));
  int rc = 1;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { rc = co_await bench.run(); },
      [&](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            std::cerr << "bench_driver: " << ex.what() << "\n";
          }
          rc = 1;
        }
        ioc.stop();
      });
  ioc.run();
  // Let the work cancelled at the end (watches, timers) finish while the
  // objects it belongs to still exist.
  ioc.restart();
  ioc.run_for(std::chrono::seconds(2));
  return rc;
}

}  // namespace
}  // namespace sto::bench

int main(int argc, char** argv) { return sto::bench::main_impl(argc, argv); }
