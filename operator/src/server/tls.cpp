#include "server/tls.h"

#include <filesystem>
#include <system_error>

#include <sys/stat.h>

#include <boost/asio/ssl/context.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace sto::server {

namespace ssl = boost::asio::ssl;

namespace {

// The last OpenSSL error as text (and the queue cleared).
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  std::string out = "unknown OpenSSL error";
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    out = buf;
  }
  ERR_clear_error();
  return out;
}

std::shared_ptr<ssl::context> base_context() {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  return ctx;
}

std::string fingerprint_of(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) != 1) return {};
  static const char* hex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

}  // namespace

Result<ServerTls, std::string> server_tls_from_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string cert = (fs::path(dir) / "tls.crt").string();
  const std::string key = (fs::path(dir) / "tls.key").string();
  std::error_code ec;
  for (const auto& file : {cert, key}) {
    if (!fs::is_regular_file(file, ec))
      return fail("--metrics-cert-dir: " + file + " is missing or not a regular file");
  }
  auto ctx = base_context();
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx->native_handle(), cert.c_str()) != 1)
    return fail("--metrics-cert-dir: " + cert + " is not a PEM certificate (chain): " +
                openssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx->native_handle(), key.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("--metrics-cert-dir: " + key + " is not a PEM private key: " + openssl_error());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return fail("--metrics-cert-dir: the key in " + key + " does not match the certificate in " +
                cert);
  X509* leaf = SSL_CTX_get0_certificate(ctx->native_handle());
  return ServerTls{ctx, cert, leaf ? fingerprint_of(leaf) : std::string()};
}

std::string cert_dir_version(const std::string& dir) {
  std::string out;
  for (const char* name : {"tls.crt", "tls.key"}) {
    struct stat st{};
    const std::string path = (std::filesystem::path(dir) / name).string();
    if (::stat(path.c_str(), &st) != 0) return {};
    out += std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
           std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec) + ";";
  }
  return out;
}

CertDirWatch::CertDirWatch(std::string dir, std::string loaded_from)
    : dir_(std::move(dir)), seen_(std::move(loaded_from)) {}

Result<std::optional<ServerTls>, std::string> CertDirWatch::poll() {
  std::string now = cert_dir_version(dir_);
  // Missing files (in the middle of an update) are looked at again later.
  if (now.empty() || now == seen_) return std::optional<ServerTls>();
  seen_ = now;
  auto tls = server_tls_from_dir(dir_);
  if (!tls) return fail(std::move(tls.error()));
  return std::optional<ServerTls>(std::move(tls.value()));
}

Result<ServerTls, std::string> self_signed_server_tls() {
  ERR_clear_error();
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_EC_gen("P-256"));
  if (!pkey) return fail("generating an ECDSA P-256 key: " + openssl_error());
  std::unique_ptr<X509, X509Free> cert(X509_new());
  if (!cert) return fail("creating a certificate: " + openssl_error());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    return fail("random serial number: " + openssl_error());
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()))) {
    BN_free(bn);
    return fail("setting the serial number: " + openssl_error());
  }
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -60 * 60);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 60 * 60);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sysdig-token-operator"), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), pkey.get());
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
  };
  for (const auto& [nid, value] : extensions) {
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(
        X509V3_EXT_conf_nid(nullptr, &v3, nid, value));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1)
      return fail("adding a certificate extension: " + openssl_error());
  }
  if (X509_sign(cert.get(), pkey.get(), EVP_sha256()) == 0)
    return fail("signing the certificate: " + openssl_error());

  auto ctx = base_context();
  if (SSL_CTX_use_certificate(ctx->native_handle(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx->native_handle(), pkey.get()) != 1)
    return fail("loading the self-signed certificate: " + openssl_error());
  return ServerTls{ctx, "self-signed", fingerprint_of(cert.get())};
}

}  // namespace sto::server
