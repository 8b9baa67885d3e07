#include "text/printable.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace fedgan::text {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// The length of the well-formed UTF-8 sequence that starts at text[at] and its code point, or 0
// when the bytes there are not one (RFC 3629: no overlong forms, surrogates or values beyond
// U+10FFFF).
size_t decode_utf8(std::string_view text, size_t at, uint32_t& code_point) {
  const auto lead = static_cast<uint8_t>(text[at]);
  size_t length = 0;
  if (lead < 0x80) {
    code_point = lead;
    return 1;
  } else if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    code_point = lead & 0x1fu;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3;
    code_point = lead & 0x0fu;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    code_point = lead & 0x07u;
  } else {
    return 0;
  }
  if (text.size() - at < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto next = static_cast<uint8_t>(text[at + i]);
    if ((next & 0xc0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3fu);
  }
  if (length == 3 && (code_point < 0x800 || (code_point >= 0xd800 && code_point <= 0xdfff))) {
    return 0;
  }
  if (length == 4 && (code_point < 0x10000 || code_point > 0x10ffff)) return 0;
  return length;
}

// Characters that would let a peer forge lines or reorder what an operator reads.
bool is_escaped(uint32_t code_point) {
  return code_point < 0x20 || (code_point >= 0x7f && code_point <= 0x9f) || code_point == 0x061c ||
         code_point == 0x200e || code_point == 0x200f ||
         (code_point >= 0x2028 && code_point <= 0x202e) ||
         (code_point >= 0x2066 && code_point <= 0x2069);
}

}  // namespace

std::string printable(std::string_view text, size_t max_bytes) {
  const std::string suffix = fmt::format("... ({} bytes)", text.size());
  std::string out;
  out.reserve(std::min(max_bytes, text.size()));
  // The length of `out` at the last unit boundary where the suffix still fits after it.
  size_t cut = 0;
  for (size_t at = 0; at < text.size();) {
    uint32_t code_point = 0;
    size_t length = decode_utf8(text, at, code_point);
    const bool escape = length == 0 || is_escaped(code_point);
    if (length == 0) length = 1;  // one invalid byte is escaped; decoding resumes after it
    const size_t unit = escape ? 4 * length : length;
    if (out.size() + unit > max_bytes) {
      if (suffix.size() > max_bytes) return std::string("...").substr(0, max_bytes);
      out.resize(cut);
      return out + suffix;
    }
    if (escape) {
      for (size_t i = 0; i < length; ++i) {
        const auto byte = static_cast<uint8_t>(text[at + i]);
        out += "\\x";
        out += kHexDigits[byte >> 4];
        out += kHexDigits[byte & 0x0f];
      }
    } else {
      out.append(text, at, length);
    }
    at += length;
    if (out.size() + suffix.size() <= max_bytes) cut = out.size();
  }
  return out;
}

}  // namespace fedgan::text
