// printable(): peer text bounded and made safe to log, byte by byte.

#include "protocol/wire_text.h"

#include <gtest/gtest.h>

#include <string>

namespace fedgan::protocol {
namespace {

using namespace std::string_literals;

TEST(Printable, KeepsPrintableUtf8AsItIs) {
  EXPECT_EQ(printable("site-1 says: all good", 100), "site-1 says: all good");
  EXPECT_EQ(printable("h\xc3\xb4pital \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82", 100),
            "h\xc3\xb4pital \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82");
  EXPECT_EQ(printable("a\\b", 100), "a\\b");
}

TEST(Printable, EmptyStaysEmpty) {
  EXPECT_EQ(printable("", 100), "");
  EXPECT_EQ(printable("", 0), "");
}

TEST(Printable, EscapesControlCharacters) {
  EXPECT_EQ(printable("line 1\nline 2\r\x1b[31m\x7f", 100), "line 1\\x0aline 2\\x0d\\x1b[31m\\x7f");
  EXPECT_EQ(printable("nul\0byte"s, 100), "nul\\x00byte");
  // C1 controls are valid UTF-8 but controls all the same (U+0085 is NEXT LINE).
  EXPECT_EQ(printable("a\xc2\x85z", 100), "a\\xc2\\x85z");
}

TEST(Printable, EscapesCharactersThatReorderTextOrBreakLines) {
  // U+202E RIGHT-TO-LEFT OVERRIDE, U+2028 LINE SEPARATOR, U+2066 LEFT-TO-RIGHT ISOLATE.
  EXPECT_EQ(printable("a\xe2\x80\xae"
                      "b\xe2\x80\xa8"
                      "c\xe2\x81\xa6",
                      100),
            "a\\xe2\\x80\\xaeb\\xe2\\x80\\xa8c\\xe2\\x81\\xa6");
}

TEST(Printable, EscapesBytesThatAreNotUtf8) {
  EXPECT_EQ(printable("\xff\xfe", 100), "\\xff\\xfe");
  EXPECT_EQ(printable("over\xc0\xaflong", 100), "over\\xc0\\xaflong");             // overlong '/'
  EXPECT_EQ(printable("sur\xed\xa0\x80rogate", 100), "sur\\xed\\xa0\\x80rogate");  // U+D800
  EXPECT_EQ(printable("\xf4\x90\x80\x80", 100), "\\xf4\\x90\\x80\\x80");           // U+110000
  // A cut sequence: the lead byte is escaped and decoding resumes at the next byte.
  EXPECT_EQ(printable("\xe6\x97"
                      "ok",
                      100),
            "\\xe6\\x97ok");
  EXPECT_EQ(printable("end\xe6", 100), "end\\xe6");
}

TEST(Printable, TextOfExactlyTheLimitIsKeptWhole) {
  EXPECT_EQ(printable("0123456789", 10), "0123456789");
  // The limit counts output bytes: one control byte takes four.
  EXPECT_EQ(printable("abcdef\n", 10), "abcdef\\x0a");
}

TEST(Printable, LongTextIsCutAndSaysHowLongItWas) {
  const std::string text(4 << 20, 'x');
  const std::string out = printable(text, 256);
  EXPECT_EQ(out.size(), 256u);
  EXPECT_EQ(out, std::string(256 - 19, 'x') + "... (4194304 bytes)");
  // Once "... (N bytes)" takes the whole limit, nothing of the text is left before it.
  EXPECT_EQ(printable("0123456789abcd", 14), "0123456789abcd");
  EXPECT_EQ(printable("0123456789abcde", 14), "... (15 bytes)");
}

TEST(Printable, CutsOnACharacterBoundary) {
  // 20 two-byte characters (40 bytes); 30 bytes leave room for the 14-byte suffix and 8 whole
  // characters.
  std::string text;
  for (int i = 0; i < 20; ++i) text += "\xc3\xa9";
  const std::string out = printable(text, 30);
  EXPECT_LE(out.size(), 30u);
  EXPECT_EQ(out, text.substr(0, 16) + "... (40 bytes)");
  // 31 would leave 17 bytes: still 8 characters, not 8 and a half.
  EXPECT_EQ(printable(text, 31), text.substr(0, 16) + "... (40 bytes)");
  // Nor is an escape cut in half.
  const std::string escaped = printable(std::string(10, '\n'), 30);
  EXPECT_EQ(escaped, "\\x0a\\x0a\\x0a\\x0a... (10 bytes)");
}

TEST(Printable, LimitBelowTheSuffixGivesDots) {
  EXPECT_EQ(printable("0123456789", 5), "...");
  EXPECT_EQ(printable("0123456789", 2), "..");
  EXPECT_EQ(printable("0123456789", 0), "");
}

TEST(Printable, FormatsLazilyAsACheckArgument) {
  EXPECT_EQ(fmt::format("tensor '{}'", Printable{"bad\nname", 128}), "tensor 'bad\\x0aname'");
}

}  // namespace
}  // namespace fedgan::protocol
