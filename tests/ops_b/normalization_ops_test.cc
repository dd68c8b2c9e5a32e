// LayerNorm and LayerNormGrad: shape inference, a hand-computed example and
// finite-difference gradients w.r.t. x, gamma and beta.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "tests/ops_b/op_test_util.h"
#include "tests/testing/gradient_check.h"

namespace sbpflow::testing {
namespace {

std::string InferError(const std::string& op, const AttrMap& attrs,
                       const std::vector<TensorType>& types) {
  auto outputs = InferOp(op, attrs, types);
  return outputs.ok() ? "ok" : std::string(outputs.status().message());
}

TensorType F32(Shape shape) { return {DataType::kFloat32, std::move(shape)}; }

void ExpectNear(const std::vector<float>& actual, const std::vector<double>& expected,
                double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
  }
}

TEST(LayerNormShapeTest, OutputsAreYMeanAndRstd) {
  auto rank2 = InferOp("LayerNorm", {}, {F32({4, 16}), F32({16}), F32({16})});
  ASSERT_TRUE(rank2.ok()) << rank2.status();
  EXPECT_EQ(*rank2, (std::vector<TensorType>{F32({4, 16}), F32({4}), F32({4})}));
  auto rank3 =
      InferOp("LayerNorm", AttrMap{{"epsilon", 1e-6}}, {F32({2, 3, 8}), F32({8}), F32({8})});
  ASSERT_TRUE(rank3.ok()) << rank3.status();
  EXPECT_EQ(*rank3, (std::vector<TensorType>{F32({2, 3, 8}), F32({2, 3}), F32({2, 3})}));
}

TEST(LayerNormShapeTest, Errors) {
  EXPECT_EQ(InferError("LayerNorm", {}, {F32({4, 16}), F32({8}), F32({16})}),
            "node 'op' (LayerNorm): input 'gamma' must be f32[16] to match x f32[4,16], got "
            "f32[8]");
  EXPECT_EQ(InferError("LayerNorm", {}, {F32({4, 16}), F32({16}), {DataType::kFloat64, Shape{16}}}),
            "node 'op' (LayerNorm): input 'beta' must be f32[16] like gamma, got f64[16]");
  EXPECT_EQ(InferError("LayerNorm", {}, {F32({}), F32({1}), F32({1})}),
            "node 'op' (LayerNorm): input 'x' must have rank >= 1 (normalized axis last), got "
            "f32[]");
  EXPECT_EQ(InferError("LayerNorm", {}, {F32({4, 0}), F32({0}), F32({0})}),
            "node 'op' (LayerNorm): input 'x' must have a non-empty last axis, got f32[4,0]");
  EXPECT_EQ(InferError("LayerNorm", {}, {{DataType::kInt32, Shape{4, 16}}, F32({16}), F32({16})}),
            "node 'op' (LayerNorm): input 'x' must be floating point, got i32[4,16]");
  EXPECT_EQ(
      InferError("LayerNorm", AttrMap{{"epsilon", -1.0}}, {F32({4, 16}), F32({16}), F32({16})}),
      "node 'op' (LayerNorm): attr 'epsilon' must be >= 0, got -1");
}

TEST(LayerNormShapeTest, GradTakesSavedStatistics) {
  const TensorType x = F32({4, 16});
  auto outputs = InferOp("LayerNormGrad", {}, {x, x, F32({16}), F32({4}), F32({4})});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(*outputs, (std::vector<TensorType>{x, F32({16}), F32({16})}));
  EXPECT_EQ(InferError("LayerNormGrad", {}, {F32({4, 8}), x, F32({16}), F32({4}), F32({4})}),
            "node 'op' (LayerNormGrad): input 'dy' must be f32[4,16] like x, got f32[4,8]");
  EXPECT_EQ(InferError("LayerNormGrad", {}, {x, x, F32({16}), F32({16}), F32({4})}),
            "node 'op' (LayerNormGrad): input 'mean' must be f32[4] to match x f32[4,16], got "
            "f32[16]");
  EXPECT_EQ(InferError("LayerNormGrad", {}, {x, x, F32({16}), F32({4}), F32({4, 1})}),
            "node 'op' (LayerNormGrad): input 'rstd' must be f32[4] to match x f32[4,16], got "
            "f32[4,1]");
}

TEST(LayerNormShapeTest, Flops) {
  const OpDef* def = Builtin().ops.Find("LayerNorm");
  ASSERT_NE(def, nullptr);
  const std::vector<TensorType> inputs = {F32({4, 16}), F32({16}), F32({16})};
  EXPECT_EQ(EstimateFlops(*def, "op", inputs, AttrMap{{"epsilon", 1e-5}},
                          {F32({4, 16}), F32({4}), F32({4})}),
            512);
}

// x = [[1, 2, 3, 4], [-1, 1, -1, 1]]: row 0 has mean 2.5 and variance 1.25,
// row 1 mean 0 and variance 1.
TEST(LayerNormKernelTest, HandComputedExample) {
  Tensor x = MakeTensor<float>(Shape{2, 4}, {1, 2, 3, 4, -1, 1, -1, 1});
  Tensor gamma = MakeTensor<float>(Shape{4}, {1, 2, 1, 0.5});
  Tensor beta = MakeTensor<float>(Shape{4}, {0, 0, 1, -1});
  auto outputs = RunOp("LayerNorm", AttrMap{{"epsilon", 0.0}}, {x, gamma, beta});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const double s = 1 / std::sqrt(1.25);
  ExpectNear((*outputs)[0].ToVector<float>(),
             {-1.5 * s, -0.5 * s * 2, 0.5 * s + 1, 1.5 * s * 0.5 - 1, -1, 2, 0, -0.5}, 1e-6);
  ExpectNear((*outputs)[1].ToVector<float>(), {2.5, 0}, 0);
  ExpectNear((*outputs)[2].ToVector<float>(), {s, 1}, 1e-7);
}

TEST(LayerNormKernelTest, EpsilonKeepsAConstantRowFinite) {
  Tensor x = MakeTensor<double>(Shape{1, 3}, {7, 7, 7});
  Tensor gamma = MakeTensor<double>(Shape{3}, {1, 2, 3});
  Tensor beta = MakeTensor<double>(Shape{3}, {0.5, -0.5, 2});
  auto outputs = RunOp("LayerNorm", {}, {x, gamma, beta});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ((*outputs)[0].ToVector<double>(), (std::vector<double>{0.5, -0.5, 2}));
  EXPECT_EQ((*outputs)[1].ToVector<double>(), std::vector<double>{7});
  EXPECT_NEAR((*outputs)[2].data<double>()[0], 1 / std::sqrt(1e-5), 1e-9);
}

// With mean 0 and rstd 1, x̂ = x: dgamma = Σ dy·x, dbeta = Σ dy over rows.
TEST(LayerNormKernelTest, GradSumsParameterGradientsOverRows) {
  Tensor dy = MakeTensor<double>(Shape{2, 2}, {1, 2, 3, 4});
  Tensor x = MakeTensor<double>(Shape{2, 2}, {-1, 1, 1, -1});
  Tensor gamma = MakeTensor<double>(Shape{2}, {1, 1});
  Tensor stats_mean = MakeTensor<double>(Shape{2}, {0, 0});
  Tensor stats_rstd = MakeTensor<double>(Shape{2}, {1, 1});
  auto outputs = RunOp("LayerNormGrad", {}, {dy, x, gamma, stats_mean, stats_rstd});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  // Row 0: g = [1, 2], mean(g) = 1.5, mean(g·x̂) = 0.5: dx = [1 - 1.5 + 0.5, 2 - 1.5 - 0.5].
  // Row 1: g = [3, 4], mean(g) = 3.5, mean(g·x̂) = -0.5: dx = [3 - 3.5 + 0.5, 4 - 3.5 - 0.5].
  EXPECT_EQ((*outputs)[0].ToVector<double>(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ((*outputs)[1].ToVector<double>(), (std::vector<double>{2, -2}));
  EXPECT_EQ((*outputs)[2].ToVector<double>(), (std::vector<double>{4, 6}));
}

TEST(LayerNormGradientTest, GradientIsOneLayerNormGradNode) {
  auto nodes = GradientNodes("LayerNorm", {}, {F32({4, 16}), F32({16}), F32({16})}, {0});
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 1);
  EXPECT_EQ((*nodes)[0].op, "LayerNormGrad");
  // dy, x, gamma and the saved mean and rstd (outputs 1 and 2 of node 3).
  ASSERT_EQ((*nodes)[0].inputs.size(), 5);
  EXPECT_EQ((*nodes)[0].inputs[3], (TensorRef{3, 1}));
  EXPECT_EQ((*nodes)[0].inputs[4], (TensorRef{3, 2}));
}

TEST(LayerNormGradientTest, WithRespectToXGammaAndBeta) {
  GradientCheckOptions options;
  options.outputs = {0};
  for (const Shape& shape : {Shape{3, 5}, Shape{2, 3, 4}}) {
    const int64_t width = shape.dim(shape.rank() - 1);
    Tensor x = RandomTensor(TestAllocator(), {DataType::kFloat64, shape}, 41, -2, 2);
    Tensor gamma = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{width}}, 42, 0.5, 1.5);
    Tensor beta = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{width}}, 43);
    absl::Status status = CheckOpGradient(Builtin().ops, Builtin().kernels, "LayerNorm",
                                          AttrMap{{"epsilon", 1e-5}}, {x, gamma, beta}, options);
    EXPECT_TRUE(status.ok()) << shape.ToString() << ": " << status;
  }
}

TEST(LayerNormGradientTest, StatisticsOutputsAreNotDifferentiable) {
  Tensor x = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{2, 3}}, 44);
  Tensor gamma = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{3}}, 45);
  Tensor beta = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{3}}, 46);
  absl::Status status =
      CheckOpGradient(Builtin().ops, Builtin().kernels, "LayerNorm", {}, {x, gamma, beta});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "outputs 'mean' and 'rstd' are statistics for the backward; gradients cannot flow "
            "through them");
}

}  // namespace
}  // namespace sbpflow::testing
