#include "tls_identity.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <boost/asio/ip/address.hpp>

namespace sto::fake {
namespace {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using ExtensionPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;

// Thrown inside this file only; carries OpenSSL's error queue.
struct TlsError {
  std::string message;
};

[[noreturn]] void fail_openssl(const std::string& what) {
  std::string detail;
  while (unsigned long code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    detail += detail.empty() ? "" : "; ";
    detail += buffer;
  }
  throw TlsError{what + (detail.empty() ? "" : ": " + detail)};
}

void check(int ok, const std::string& what) {
  if (ok != 1) fail_openssl(what);
}

KeyPtr generate_key() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail_openssl("generating an EC P-256 key");
  return key;
}

void set_serial(X509* cert) {
  std::unique_ptr<BIGNUM, Deleter<BN_free>> serial(BN_new());
  if (!serial) fail_openssl("allocating a serial number");
  check(BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), "random serial number");
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    fail_openssl("setting the serial number");
  }
}

NamePtr common_name(const std::string& cn) {
  NamePtr name(X509_NAME_new());
  if (!name) fail_openssl("allocating a name");
  check(X509_NAME_add_entry_by_txt(name.get(), "O", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>("fake-ibm-cloud"), -1, -1,
                                   0),
        "setting O");
  check(X509_NAME_add_entry_by_txt(name.get(), "CN", MBSTRING_ASC,
                                   reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0),
        "setting CN");
  return name;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext) fail_openssl("making extension " + std::string(OBJ_nid2sn(nid)) + "=" + value);
  check(X509_add_ext(cert, ext.get(), -1), "adding extension");
}

// A certificate for `subject_key`, valid from an hour ago for `days`.
CertPtr new_certificate(const std::string& cn, EVP_PKEY* subject_key, long days) {
  CertPtr cert(X509_new());
  if (!cert) fail_openssl("allocating a certificate");
  check(X509_set_version(cert.get(), X509_VERSION_3), "setting the version");
  set_serial(cert.get());
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600) == nullptr) {
    fail_openssl("setting the validity");
  }
  check(X509_set_subject_name(cert.get(), common_name(cn).get()), "setting the subject");
  check(X509_set_pubkey(cert.get(), subject_key), "setting the public key");
  return cert;
}

std::string pem_of(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) fail_openssl("writing a certificate");
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail_openssl("writing a private key");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bool is_ip_address(const std::string& name) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(name, ec);
  return !ec;
}

}  // namespace

bool is_valid_subject_alt_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  if (is_ip_address(name)) return true;
  std::string_view rest = name;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.front() == '.' || rest.back() == '.') return false;
  return std::all_of(rest.begin(), rest.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '-' || c == '.'; });
}

Result<TlsIdentity, std::string> generate_tls_identity(
    const std::vector<std::string>& extra_names) {
  std::string sans = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& name : extra_names) {
    if (!is_valid_subject_alt_name(name)) {
      return fail("not a DNS name or IP address: \"" + name + "\"");
    }
    sans += (is_ip_address(name) ? ",IP:" : ",DNS:") + name;
  }

  try {
    KeyPtr ca_key = generate_key();
    CertPtr ca = new_certificate("fake-ibm-cloud CA", ca_key.get(), 3650);
    check(X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())), "setting the issuer");
    add_extension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_extension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_extension(ca.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    if (X509_sign(ca.get(), ca_key.get(), EVP_sha256()) <= 0) fail_openssl("signing the CA");

    KeyPtr server_key = generate_key();
    CertPtr server = new_certificate("localhost", server_key.get(), 365);
    check(X509_set_issuer_name(server.get(), X509_get_subject_name(ca.get())),
          "setting the issuer");
    add_extension(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
    add_extension(server.get(), ca.get(), NID_subject_alt_name, sans);
    add_extension(server.get(), ca.get(), NID_subject_key_identifier, "hash");
    add_extension(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
    if (X509_sign(server.get(), ca_key.get(), EVP_sha256()) <= 0) {
      fail_openssl("signing the server certificate");
    }

    return TlsIdentity{pem_of(ca.get()), pem_of(server.get()), pem_of(server_key.get())};
  } catch (const TlsError& e) {
    return fail(e.message);
  }
}

}  // namespace sto::fake
