#include "pki/identity.h"

#include "pki/openssl_util.h"
#include "text/printable.h"

namespace fedgan::pki {
namespace {

using namespace detail;

enum class Problem { kNone, kCommonNameCount, kEmpty, kTooLong, kNotPrintable, kOuterSpace };

// Why `name` is not a valid identity (is_valid_identity), without formatting anything.
Problem identity_problem(std::string_view name) {
  if (name.empty()) return Problem::kEmpty;
  if (name.size() > kMaxIdentityBytes) return Problem::kTooLong;
  // printable() escapes NUL and every other control character, so a name that "site-1\0.evil"
  // could be confused with is refused here too.
  if (text::printable(name, kMaxIdentityBytes) != name) return Problem::kNotPrintable;
  if (name.front() == ' ' || name.back() == ' ') return Problem::kOuterSpace;
  return Problem::kNone;
}

struct Verdict {
  std::string name;  // the single CN, as UTF-8, when there is one
  int common_names = 0;
  Problem problem = Problem::kNone;
};

// Judges `certificate` without throwing or formatting anything: it runs in the verify callback.
Verdict judge(const X509* certificate) {
  Verdict verdict;
  const X509_NAME* subject = X509_get_subject_name(certificate);
  int index = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    ++verdict.common_names;
    index = i;
  }
  if (verdict.common_names != 1) {
    verdict.problem = Problem::kCommonNameCount;
    return verdict;
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int length = ASN1_STRING_to_UTF8(&utf8, data);
  if (length > 0)
    verdict.name.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
  OPENSSL_free(utf8);
  verdict.problem = identity_problem(verdict.name);
  return verdict;
}

}  // namespace

bool is_valid_identity(std::string_view name) {
  return identity_problem(name) == Problem::kNone;
}

std::string certificate_identity(const X509* certificate) {
  if (certificate == nullptr) return {};
  Verdict verdict = judge(certificate);
  return verdict.problem == Problem::kNone ? std::move(verdict.name) : std::string();
}

std::string certificate_identity(const std::string& certificate_pem) {
  const ErrorQueueScope scope;
  const X509Ptr cert = parse_certificate(certificate_pem);
  Verdict verdict = judge(cert.get());
  const auto subject = [&] { return name_text(X509_get_subject_name(cert.get())); };
  switch (verdict.problem) {
    case Problem::kNone:
      return std::move(verdict.name);
    case Problem::kCommonNameCount:
      throw PkiError(fmt::format(
          "the certificate subject \"{}\" has {} common names (CN); exactly one is needed to "
          "name a site",
          subject(), verdict.common_names));
    case Problem::kEmpty:
      throw PkiError(
          fmt::format("the certificate subject \"{}\" has an empty common name (CN)", subject()));
    case Problem::kTooLong:
      throw PkiError(
          fmt::format("the common name (CN) of \"{}\" is {} bytes long; an identity is "
                      "at most {}",
                      text::printable(verdict.name, 80), verdict.name.size(), kMaxIdentityBytes));
    case Problem::kNotPrintable:
      throw PkiError(fmt::format(
          "the common name \"{}\" holds characters that logs would show escaped; a peer with it "
          "is refused in the TLS handshake",
          text::printable(verdict.name, 4 * kMaxIdentityBytes)));
    case Problem::kOuterSpace:
      throw PkiError(fmt::format(
          "the common name \"{}\" has leading or trailing spaces, which would make look-alike "
          "identities; a peer with it is refused in the TLS handshake",
          verdict.name));
  }
  return {};
}

}  // namespace fedgan::pki
