// Softmax, LogSoftmax, SoftmaxCrossEntropy and their gradient ops: shape
// inference, kernels against naive references, finite-difference gradients.
#include <cmath>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/ops_b/op_test_util.h"
#include "tests/testing/gradient_check.h"

namespace sbpflow::testing {
namespace {

// Naive softmax (or log-softmax) over `axis` in double, without max
// subtraction: only for inputs whose exp does not overflow.
std::vector<double> NaiveSoftmax(const std::vector<double>& x, const Shape& shape, int axis,
                                 bool log) {
  const int64_t outer = shape.NumElements(0, axis);
  const int64_t size = shape.dim(axis);
  const int64_t inner = shape.NumElements(axis + 1, shape.rank());
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (int64_t k = 0; k < size; ++k) sum += std::exp(x[(o * size + k) * inner + i]);
      for (int64_t k = 0; k < size; ++k) {
        const int64_t at = (o * size + k) * inner + i;
        y[at] = log ? x[at] - std::log(sum) : std::exp(x[at]) / sum;
      }
    }
  }
  return y;
}

void ExpectNear(const std::vector<double>& actual, const std::vector<double>& expected,
                double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
  }
}

std::string InferError(const std::string& op, const AttrMap& attrs,
                       const std::vector<TensorType>& types) {
  auto outputs = InferOp(op, attrs, types);
  return outputs.ok() ? "ok" : std::string(outputs.status().message());
}

const TensorType kF32_2x3{DataType::kFloat32, Shape{2, 3}};

// ---------------------------------------------------------------- shapes

TEST(SoftmaxShapeTest, SoftmaxKeepsTheInputType) {
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t axis : {-2, -1, 0, 1}) {
      auto outputs = InferOp(op, AttrMap{{"axis", axis}}, {kF32_2x3});
      ASSERT_TRUE(outputs.ok()) << outputs.status();
      EXPECT_EQ(*outputs, std::vector<TensorType>{kF32_2x3});
    }
  }
}

TEST(SoftmaxShapeTest, SoftmaxRejectsBadAxisAndDtype) {
  EXPECT_EQ(InferError("Softmax", AttrMap{{"axis", int64_t{2}}}, {kF32_2x3}),
            "node 'op' (Softmax): attr 'axis' must be in [-2, 2) for input 'x' f32[2,3], got 2");
  EXPECT_EQ(InferError("LogSoftmax", AttrMap{{"axis", int64_t{-3}}}, {kF32_2x3}),
            "node 'op' (LogSoftmax): attr 'axis' must be in [-2, 2) for input 'x' f32[2,3], "
            "got -3");
  EXPECT_EQ(InferError("Softmax", {}, {{DataType::kFloat32, Shape{}}}),
            "node 'op' (Softmax): attr 'axis' is -1 but input 'x' is a scalar f32[]");
  EXPECT_EQ(InferError("Softmax", {}, {{DataType::kInt32, Shape{2, 3}}}),
            "node 'op' (Softmax): input 'x' must be floating point, got i32[2,3]");
}

TEST(SoftmaxShapeTest, GradOpsCheckDyAgainstY) {
  for (const char* op : {"SoftmaxGrad", "LogSoftmaxGrad"}) {
    auto outputs = InferOp(op, {}, {kF32_2x3, kF32_2x3});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    EXPECT_EQ(*outputs, std::vector<TensorType>{kF32_2x3});
  }
  EXPECT_EQ(InferError("SoftmaxGrad", {}, {{DataType::kFloat32, Shape{3, 2}}, kF32_2x3}),
            "node 'op' (SoftmaxGrad): input 'dy' must be f32[2,3] like input 'y', got f32[3,2]");
  EXPECT_EQ(InferError("LogSoftmaxGrad", AttrMap{{"axis", int64_t{5}}}, {kF32_2x3, kF32_2x3}),
            "node 'op' (LogSoftmaxGrad): attr 'axis' must be in [-2, 2) for input 'y' f32[2,3], "
            "got 5");
}

TEST(SoftmaxShapeTest, CrossEntropyIsAScalarForAnyLeadingDims) {
  auto rank2 = InferOp("SoftmaxCrossEntropy", {},
                       {{DataType::kFloat32, Shape{8, 10}}, {DataType::kInt32, Shape{8}}});
  ASSERT_TRUE(rank2.ok()) << rank2.status();
  EXPECT_EQ(*rank2, (std::vector<TensorType>{{DataType::kFloat32, Shape{}}}));
  auto rank3 = InferOp("SoftmaxCrossEntropy", AttrMap{{"count", int64_t{64}}},
                       {{DataType::kFloat64, Shape{2, 4, 10}}, {DataType::kInt64, Shape{2, 4}}});
  ASSERT_TRUE(rank3.ok()) << rank3.status();
  EXPECT_EQ(*rank3, (std::vector<TensorType>{{DataType::kFloat64, Shape{}}}));
  // An unknown batch dimension matches itself.
  auto batch = InferOp("SoftmaxCrossEntropy", {},
                       {{DataType::kFloat32, Shape{-1, 10}}, {DataType::kInt32, Shape{-1}}});
  ASSERT_TRUE(batch.ok()) << batch.status();
}

TEST(SoftmaxShapeTest, CrossEntropyErrors) {
  const TensorType logits{DataType::kFloat32, Shape{8, 10}};
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", {}, {logits, {DataType::kInt32, Shape{4}}}),
            "node 'op' (SoftmaxCrossEntropy): input 'labels' must have shape [8] to match logits "
            "f32[8,10], got i32[4]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", {}, {logits, {DataType::kFloat32, Shape{8}}}),
            "node 'op' (SoftmaxCrossEntropy): input 'labels' must be i32 or i64, got f32[8]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", {},
                       {{DataType::kInt32, Shape{8, 10}}, {DataType::kInt32, Shape{8}}}),
            "node 'op' (SoftmaxCrossEntropy): input 'logits' must be floating point, got "
            "i32[8,10]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", {},
                       {{DataType::kFloat32, Shape{}}, {DataType::kInt32, Shape{}}}),
            "node 'op' (SoftmaxCrossEntropy): input 'logits' must have rank >= 1 (classes last), "
            "got f32[]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", {},
                       {{DataType::kFloat32, Shape{8, 0}}, {DataType::kInt32, Shape{8}}}),
            "node 'op' (SoftmaxCrossEntropy): input 'logits' must have at least one class, got "
            "f32[8,0]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropy", AttrMap{{"count", int64_t{-1}}},
                       {logits, {DataType::kInt32, Shape{8}}}),
            "node 'op' (SoftmaxCrossEntropy): attr 'count' must be >= 0, got -1");
}

TEST(SoftmaxShapeTest, CrossEntropyGradIsShapedLikeLogits) {
  const TensorType logits{DataType::kFloat32, Shape{2, 4, 10}};
  const TensorType labels{DataType::kInt32, Shape{2, 4}};
  auto outputs =
      InferOp("SoftmaxCrossEntropyGrad", {}, {{DataType::kFloat32, Shape{}}, logits, labels});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(*outputs, std::vector<TensorType>{logits});
  EXPECT_EQ(
      InferError("SoftmaxCrossEntropyGrad", {}, {{DataType::kFloat32, Shape{1}}, logits, labels}),
      "node 'op' (SoftmaxCrossEntropyGrad): input 'dloss' must be f32[] (a scalar of the "
      "logits' dtype), got f32[1]");
  EXPECT_EQ(InferError("SoftmaxCrossEntropyGrad", {},
                       {{DataType::kFloat32, Shape{}}, logits, {DataType::kInt32, Shape{4, 2}}}),
            "node 'op' (SoftmaxCrossEntropyGrad): input 'labels' must have shape [2,4] to match "
            "logits f32[2,4,10], got i32[4,2]");
}

TEST(SoftmaxShapeTest, FlopsScaleWithTheInput) {
  const OpDef* def = Builtin().ops.Find("Softmax");
  ASSERT_NE(def, nullptr);
  AttrMap attrs{{"axis", int64_t{-1}}};
  EXPECT_EQ(EstimateFlops(*def, "op", {kF32_2x3}, attrs, {kF32_2x3}), 30);
  const TensorType unknown{DataType::kFloat32, Shape{-1, 3}};
  EXPECT_EQ(EstimateFlops(*def, "op", {unknown}, attrs, {unknown}), 0);
}

// --------------------------------------------------------------- kernels

TEST(SoftmaxKernelTest, LargeLogitsStayFinite) {
  Tensor x = MakeTensor<float>(Shape{2, 3}, {1000, 1001, 1002, -1000, 0, 1000});
  auto softmax = RunOp("Softmax", {}, {x});
  ASSERT_TRUE(softmax.ok()) << softmax.status();
  const double total = 1 + std::exp(1.0) + std::exp(2.0);
  const std::vector<float> y = (*softmax)[0].ToVector<float>();
  const std::vector<double> expected = {
      1 / total, std::exp(1.0) / total, std::exp(2.0) / total, 0, 0, 1};
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_TRUE(std::isfinite(y[i])) << i;
    EXPECT_NEAR(y[i], expected[i], 1e-6) << i;
  }
  auto log_softmax = RunOp("LogSoftmax", {}, {x});
  ASSERT_TRUE(log_softmax.ok()) << log_softmax.status();
  const std::vector<float> log_y = (*log_softmax)[0].ToVector<float>();
  const std::vector<double> log_expected = {
      -std::log(total), 1 - std::log(total), 2 - std::log(total), -2000, -1000, 0};
  for (size_t i = 0; i < log_y.size(); ++i) EXPECT_NEAR(log_y[i], log_expected[i], 1e-4) << i;
}

TEST(SoftmaxKernelTest, MatchesNaiveReferenceOnEveryAxis) {
  const Shape shape{2, 3, 4};
  Tensor x = RandomTensor(TestAllocator(), {DataType::kFloat64, shape}, 7, -3, 3);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int axis = 0; axis < 3; ++axis) {
      SCOPED_TRACE(::testing::Message() << op << " axis " << axis);
      auto result = RunOp(op, AttrMap{{"axis", int64_t{axis}}}, {x});
      ASSERT_TRUE(result.ok()) << result.status();
      ExpectNear((*result)[0].ToVector<double>(),
                 NaiveSoftmax(x.ToVector<double>(), shape, axis, std::string(op) == "LogSoftmax"),
                 1e-12);
    }
  }
  // The f32 kernel agrees with the f64 one to f32 precision.
  std::vector<double> values = x.ToVector<double>();
  Tensor x32 = MakeTensor<float>(shape, std::vector<float>(values.begin(), values.end()));
  auto result = RunOp("Softmax", AttrMap{{"axis", int64_t{1}}}, {x32});
  ASSERT_TRUE(result.ok()) << result.status();
  const std::vector<float> y32 = (*result)[0].ToVector<float>();
  ExpectNear(std::vector<double>(y32.begin(), y32.end()), NaiveSoftmax(values, shape, 1, false),
             1e-6);
}

TEST(SoftmaxKernelTest, GradKernelsMatchTheirFormulas) {
  const Shape shape{2, 3};
  Tensor dy = MakeTensor<double>(shape, {1, 2, 3, -1, 0.5, 2});
  Tensor y = MakeTensor<double>(shape, {0.2, 0.3, 0.5, 0.1, 0.6, 0.3});
  auto softmax_grad = RunOp("SoftmaxGrad", {}, {dy, y});
  ASSERT_TRUE(softmax_grad.ok()) << softmax_grad.status();
  // Row sums of dy·y: 2.3 and 0.8.
  ExpectNear((*softmax_grad)[0].ToVector<double>(),
             {0.2 * (1 - 2.3), 0.3 * (2 - 2.3), 0.5 * (3 - 2.3), 0.1 * (-1 - 0.8),
              0.6 * (0.5 - 0.8), 0.3 * (2 - 0.8)},
             1e-14);
  auto log_grad = RunOp("LogSoftmaxGrad", AttrMap{{"axis", int64_t{0}}}, {dy, y});
  ASSERT_TRUE(log_grad.ok()) << log_grad.status();
  // Column sums of dy: 0, 2.5, 5.
  ExpectNear((*log_grad)[0].ToVector<double>(),
             {1, 2 - std::exp(0.3) * 2.5, 3 - std::exp(0.5) * 5, -1, 0.5 - std::exp(0.6) * 2.5,
              2 - std::exp(0.3) * 5},
             1e-14);
}

// -log softmax(row)[label], summed over rows.
double NaiveCrossEntropySum(const std::vector<double>& logits, const std::vector<int32_t>& labels,
                            int64_t classes) {
  const Shape shape{static_cast<int64_t>(labels.size()), classes};
  const std::vector<double> log_softmax = NaiveSoftmax(logits, shape, 1, true);
  double sum = 0;
  for (size_t row = 0; row < labels.size(); ++row) sum -= log_softmax[row * classes + labels[row]];
  return sum;
}

TEST(SoftmaxKernelTest, CrossEntropyIsTheMeanNegativeLogSoftmax) {
  const std::vector<int32_t> labels = {0, 4, 2, 2, 1, 3};
  Tensor logits = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{2, 3, 5}}, 11, -2, 2);
  Tensor label_tensor = MakeTensor<int32_t>(Shape{2, 3}, labels);
  const double sum = NaiveCrossEntropySum(logits.ToVector<double>(), labels, 5);

  auto mean = RunOp("SoftmaxCrossEntropy", {}, {logits, label_tensor});
  ASSERT_TRUE(mean.ok()) << mean.status();
  ASSERT_EQ((*mean)[0].type(), (TensorType{DataType::kFloat64, Shape{}}));
  EXPECT_NEAR((*mean)[0].data<double>()[0], sum / 6, 1e-13);

  // `count` replaces the local number of labels (a split batch of 24).
  auto counted =
      RunOp("SoftmaxCrossEntropy", AttrMap{{"count", int64_t{24}}}, {logits, label_tensor});
  ASSERT_TRUE(counted.ok()) << counted.status();
  EXPECT_NEAR((*counted)[0].data<double>()[0], sum / 24, 1e-13);

  // i64 labels give the same loss.
  Tensor labels64 = MakeTensor<int64_t>(Shape{2, 3}, {0, 4, 2, 2, 1, 3});
  auto wide = RunOp("SoftmaxCrossEntropy", {}, {logits, labels64});
  ASSERT_TRUE(wide.ok()) << wide.status();
  EXPECT_EQ((*wide)[0].data<double>()[0], (*mean)[0].data<double>()[0]);
}

TEST(SoftmaxKernelTest, CrossEntropyOfLargeLogitsStaysFinite) {
  Tensor logits = MakeTensor<float>(Shape{2, 3}, {1000, 1001, 1002, 5000, 0, -5000});
  Tensor labels = MakeTensor<int32_t>(Shape{2}, {0, 1});
  auto loss = RunOp("SoftmaxCrossEntropy", {}, {logits, labels});
  ASSERT_TRUE(loss.ok()) << loss.status();
  // Row 0: log(1 + e + e²); row 1: 5000 - 0 (the other terms vanish).
  const double expected = (std::log(1 + std::exp(1.0) + std::exp(2.0)) + 5000) / 2;
  EXPECT_NEAR((*loss)[0].data<float>()[0], expected, 1e-3);
  auto grad =
      RunOp("SoftmaxCrossEntropyGrad", {}, {MakeTensor<float>(Shape{}, {1}), logits, labels});
  ASSERT_TRUE(grad.ok()) << grad.status();
  const double total = 1 + std::exp(1.0) + std::exp(2.0);
  const std::vector<float> dlogits = (*grad)[0].ToVector<float>();
  const std::vector<double> expected_grad = {
      (1 / total - 1) / 2, std::exp(1.0) / total / 2, std::exp(2.0) / total / 2, 0.5, -0.5, 0};
  for (size_t i = 0; i < dlogits.size(); ++i) EXPECT_NEAR(dlogits[i], expected_grad[i], 1e-6);
}

TEST(SoftmaxKernelTest, CrossEntropyGradIsSoftmaxMinusOneHotTimesDlossOverCount) {
  const std::vector<int32_t> labels = {2, 0, 1};
  Tensor logits = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{3, 4}}, 5);
  const std::vector<double> softmax =
      NaiveSoftmax(logits.ToVector<double>(), Shape{3, 4}, 1, false);
  auto grad =
      RunOp("SoftmaxCrossEntropyGrad", AttrMap{{"count", int64_t{12}}},
            {MakeTensor<double>(Shape{}, {3}), logits, MakeTensor<int32_t>(Shape{3}, labels)});
  ASSERT_TRUE(grad.ok()) << grad.status();
  std::vector<double> expected(12);
  for (int row = 0; row < 3; ++row) {
    for (int c = 0; c < 4; ++c) {
      expected[row * 4 + c] = (softmax[row * 4 + c] - (c == labels[row] ? 1 : 0)) * 3 / 12;
    }
  }
  ExpectNear((*grad)[0].ToVector<double>(), expected, 1e-14);
}

TEST(SoftmaxKernelTest, LabelOutOfRangeIsAnError) {
  Tensor logits = RandomTensor(TestAllocator(), {DataType::kFloat32, Shape{5, 10}}, 3);
  Tensor labels = MakeTensor<int32_t>(Shape{5}, {1, 2, 9, 12, 0});
  auto loss = RunOp("SoftmaxCrossEntropy", {}, {logits, labels});
  ASSERT_FALSE(loss.ok());
  EXPECT_EQ(loss.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(loss.status().message(), "node 'op': label 12 at index 3 is outside [0, 10)");

  Tensor negative = MakeTensor<int64_t>(Shape{5}, {-1, 2, 9, 12, 0});
  auto grad =
      RunOp("SoftmaxCrossEntropyGrad", {}, {MakeTensor<float>(Shape{}, {1}), logits, negative});
  ASSERT_FALSE(grad.ok());
  EXPECT_EQ(grad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(grad.status().message(), "node 'op': label -1 at index 0 is outside [0, 10)");
}

// ------------------------------------------------------------- gradients

TEST(SoftmaxGradientTest, GradientsAreTheDedicatedGradOps) {
  for (const auto& [op, grad_op] :
       {std::pair{"Softmax", "SoftmaxGrad"}, std::pair{"LogSoftmax", "LogSoftmaxGrad"}}) {
    auto nodes = GradientNodes(op, AttrMap{{"axis", int64_t{0}}}, {kF32_2x3});
    ASSERT_TRUE(nodes.ok()) << nodes.status();
    ASSERT_EQ(nodes->size(), 1);
    EXPECT_EQ((*nodes)[0].op, grad_op);
    EXPECT_EQ((*nodes)[0].attrs.GetInt("axis").value(), 0);
    // SoftmaxGrad(dy, y): y is the forward node's output.
    EXPECT_EQ((*nodes)[0].inputs[1].node, 1);
  }
  auto nodes = GradientNodes("SoftmaxCrossEntropy", AttrMap{{"count", int64_t{32}}},
                             {{DataType::kFloat32, Shape{4, 10}}, {DataType::kInt32, Shape{4}}});
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 1);
  EXPECT_EQ((*nodes)[0].op, "SoftmaxCrossEntropyGrad");
  EXPECT_EQ((*nodes)[0].attrs.GetInt("count").value(), 32);
}

TEST(SoftmaxGradientTest, SoftmaxAndLogSoftmaxOnSeveralAxes) {
  Tensor x = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{2, 3, 4}}, 21, -2, 2);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t axis : {-1, 0, 1}) {
      absl::Status status =
          CheckOpGradient(Builtin().ops, Builtin().kernels, op, AttrMap{{"axis", axis}}, {x});
      EXPECT_TRUE(status.ok()) << op << " axis " << axis << ": " << status;
    }
  }
}

TEST(SoftmaxGradientTest, CrossEntropyWithRank2AndRank3Logits) {
  Tensor logits2 = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{4, 5}}, 31, -2, 2);
  Tensor labels2 = MakeTensor<int32_t>(Shape{4}, {4, 0, 2, 2});
  absl::Status rank2 = CheckOpGradient(Builtin().ops, Builtin().kernels, "SoftmaxCrossEntropy", {},
                                       {logits2, labels2});
  EXPECT_TRUE(rank2.ok()) << rank2;

  Tensor logits3 = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{2, 3, 4}}, 32, -2, 2);
  Tensor labels3 = MakeTensor<int64_t>(Shape{2, 3}, {3, 1, 0, 2, 2, 1});
  absl::Status rank3 = CheckOpGradient(Builtin().ops, Builtin().kernels, "SoftmaxCrossEntropy",
                                       AttrMap{{"count", int64_t{10}}}, {logits3, labels3});
  EXPECT_TRUE(rank3.ok()) << rank3;
}

}  // namespace
}  // namespace sbpflow::testing
