// CausalMask: shape inference, the mask pattern and its gradient.
#include <vector>

#include "gtest/gtest.h"
#include "tests/ops_b/op_test_util.h"
#include "tests/testing/gradient_check.h"

namespace sbpflow::testing {
namespace {

std::string InferError(const std::vector<TensorType>& types) {
  auto outputs = InferOp("CausalMask", {}, types);
  return outputs.ok() ? "ok" : std::string(outputs.status().message());
}

TEST(CausalMaskShapeTest, KeepsTheInputType) {
  for (const Shape& shape : {Shape{4, 4}, Shape{2, 3, 5, 5}}) {
    const TensorType type{DataType::kFloat32, shape};
    auto outputs = InferOp("CausalMask", AttrMap{{"value", -1.0}}, {type});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    EXPECT_EQ(*outputs, std::vector<TensorType>{type});
  }
}

TEST(CausalMaskShapeTest, NeedsSquareTrailingMatrices) {
  EXPECT_EQ(InferError({{DataType::kFloat32, Shape{2, 3, 4}}}),
            "node 'op' (CausalMask): input 'x' must have shape [..., T, T] (queries by keys), got "
            "f32[2,3,4]");
  EXPECT_EQ(InferError({{DataType::kFloat32, Shape{4}}}),
            "node 'op' (CausalMask): input 'x' must have shape [..., T, T] (queries by keys), got "
            "f32[4]");
  EXPECT_EQ(InferError({{DataType::kInt64, Shape{4, 4}}}),
            "node 'op' (CausalMask): input 'x' must be floating point, got i64[4,4]");
}

TEST(CausalMaskKernelTest, MasksKeysAfterTheQuery) {
  std::vector<float> values(18);
  for (int i = 0; i < 18; ++i) values[i] = static_cast<float>(i + 1);
  Tensor x = MakeTensor<float>(Shape{2, 3, 3}, values);
  auto masked = RunOp("CausalMask", {}, {x});
  ASSERT_TRUE(masked.ok()) << masked.status();
  const float m = -1e9f;
  EXPECT_EQ((*masked)[0].ToVector<float>(),
            (std::vector<float>{1, m, m, 4, 5, m, 7, 8, 9, 10, m, m, 13, 14, m, 16, 17, 18}));

  auto custom = RunOp("CausalMask", AttrMap{{"value", -5.0}},
                      {MakeTensor<double>(Shape{2, 2}, {1, 2, 3, 4})});
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ((*custom)[0].ToVector<double>(), (std::vector<double>{1, -5, 3, 4}));
}

TEST(CausalMaskGradientTest, IsTheMaskWithValueZero) {
  auto nodes = GradientNodes("CausalMask", {}, {{DataType::kFloat64, Shape{3, 3}}});
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 1);
  EXPECT_EQ((*nodes)[0].op, "CausalMask");
  EXPECT_EQ((*nodes)[0].attrs.GetFloat("value").value(), 0.0);

  // A small fill value: with -1e9 the checked sum cancels catastrophically in
  // the central differences (the gradient does not depend on the value).
  Tensor x = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{2, 3, 3}}, 61);
  absl::Status status = CheckOpGradient(Builtin().ops, Builtin().kernels, "CausalMask",
                                        AttrMap{{"value", -3.0}}, {x});
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace sbpflow::testing
