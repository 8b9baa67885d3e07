#include "config/enum_names.h"
#include "config/command_line.h"
#include "config/toml_file.h"

#include <gtest/gtest.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace fedgan::config {
namespace {

namespace fs = std::filesystem;

enum class Shape { kUnset, kCircle, kSquare, kWavyLine };

// kUnset is left out: a "not chosen yet" value that no file or flag can name.
constexpr std::array<EnumName<Shape>, 3> enum_names(Shape) {
  return {
      {{Shape::kCircle, "circle"}, {Shape::kSquare, "square"}, {Shape::kWavyLine, "wavy-line"}}};
}

constexpr Shape kShapes[] = {Shape::kCircle, Shape::kSquare, Shape::kWavyLine};

struct Drawing {
  struct Pen {
    Shape shape = Shape::kCircle;
    Shape fill = Shape::kUnset;
  } pen;
};

template <typename Options, typename Visitor>
void for_each_field(Options& o, Visitor&& visit) {
  visit("pen", "shape", o.pen.shape, "Shape drawn: circle, square or wavy-line");
  visit("pen", "fill", o.pen.fill, "Fill pattern");
}

constexpr auto kFields = [](auto& options, auto&& visit) { for_each_field(options, visit); };

static_assert(kIsNamedEnum<Shape>);
static_assert(!kIsNamedEnum<int>);
static_assert(enum_name(Shape::kSquare) == "square");

class EnumFieldTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("fedgan_enum_test_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& text) {
    const fs::path file = dir_ / "drawing.toml";
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }

  // The message of the ConfigError reading `text` raises, or "" when it reads.
  std::string error_of(const std::string& text) {
    Drawing drawing;
    try {
      read_toml_file(write(text), drawing, kFields);
    } catch (const ConfigError& error) {
      return error.what();
    }
    return "";
  }

  // Parses `value` given to --pen.shape; the message of a refusal in `message`.
  static bool parse_flag(const std::string& value, Drawing& drawing, std::string& message) {
    CLI::App app;
    add_field_flags(app, drawing, kFields);
    const char* argv[] = {"prog", "--pen.shape", value.c_str()};
    std::optional<int> exit_code;
    return parse_or_explain(app, 3, argv, exit_code, message);
  }

  fs::path dir_;
};

TEST_F(EnumFieldTest, NamesAndValuesRoundTrip) {
  for (const Shape shape : kShapes) {
    EXPECT_EQ(enum_value<Shape>(enum_name(shape)), shape);
  }
  EXPECT_EQ(enum_name(Shape::kUnset), "");
  EXPECT_EQ(enum_value<Shape>(""), std::nullopt);
  EXPECT_EQ(enum_value<Shape>("Circle"), std::nullopt);  // names are case-sensitive
  EXPECT_EQ(enum_name_list<Shape>(), (std::vector<std::string>{"circle", "square", "wavy-line"}));
}

TEST_F(EnumFieldTest, EveryNameReadsFromAFile) {
  for (const Shape shape : kShapes) {
    Drawing drawing;
    read_toml_file(write(fmt::format("[pen]\nshape = \"{}\"\n", enum_name(shape))), drawing,
                   kFields);
    EXPECT_EQ(drawing.pen.shape, shape) << enum_name(shape);
    EXPECT_EQ(drawing.pen.fill, Shape::kUnset);  // absent: the default stays
  }
}

TEST_F(EnumFieldTest, EveryNameReadsFromAFlag) {
  for (const Shape shape : kShapes) {
    Drawing drawing;
    std::string message;
    ASSERT_TRUE(parse_flag(std::string(enum_name(shape)), drawing, message)) << message;
    EXPECT_EQ(drawing.pen.shape, shape) << enum_name(shape);
  }
}

TEST_F(EnumFieldTest, AnUnknownNameInAFileIsRefusedWithTheNames) {
  EXPECT_EQ(
      error_of("[pen]\nshape = \"triangle\"\n"),
      (dir_ / "drawing.toml").string() +
          R"(:2: pen.shape is "triangle": it must be one of "circle", "square", "wavy-line")");
  // The value the unset one stands for cannot be named.
  EXPECT_NE(error_of("[pen]\nfill = \"\"\n").find(R"(pen.fill is "": it must be one of)"),
            std::string::npos);
  EXPECT_NE(error_of("[pen]\nshape = 3\n").find("pen.shape must be a string, not an integer"),
            std::string::npos);
  // The refused name is quoted printable and bounded.
  const std::string message =
      error_of("[pen]\nshape = \"a\\u0007" + std::string(500, 'x') + "\"\n");
  EXPECT_NE(message.find(R"(is "a\x07xxx)"), std::string::npos) << message;
  EXPECT_NE(message.find("... (502 bytes)\": it must be one of"), std::string::npos) << message;
}

TEST_F(EnumFieldTest, AnUnknownNameInAFlagIsRefusedWithTheNames) {
  Drawing drawing;
  std::string message;
  EXPECT_FALSE(parse_flag("Square", drawing, message));
  EXPECT_NE(message.find(R"(pen.shape is "Square": it must be one of "circle", "square", )"
                         R"("wavy-line")"),
            std::string::npos)
      << message;
  EXPECT_EQ(drawing.pen.shape, Shape::kCircle);
}

TEST_F(EnumFieldTest, HelpListsTheNamesAndTheDefault) {
  Drawing drawing;
  drawing.pen.shape = Shape::kWavyLine;
  CLI::App app{"prog: draws", "prog"};
  add_field_flags(app, drawing, kFields);
  const char* argv[] = {"prog", "--help"};
  std::optional<int> exit_code;
  std::string message;
  EXPECT_FALSE(parse_or_explain(app, 2, argv, exit_code, message));
  EXPECT_EQ(exit_code, 0);
  EXPECT_NE(message.find("{circle,square,wavy-line}"), std::string::npos) << message;
  EXPECT_NE(message.find("wavy-line"), std::string::npos) << message;
}

}  // namespace
}  // namespace fedgan::config
