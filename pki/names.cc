#include "pki/names.h"

#include "pki/credentials.h"
#include "pki/error.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <sstream>

namespace fedgan::pki::detail {
namespace {

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

void validate_common_name(const std::string& cn) {
  check(!cn.empty(), "the common name (CN) is empty: give the site or host name");
  check(cn.size() <= kMaxCommonNameBytes, "the common name \"{}...\" is {} bytes long; at most {}",
        cn.substr(0, 16), cn.size(), kMaxCommonNameBytes);
  for (size_t i = 0; i < cn.size(); ++i) {
    const auto c = static_cast<unsigned char>(cn[i]);
    check(c >= 0x20 && c != 0x7f,
          "the common name contains a control character (byte 0x{:02x} at "
          "offset {}); use printable text",
          c, i);
  }
  check(cn.front() != ' ' && cn.back() != ' ',
        "the common name \"{}\" has leading or trailing spaces, which would make look-alike "
        "identities",
        cn);
}

void validate_dns_name(const std::string& name) {
  check(!name.empty() && name.size() <= 253, "DNS name \"{}\" must be 1 to 253 characters", name);
  const size_t start = name.rfind("*.", 0) == 0 ? 2 : 0;  // one leading wildcard label
  std::istringstream labels(name.substr(start));
  std::string label;
  size_t count = 0;
  while (std::getline(labels, label, '.')) {
    ++count;
    check(!label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
              std::all_of(label.begin(), label.end(), is_label_char),
          "\"{}\" is not a valid DNS name: use letters, digits, '-' and dots (an IP address "
          "belongs in the IP addresses)",
          name);
  }
  check(count > 0 && name.back() != '.', "\"{}\" is not a valid DNS name (trailing dot)", name);
}

std::string parse_ip_address(const std::string& text) {
  unsigned char bytes[16];
  const bool clean = text.find('\0') == std::string::npos;
  if (clean && inet_pton(AF_INET, text.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 4);
  }
  if (clean && inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 16);
  }
  throw PkiError(fmt::format(
      "\"{}\" is not an IPv4 or IPv6 address (like 10.0.0.5 or ::1); host names belong in the "
      "DNS names",
      text));
}

std::string format_ip_address(const ASN1_OCTET_STRING* bytes) {
  const int length = ASN1_STRING_length(bytes);
  char text[INET6_ADDRSTRLEN] = {};
  const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : -1;
  if (family < 0 || inet_ntop(family, ASN1_STRING_get0_data(bytes), text, sizeof text) == nullptr) {
    return fmt::format("<{}-byte address>", length);
  }
  return text;
}
}  // namespace fedgan::pki::detail
