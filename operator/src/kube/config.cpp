#include "kube/config.h"

#include "common/encoding.h"
#include "common/files.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

namespace sto::kube {
namespace {

namespace fs = std::filesystem;

// --- small helpers -------------------------------------------------------

std::string trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1));
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

// --- PEM checks (the error says what is wrong; the caller names the field) ---

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;

BioPtr memory_bio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  ERR_clear_error();
  return reason ? reason : "unknown error";
}

// Never prompt for a pass phrase: encrypted keys are refused.
int no_password(char*, int, int, void*) { return 0; }

// One or more PEM certificates; returns the first.
Result<X509Ptr, std::string> parse_certificates(const std::string& pem) {
  ERR_clear_error();
  auto bio = memory_bio(pem);
  X509Ptr first;
  int count = 0;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr));
    if (!cert) break;
    if (!first) first = std::move(cert);
    ++count;
  }
  unsigned long e = ERR_peek_last_error();
  bool clean_end =
      e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE);
  if (count == 0 && clean_end) {
    ERR_clear_error();
    return fail(std::string("no PEM certificate found"));
  }
  if (!clean_end) return fail("invalid PEM certificate: " + openssl_reason());
  ERR_clear_error();
  return first;
}

Result<KeyPtr, std::string> parse_private_key(const std::string& pem) {
  if (pem.find("PRIVATE KEY-----") == std::string::npos) {
    return fail(std::string("no PEM private key found"));
  }
  if (pem.find("ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    return fail(std::string("encrypted private keys are not supported"));
  }
  ERR_clear_error();
  auto bio = memory_bio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    unsigned long e = ERR_peek_last_error();
    if (e == 0 || (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
      ERR_clear_error();
      return fail(std::string("no PEM private key found"));
    }
    return fail("invalid PEM private key: " + openssl_reason());
  }
  ERR_clear_error();
  return key;
}

bool valid_namespace(std::string_view ns) {
  if (ns.empty() || ns.size() > 63 || ns.front() == '-' || ns.back() == '-') return false;
  return std::all_of(ns.begin(), ns.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// --- the kubeconfig model ----------------------------------------------------

// A named cluster, context or user: its body and where it was defined.
struct Entry {
  YAML::Node body;    // a mapping, or undefined/null when the entry has none
  std::string file;   // the file as named by the caller
  std::string dir;    // absolute directory of the file, for relative paths
  std::string field;  // e.g. "clusters[1].cluster"
  std::string name;   // the cluster, context or user name; empty for nested entries
};

// One or more files merged; the first definition of each name wins.
struct Kubeconfig {
  std::vector<std::string> files;
  int non_empty_files = 0;
  std::string current_context;
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> contexts;
  std::map<std::string, Entry> users;
};

std::string error_in(const std::string& file, std::string_view message) {
  return "kubeconfig " + file + ": " + std::string(message);
}

std::string error_at(const Entry& e, std::string_view key, std::string_view message) {
  std::string field = e.field;
  if (!key.empty()) field += "." + std::string(key);
  return error_in(e.file, field + ": " + std::string(message));
}

// A field of an entry: absent when missing or null.
std::optional<YAML::Node> field_of(const Entry& e, const char* key) {
  const YAML::Node& body = e.body;
  if (!body || !body.IsMap()) return std::nullopt;
  YAML::Node value = body[key];
  if (!value || value.IsNull()) return std::nullopt;
  return value;
}

// An optional string field; empty when absent.
Result<std::string, std::string> string_field(const Entry& e, const char* key) {
  auto value = field_of(e, key);
  if (!value) return std::string();
  if (!value->IsScalar()) return fail(error_at(e, key, "is not a string"));
  return value->Scalar();
}

Result<bool, std::string> bool_field(const Entry& e, const char* key) {
  auto value = field_of(e, key);
  if (!value) return false;
  bool b = false;
  if (!value->IsScalar() || !YAML::convert<bool>::decode(*value, b)) {
    return fail(error_at(e, key, "is not a boolean"));
  }
  return b;
}

std::string resolve_path(const Entry& e, const std::string& path) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(e.dir) / p;
  return p.lexically_normal().string();
}

// PEM bytes from `<key>-data` (base64) or `<key>` (a file); empty when neither.
// The key name in errors is the one that was used.
Result<std::string, std::string> pem_field(const Entry& e, const std::string& key) {
  std::string data_key = key + "-data";
  auto data = string_field(e, data_key.c_str());
  if (!data) return fail(data.error());
  auto file = string_field(e, key.c_str());
  if (!file) return fail(file.error());
  if (!data->empty() && !file->empty()) {
    return fail(error_at(e, "", key + " and " + data_key + " are both set; keep one"));
  }
  if (!data->empty()) {
    auto decoded = base64_decode(*data);
    if (!decoded) return fail(error_at(e, data_key, "invalid base64"));
    if (decoded->empty()) return fail(error_at(e, data_key, "is empty"));
    return std::move(*decoded);
  }
  if (!file->empty()) {
    std::string path = resolve_path(e, *file);
    auto text = read_file(path);
    if (!text) return fail(error_at(e, key, "cannot read " + path + ": " + text.error()));
    return std::move(*text);
  }
  return std::string();
}

// Which of `<key>` / `<key>-data` is set, for error messages.
std::string pem_field_name(const Entry& e, const std::string& key) {
  return field_of(e, (key + "-data").c_str()) ? key + "-data" : key;
}

Result<Ok, std::string> parse_section(const YAML::Node& root, const char* section,
                                      const char* body_key, const std::string& file,
                                      const std::string& dir, std::map<std::string, Entry>& into) {
  const YAML::Node list = root[section];
  if (!list || list.IsNull()) return Ok{};
  if (!list.IsSequence()) return fail(error_in(file, std::string(section) + ": is not a list"));
  std::map<std::string, std::string> seen;  // name -> field, within this file
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string field = std::string(section) + "[" + std::to_string(i) + "]";
    const YAML::Node item = list[i];
    if (!item.IsMap()) return fail(error_in(file, field + ": is not a mapping"));
    const YAML::Node name = item["name"];
    if (!name || name.IsNull() || (name.IsScalar() && name.Scalar().empty())) {
      return fail(error_in(file, field + ".name: missing"));
    }
    if (!name.IsScalar()) return fail(error_in(file, field + ".name: is not a string"));
    const YAML::Node body = item[body_key];
    std::string body_field = field + "." + body_key;
    if (body && !body.IsNull() && !body.IsMap()) {
      return fail(error_in(file, body_field + ": is not a mapping"));
    }
    const std::string& key = name.Scalar();
    if (auto [it, added] = seen.emplace(key, field); !added) {
      return fail(error_in(
          file, field + ".name: duplicate name " + in_quotes(key) + " (also " + it->second + ")"));
    }
    into.emplace(key, Entry{body, file, dir, body_field, key});  // an earlier file wins
  }
  return Ok{};
}

// Adds one file to the merged config. An empty file adds nothing (kubectl
// allows empty files in a KUBECONFIG list); the caller reports it when all are.
Result<Ok, std::string> parse_file(const std::string& path, Kubeconfig& config) {
  auto text = read_file(path);
  if (!text) return fail(error_in(path, "cannot read: " + text.error()));
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return fail(error_in(path, "invalid YAML at line " + std::to_string(e.mark.line + 1) +
                                   ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg));
  }
  config.files.push_back(path);
  if (!root || root.IsNull()) return Ok{};
  if (!root.IsMap()) return fail(error_in(path, "the top level is not a mapping"));
  ++config.non_empty_files;
  std::error_code ec;
  std::string dir = fs::absolute(fs::path(path), ec).parent_path().string();
  const YAML::Node& doc = root;
  auto scalar = [&](const char* key) -> Result<std::string, std::string> {
    const YAML::Node value = doc[key];
    if (!value || value.IsNull()) return std::string();
    if (!value.IsScalar()) return fail(error_in(path, std::string(key) + ": is not a string"));
    return value.Scalar();
  };
  auto kind = scalar("kind");
  if (!kind) return fail(kind.error());
  if (!kind->empty() && *kind != "Config") {
    return fail(error_in(path, "kind: " + in_quotes(*kind) + " is not Config"));
  }
  auto current = scalar("current-context");
  if (!current) return fail(current.error());
  if (config.current_context.empty()) config.current_context = *current;
  for (auto [section, body] : {std::pair{"clusters", "cluster"}, std::pair{"contexts", "context"},
                               std::pair{"users", "user"}}) {
    auto& into = std::string_view(section) == "clusters"   ? config.clusters
                 : std::string_view(section) == "contexts" ? config.contexts
                                                           : config.users;
    auto parsed = parse_section(doc, section, body, path, dir, into);
    if (!parsed) return fail(parsed.error());
  }
  return Ok{};
}

// --- building a ClusterConfig from the chosen context -----------------------

Result<Ok, std::string> apply_cluster(const Entry& cluster, const KubeconfigPolicy& policy,
                                      ClusterConfig& out, ExecClusterInfo& exec_info) {
  auto server = string_field(cluster, "server");
  if (!server) return fail(server.error());
  if (server->empty()) return fail(error_at(cluster, "server", "missing"));
  std::string scheme = server->substr(0, server->find("://"));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (server->find("://") == std::string::npos || (scheme != "https" && scheme != "http")) {
    return fail(error_at(cluster, "server", in_quotes(*server) + " is not an https URL"));
  }
  if (scheme == "http" && !policy.allow_http) {
    return fail(error_at(cluster, "server",
                         "cluster " + in_quotes(cluster.name) + " uses plain HTTP (" +
                             in_quotes(*server) +
                             "): its credentials and the Secrets the operator reads and writes "
                             "would cross the network unencrypted; use an https:// server "
                             "(--insecure-kubeconfig allows http://)"));
  }
  auto url = net::Url::parse(*server);
  if (!url) return fail(error_at(cluster, "server", url.error()));
  out.server = std::move(*url);

  auto proxy_url = string_field(cluster, "proxy-url");
  if (!proxy_url) return fail(proxy_url.error());
  if (!proxy_url->empty()) {
    // Only HTTP proxies (CONNECT). The error never repeats the credentials.
    // Without a port, 80 (as client-go).
    if (proxy_url->find("://") == std::string::npos) {
      return fail(error_at(cluster, "proxy-url",
                           "cluster " + in_quotes(cluster.name) +
                               ": missing scheme; use http://host:port"));
    }
    auto proxy = net::parse_proxy_url(*proxy_url, "cluster " + in_quotes(cluster.name), 80);
    if (!proxy) return fail(error_at(cluster, "proxy-url", proxy.error()));
    out.proxy = std::move(proxy).value();
    out.proxy_source = error_in(cluster.file, cluster.field + ".proxy-url");
  }
  auto server_name = string_field(cluster, "tls-server-name");
  if (!server_name) return fail(server_name.error());
  auto insecure = bool_field(cluster, "insecure-skip-tls-verify");
  if (!insecure) return fail(insecure.error());
  auto ca = pem_field(cluster, "certificate-authority");
  if (!ca) return fail(ca.error());
  if (!ca->empty()) {
    if (auto certs = parse_certificates(*ca); !certs) {
      return fail(
          error_at(cluster, pem_field_name(cluster, "certificate-authority"), certs.error()));
    }
    if (*insecure) {
      return fail(error_at(cluster, "insecure-skip-tls-verify",
                           "cannot be combined with a certificate authority"));
    }
  }
  out.tls.verify_peer = !*insecure;
  out.tls.use_system_store = ca->empty();
  out.tls.ca_pem = *ca;
  out.tls.server_name = *server_name;

  exec_info.server = *server;
  exec_info.tls_server_name = *server_name;
  exec_info.insecure_skip_tls_verify = *insecure;
  exec_info.certificate_authority_pem = *ca;
  exec_info.proxy_url = *proxy_url;
  return Ok{};
}

Result<ExecConfig, std::string> parse_exec(const Entry& user, const YAML::Node& node,
                                           const ExecClusterInfo& cluster) {
  if (!node.IsMap()) return fail(error_at(user, "exec", "is not a mapping"));
  Entry exec{node, user.file, user.dir, user.field + ".exec"};
  ExecConfig config;
  auto api_version = string_field(exec, "apiVersion");
  if (!api_version) return fail(api_version.error());
  if (api_version->empty()) {
    return fail(error_at(exec, "apiVersion", std::string("missing; use ") + kExecApiV1));
  }
  if (*api_version != kExecApiV1 && *api_version != kExecApiV1Beta1) {
    return fail(error_at(exec, "apiVersion",
                         in_quotes(*api_version) + " is not supported; use " + kExecApiV1));
  }
  config.api_version = *api_version;
  auto command = string_field(exec, "command");
  if (!command) return fail(command.error());
  if (command->empty()) return fail(error_at(exec, "command", "missing"));
  config.command = *command;
  if (const auto args = field_of(exec, "args")) {
    if (!args->IsSequence()) return fail(error_at(exec, "args", "is not a list"));
    for (std::size_t i = 0; i < args->size(); ++i) {
      const YAML::Node arg = (*args)[i];
      if (!arg.IsScalar()) {
        return fail(error_at(exec, "args[" + std::to_string(i) + "]", "is not a string"));
      }
      config.args.push_back(arg.Scalar());
    }
  }
  if (const auto env = field_of(exec, "env")) {
    if (!env->IsSequence()) return fail(error_at(exec, "env", "is not a list"));
    for (std::size_t i = 0; i < env->size(); ++i) {
      Entry var{(*env)[i], exec.file, exec.dir, exec.field + ".env[" + std::to_string(i) + "]"};
      if (!var.body.IsMap()) return fail(error_at(var, "", "is not a mapping"));
      auto name = string_field(var, "name");
      if (!name) return fail(name.error());
      if (name->empty() || name->find('=') != std::string::npos) {
        return fail(error_at(var, "name", name->empty() ? "missing" : "must not contain '='"));
      }
      auto value = string_field(var, "value");
      if (!value) return fail(value.error());
      config.env.push_back({*name, *value});
    }
  }
  auto hint = string_field(exec, "installHint");
  if (!hint) return fail(hint.error());
  config.install_hint = *hint;
  auto provide = bool_field(exec, "provideClusterInfo");
  if (!provide) return fail(provide.error());
  config.provide_cluster_info = *provide;
  config.cluster = cluster;
  auto mode = string_field(exec, "interactiveMode");
  if (!mode) return fail(mode.error());
  if (*mode == "Always") {
    return fail(error_at(exec, "interactiveMode",
                         "\"Always\" needs a terminal, which the operator does not have; use "
                         "Never or IfAvailable"));
  }
  if (!mode->empty() && *mode != "Never" && *mode != "IfAvailable") {
    return fail(error_at(exec, "interactiveMode",
                         in_quotes(*mode) + " is not one of Never, IfAvailable, Always"));
  }
  return config;
}

Result<Ok, std::string> apply_user(const Entry& user, const ExecClusterInfo& cluster,
                                   ClusterConfig& out) {
  for (const char* key : {"auth-provider"}) {
    if (field_of(user, key)) {
      return fail(error_at(user, key, "auth providers are not supported; use an exec plugin"));
    }
  }
  for (const char* key : {"username", "password"}) {
    if (field_of(user, key)) {
      return fail(error_at(user, key, "basic authentication is not supported"));
    }
  }
  for (const char* key : {"as", "as-uid", "as-groups", "as-user-extra"}) {
    if (field_of(user, key)) return fail(error_at(user, key, "impersonation is not supported"));
  }

  // Client certificate.
  auto cert = pem_field(user, "client-certificate");
  if (!cert) return fail(cert.error());
  auto key = pem_field(user, "client-key");
  if (!key) return fail(key.error());
  if (!cert->empty() && key->empty()) {
    return fail(error_at(user, "client-key", "missing (client-certificate is set)"));
  }
  if (cert->empty() && !key->empty()) {
    return fail(error_at(user, "client-certificate", "missing (client-key is set)"));
  }
  if (!cert->empty()) {
    std::string cert_name = pem_field_name(user, "client-certificate");
    std::string key_name = pem_field_name(user, "client-key");
    auto x509 = parse_certificates(*cert);
    if (!x509) return fail(error_at(user, cert_name, x509.error()));
    auto pkey = parse_private_key(*key);
    if (!pkey) return fail(error_at(user, key_name, pkey.error()));
    if (X509_check_private_key(x509->get(), pkey->get()) != 1) {
      ERR_clear_error();
      return fail(error_at(user, key_name, "does not match " + cert_name));
    }
    out.tls.client_cert_pem = std::move(*cert);
    out.tls.client_key_pem = std::move(*key);
  }

  // Bearer credentials: token, else tokenFile, else exec (client-go's order).
  auto token = string_field(user, "token");
  if (!token) return fail(token.error());
  auto token_path = string_field(user, "tokenFile");
  if (!token_path) return fail(token_path.error());
  if (!token->empty()) {
    out.credentials = static_token(*token);
    if (auto check = out.credentials->authorization(); !check) {
      return fail(error_at(user, "token", check.error()));
    }
  } else if (!token_path->empty()) {
    out.credentials = token_file(resolve_path(user, *token_path));
    if (auto check = out.credentials->authorization(); !check) {
      return fail(error_at(user, "tokenFile", check.error()));
    }
  } else if (auto exec = field_of(user, "exec")) {
    auto config = parse_exec(user, *exec, cluster);
    if (!config) return fail(config.error());
    out.credentials = exec_plugin(std::move(*config), user.dir);
  }
  return Ok{};
}

Result<ClusterConfig, std::string> resolve(const Kubeconfig& config, const std::string& context,
                                           const KubeconfigPolicy& policy) {
  std::string files = join(config.files, ":");
  if (config.non_empty_files == 0) {
    return fail(
        error_in(files, config.files.size() == 1 ? "the file is empty" : "the files are empty"));
  }
  std::string name = context.empty() ? config.current_context : context;
  if (name.empty()) return fail(error_in(files, "current-context is not set"));
  auto ctx_it = config.contexts.find(name);
  if (ctx_it == config.contexts.end()) {
    return fail(error_in(files, (context.empty() ? "current-context: context " : "context ") +
                                    in_quotes(name) + " not found"));
  }
  const Entry& ctx = ctx_it->second;
  if (ctx.body && !ctx.body.IsNull() && !ctx.body.IsMap()) {
    return fail(error_at(ctx, "", "is not a mapping"));
  }
  if (!ctx.body || ctx.body.IsNull()) return fail(error_at(ctx, "", "missing"));

  auto cluster_name = string_field(ctx, "cluster");
  if (!cluster_name) return fail(cluster_name.error());
  if (cluster_name->empty()) return fail(error_at(ctx, "cluster", "missing"));
  auto cluster_it = config.clusters.find(*cluster_name);
  if (cluster_it == config.clusters.end()) {
    return fail(error_at(ctx, "cluster", "cluster " + in_quotes(*cluster_name) + " not found"));
  }
  auto ns = string_field(ctx, "namespace");
  if (!ns) return fail(ns.error());
  if (!ns->empty() && !valid_namespace(*ns)) {
    return fail(error_at(ctx, "namespace", in_quotes(*ns) + " is not a valid namespace name"));
  }

  ClusterConfig out;
  ExecClusterInfo exec_info;
  if (auto applied = apply_cluster(cluster_it->second, policy, out, exec_info); !applied) {
    return fail(applied.error());
  }
  // No user: an anonymous (or, with a CA only, server-verified) client.
  auto user_name = string_field(ctx, "user");
  if (!user_name) return fail(user_name.error());
  if (!user_name->empty()) {
    auto user_it = config.users.find(*user_name);
    if (user_it == config.users.end()) {
      return fail(error_at(ctx, "user", "user " + in_quotes(*user_name) + " not found"));
    }
    if (auto applied = apply_user(user_it->second, exec_info, out); !applied) {
      return fail(applied.error());
    }
  }
  if (!out.credentials) out.credentials = no_credentials();
  out.namespace_ = ns->empty() ? "default" : *ns;
  out.source = "kubeconfig " + files + " (context " + name + ")";
  return out;
}

std::string env_value(const LoadOptions& options, const char* name) {
  const char* value = options.getenv ? options.getenv(name) : nullptr;
  return value ? std::string(value) : std::string();
}

}  // namespace

Result<ClusterConfig, std::string> load_kubeconfig_files(const std::vector<std::string>& paths,
                                                         const std::string& context,
                                                         const KubeconfigPolicy& policy) {
  if (paths.empty()) return fail(std::string("kubeconfig: no file given"));
  Kubeconfig config;
  try {
    for (const auto& path : paths) {
      if (auto parsed = parse_file(path, config); !parsed) return fail(parsed.error());
    }
    return resolve(config, context, policy);
  } catch (const YAML::Exception& e) {
    // A shape the checks above did not foresee; still name the file(s).
    return fail(error_in(join(paths, ":"), e.what()));
  }
}

Result<ClusterConfig, std::string> load_kubeconfig_file(const std::string& path,
                                                        const std::string& context,
                                                        const KubeconfigPolicy& policy) {
  return load_kubeconfig_files({path}, context, policy);
}

Result<ClusterConfig, std::string> load_in_cluster(const LoadOptions& options) {
  std::string host = env_value(options, "KUBERNETES_SERVICE_HOST");
  std::string port = env_value(options, "KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return fail(
        std::string("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"));
  }
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  auto url = net::Url::parse("https://" + host + ":" + port);
  if (!url) return fail("in-cluster: KUBERNETES_SERVICE_HOST/PORT: " + url.error());

  ClusterConfig out;
  out.server = std::move(*url);
  fs::path dir(options.service_account_dir);
  std::string ca_path = (dir / "ca.crt").string();
  auto ca = read_file(ca_path);
  if (!ca) return fail("in-cluster: cannot read " + ca_path + ": " + ca.error());
  if (auto certs = parse_certificates(*ca); !certs) {
    return fail("in-cluster: " + ca_path + ": " + certs.error());
  }
  out.tls.ca_pem = std::move(*ca);
  out.tls.use_system_store = false;

  out.credentials = token_file((dir / "token").string());
  if (auto check = out.credentials->authorization(); !check) {
    return fail("in-cluster: " + check.error());
  }

  std::string ns = env_value(options, "POD_NAMESPACE");
  if (ns.empty()) {
    if (auto text = read_file((dir / "namespace").string())) ns = trim(*text);
  }
  out.namespace_ = ns.empty() ? "default" : ns;
  out.source = "in-cluster";
  return out;
}

namespace {

// client-go's http.ProxyFromEnvironment: without a proxy-url, an https
// server is reached through HTTPS_PROXY unless NO_PROXY names it or it is a
// loopback address.
Result<ClusterConfig, std::string> with_environment_proxy(Result<ClusterConfig, std::string> loaded,
                                                          const LoadOptions& options) {
  if (!loaded || loaded->proxy || !loaded->server.tls()) return loaded;
  const auto& env = options.proxy_environment;
  loaded->proxy =
      env.for_host(loaded->server.host, loaded->server.port, net::Loopback::Direct);
  if (loaded->proxy) loaded->proxy_source = env.https_variable;
  return loaded;
}

Result<ClusterConfig, std::string> load_default_direct(const LoadOptions& options);

}  // namespace

Result<ClusterConfig, std::string> load_default(const LoadOptions& options) {
  return with_environment_proxy(load_default_direct(options), options);
}

namespace {

Result<ClusterConfig, std::string> load_default_direct(const LoadOptions& options) {
  if (!options.kubeconfig_path.empty()) {
    return load_kubeconfig_file(options.kubeconfig_path, options.context, options.policy);
  }

  std::string kubeconfig_env = env_value(options, "KUBECONFIG");
  if (!kubeconfig_env.empty()) {
    // kubectl: missing files in the list are skipped, duplicates ignored.
    std::vector<std::string> listed, existing;
    std::string_view rest = kubeconfig_env;
    while (!rest.empty()) {
      auto colon = rest.find(':');
      std::string item(rest.substr(0, colon));
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
      if (item.empty() || std::find(listed.begin(), listed.end(), item) != listed.end()) continue;
      listed.push_back(item);
      std::error_code ec;
      if (fs::exists(item, ec)) existing.push_back(item);
    }
    if (existing.empty()) {
      return fail("KUBECONFIG=" + kubeconfig_env + ": none of the listed files exists");
    }
    return load_kubeconfig_files(existing, options.context, options.policy);
  }

  std::string in_cluster_reason;
  std::string host = env_value(options, "KUBERNETES_SERVICE_HOST");
  std::string token_path = (fs::path(options.service_account_dir) / "token").string();
  std::error_code ec;
  if (host.empty()) {
    in_cluster_reason = "KUBERNETES_SERVICE_HOST is not set";
  } else if (!fs::exists(token_path, ec)) {
    in_cluster_reason = "KUBERNETES_SERVICE_HOST is set but " + token_path + " does not exist";
  } else {
    return load_in_cluster(options);
  }

  std::string home = env_value(options, "HOME");
  std::string home_reason = "HOME is not set";
  if (!home.empty()) {
    std::string path = (fs::path(home) / ".kube" / "config").string();
    if (fs::exists(path, ec)) return load_kubeconfig_file(path, options.context, options.policy);
    home_reason = path + " does not exist";
  }
  return fail(
      "no Kubernetes configuration found: no kubeconfig given, KUBECONFIG is not set, "
      "not in a cluster (" +
      in_cluster_reason + "), and " + home_reason);
}

}  // namespace

}  // namespace sto::kube
