#pragma once

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>

/// Untrusted text made safe to log and to store. Below protocol (text a peer sends) and pki (the
/// characters a certificate's identity may hold), so both judge text by the same rule.
namespace fedgan::text {

/// Text received from a peer (a Goodbye's status message, a tensor name, a Hello field), made safe
/// to log and to store:
/// - valid printable UTF-8 is kept as it is, multibyte characters included;
/// - control characters (C0, DEL, C1), the Unicode formatting characters that reorder text or
///   break lines (U+061C, U+200E, U+200F, U+2028 to U+202E, U+2066 to U+2069) and bytes that are
///   not valid UTF-8 (overlong forms, surrogates, code points beyond U+10FFFF, cut sequences) are
///   written as `\xNN`, one escape per byte;
/// - the result is at most `max_bytes` long: a longer text is cut at a character or escape
///   boundary and ends in "... (N bytes)", N being the size of the whole original. Below the
///   suffix's own length, a cut text is just "..." (or as much of it as fits).
/// Only the part that is kept is examined, so the cost is bounded by `max_bytes`, not by the
/// text. A backslash is kept, so `\x0a` in the result may also be four characters the peer sent:
/// the result is for reading, not for decoding back. Thread-safe.
std::string printable(std::string_view text, size_t max_bytes);

/// printable(text, max_bytes) as a format argument, computed only if the text is formatted: for
/// the arguments of check(), which are evaluated whether or not the check fails. `text` must
/// outlive the formatting.
struct Printable {
  std::string_view text;
  size_t max_bytes;
};

}  // namespace fedgan::text

template <>
struct fmt::formatter<fedgan::text::Printable> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(const fedgan::text::Printable& value, FormatContext& context) const {
    const std::string text = fedgan::text::printable(value.text, value.max_bytes);
    return fmt::formatter<fmt::string_view>::format(text, context);
  }
};
