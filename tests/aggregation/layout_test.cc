#include "aggregation/layout.h"

#include "tests/aggregation/test_util.h"

#include <gtest/gtest.h>

namespace fedgan::aggregation {
namespace {

using test::contains;
using test::error_message;

const ModelLayout kLayout{{{"gen.weight", 6}, {"gen.bias", 3}, {"disc.scale", 0}}};

TEST(ModelLayout, CountsTensorsAndParameters) {
  EXPECT_EQ(kLayout.num_tensors(), 3u);
  EXPECT_EQ(kLayout.num_parameters(), 9u);
  EXPECT_NO_THROW(validate_layout(kLayout));
}

TEST(ModelLayout, RejectsEmptyLayoutsMissingNamesAndDuplicates) {
  EXPECT_TRUE(contains(error_message([] { validate_layout(ModelLayout{}); }), "no tensors"));
  EXPECT_TRUE(contains(error_message([] {
                         validate_layout(ModelLayout{{{"a", 1}, {"", 2}}});
                       }),
                       "tensor 1 of the model layout has no name"));
  EXPECT_TRUE(contains(error_message([] {
                         validate_layout(ModelLayout{{{"a", 1}, {"a", 2}}});
                       }),
                       "'a' appears twice"));
}

TEST(CheckViews, RejectsAWrongTensorCount) {
  const float values[6] = {};
  const std::string message = error_message([&] {
    check_views(kLayout, ConstViews{values, values}, "delta");
  });
  EXPECT_TRUE(contains(message, "delta has 2 tensors, but the model layout has 3")) << message;
}

TEST(CheckViews, NamesTheTensorWhosePointerIsNull) {
  float values[6] = {};
  const std::string message = error_message([&] {
    check_views(kLayout, MutableViews{values, nullptr, values}, "model");
  });
  EXPECT_TRUE(contains(message, "model: tensor 1 ('gen.bias', 3 elements) is a null pointer"))
      << message;
}

TEST(CheckViews, AcceptsANullPointerForAnEmptyTensor) {
  const float values[6] = {};
  EXPECT_NO_THROW(check_views(kLayout, ConstViews{values, values, nullptr}, "delta"));
}

TEST(CheckViews, ReadOnlyKeepsThePointers) {
  float a[1], b[2];
  const ConstViews views = read_only(MutableViews{a, b});
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[0], a);
  EXPECT_EQ(views[1], b);
}

}  // namespace
}  // namespace fedgan::aggregation
