// Embedding and EmbeddingGrad: shape inference, gather and scatter-add with
// repeated ids, id range errors and the finite-difference table gradient.
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

const TensorType kTable{DataType::kFloat32, Shape{50, 8}};

TEST(EmbeddingShapeTest, OutputIsIdsShapeFollowedByWidth) {
  auto rank2 = InferOp("Embedding", {}, {kTable, {DataType::kInt32, Shape{4, 7}}});
  ASSERT_TRUE(rank2.ok()) << rank2.status();
  EXPECT_EQ(*rank2, (std::vector<TensorType>{{DataType::kFloat32, Shape{4, 7, 8}}}));
  auto scalar = InferOp("Embedding", {}, {kTable, {DataType::kInt64, Shape{}}});
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(*scalar, (std::vector<TensorType>{{DataType::kFloat32, Shape{8}}}));
}

TEST(EmbeddingShapeTest, Errors) {
  const TensorType ids{DataType::kInt32, Shape{4}};
  EXPECT_EQ(InferError("Embedding", {}, {{DataType::kFloat32, Shape{50}}, ids}),
            "node 'op' (Embedding): input 'table' must have rank 2, got f32[50]");
  EXPECT_EQ(InferError("Embedding", {}, {{DataType::kInt32, Shape{50, 8}}, ids}),
            "node 'op' (Embedding): input 'table' must be floating point, got i32[50,8]");
  EXPECT_EQ(InferError("Embedding", {}, {kTable, {DataType::kFloat32, Shape{4}}}),
            "node 'op' (Embedding): input 'ids' must be i32 or i64, got f32[4]");
}

TEST(EmbeddingShapeTest, GradIsShapedLikeTheTable) {
  const TensorType ids{DataType::kInt32, Shape{4, 7}};
  auto outputs = InferOp("EmbeddingGrad", AttrMap{{"vocab", int64_t{50}}},
                         {{DataType::kFloat32, Shape{4, 7, 8}}, ids});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(*outputs, std::vector<TensorType>{kTable});
  EXPECT_EQ(InferError("EmbeddingGrad", AttrMap{{"vocab", int64_t{50}}},
                       {{DataType::kFloat32, Shape{4, 8}}, ids}),
            "node 'op' (EmbeddingGrad): input 'dy' must have shape [4,7,H] to match ids "
            "i32[4,7], got f32[4,8]");
  EXPECT_EQ(InferError("EmbeddingGrad", AttrMap{{"vocab", int64_t{50}}},
                       {{DataType::kFloat32, Shape{}}, {DataType::kInt32, Shape{}}}),
            "node 'op' (EmbeddingGrad): input 'dy' must have shape [H] to match ids i32[], got "
            "f32[]");
  EXPECT_EQ(InferError("EmbeddingGrad", AttrMap{{"vocab", int64_t{0}}},
                       {{DataType::kFloat32, Shape{4, 7, 8}}, ids}),
            "node 'op' (EmbeddingGrad): attr 'vocab' must be >= 1, got 0");
  EXPECT_EQ(InferError("EmbeddingGrad", {}, {{DataType::kFloat32, Shape{4, 7, 8}}, ids}),
            "node 'op' (EmbeddingGrad): attr 'vocab' is missing");
}

TEST(EmbeddingShapeTest, GatherHasNoFlopsAndScatterOnePerElement) {
  const TensorType ids{DataType::kInt32, Shape{4, 7}};
  const TensorType out{DataType::kFloat32, Shape{4, 7, 8}};
  EXPECT_EQ(EstimateFlops(*Builtin().ops.Find("Embedding"), "op", {kTable, ids}, {}, {out}), 0);
  EXPECT_EQ(EstimateFlops(*Builtin().ops.Find("EmbeddingGrad"), "op", {out, ids},
                          AttrMap{{"vocab", int64_t{50}}}, {kTable}),
            224);
}

TEST(EmbeddingKernelTest, GathersRowsWithRepeatedIds) {
  Tensor table = MakeTensor<float>(Shape{4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  for (DataType dtype : {DataType::kInt32, DataType::kInt64}) {
    Tensor ids = dtype == DataType::kInt32 ? MakeTensor<int32_t>(Shape{2, 2}, {3, 0, 3, 1})
                                           : MakeTensor<int64_t>(Shape{2, 2}, {3, 0, 3, 1});
    auto outputs = RunOp("Embedding", {}, {table, ids});
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    EXPECT_EQ((*outputs)[0].shape(), (Shape{2, 2, 3}));
    EXPECT_EQ((*outputs)[0].ToVector<float>(),
              (std::vector<float>{9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5}));
  }
}

TEST(EmbeddingKernelTest, ScatterAddsRepeatedIdsAndZeroesTheRest) {
  Tensor dy = MakeTensor<double>(Shape{2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor ids = MakeTensor<int64_t>(Shape{2, 2}, {3, 0, 3, 3});
  auto outputs = RunOp("EmbeddingGrad", AttrMap{{"vocab", int64_t{5}}}, {dy, ids});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ((*outputs)[0].ToVector<double>(),
            (std::vector<double>{3, 4, 0, 0, 0, 0, 1 + 5 + 7, 2 + 6 + 8, 0, 0}));
}

// In f32, 1 + 1e8 rounds to 1e8, so the index order 1, 1e8, -1e8 gives
// exactly 0; the reverse order or a wider accumulator would give 1.
TEST(EmbeddingKernelTest, ScatterAddRunsInIndexOrder) {
  Tensor dy = MakeTensor<float>(Shape{3, 1}, {1, 1e8f, -1e8f});
  Tensor ids = MakeTensor<int32_t>(Shape{3}, {0, 0, 0});
  auto outputs = RunOp("EmbeddingGrad", AttrMap{{"vocab", int64_t{1}}}, {dy, ids});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ((*outputs)[0].ToVector<float>(), std::vector<float>{0});
}

TEST(EmbeddingKernelTest, IdOutOfRangeIsAnError) {
  Tensor table = RandomTensor(TestAllocator(), {DataType::kFloat32, Shape{50, 2}}, 1);
  auto gather = RunOp("Embedding", {}, {table, MakeTensor<int32_t>(Shape{3}, {0, 49, 50})});
  ASSERT_FALSE(gather.ok());
  EXPECT_EQ(gather.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(gather.status().message(), "node 'op': id 50 at index 2 is outside [0, 50)");

  Tensor dy = RandomTensor(TestAllocator(), {DataType::kFloat32, Shape{2, 2, 2}}, 2);
  auto scatter = RunOp("EmbeddingGrad", AttrMap{{"vocab", int64_t{50}}},
                       {dy, MakeTensor<int64_t>(Shape{2, 2}, {1, -3, 2, 4})});
  ASSERT_FALSE(scatter.ok());
  EXPECT_EQ(scatter.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scatter.status().message(), "node 'op': id -3 at index 1 is outside [0, 50)");
}

TEST(EmbeddingGradientTest, GradientIsEmbeddingGradWithTheVocab) {
  auto nodes = GradientNodes("Embedding", {}, {kTable, {DataType::kInt32, Shape{4, 7}}});
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 1);
  EXPECT_EQ((*nodes)[0].op, "EmbeddingGrad");
  EXPECT_EQ((*nodes)[0].attrs.GetInt("vocab").value(), 50);
}

TEST(EmbeddingGradientTest, WithRespectToTheTable) {
  Tensor table = RandomTensor(TestAllocator(), {DataType::kFloat64, Shape{5, 3}}, 51);
  Tensor ids = MakeTensor<int32_t>(Shape{2, 3}, {4, 1, 4, 0, 1, 4});
  absl::Status status =
      CheckOpGradient(Builtin().ops, Builtin().kernels, "Embedding", {}, {table, ids});
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace sbpflow::testing
