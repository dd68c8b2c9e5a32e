#include "actor/fetch_assembly.h"

#include <vector>

#include "gtest/gtest.h"

namespace sbpflow {
namespace {

class FetchAssemblyTest : public ::testing::Test {
 protected:
  Tensor Floats(Shape shape, std::vector<float> values) {
    return Tensor::FromVector(&allocator_, std::move(shape), values);
  }

  CpuAllocator allocator_;
};

FetchSpec Spec(Shape shape, std::vector<Box> boxes, bool partial = false, bool sum = false) {
  FetchSpec spec;
  spec.name = "f";
  spec.logical = {DataType::kFloat32, std::move(shape)};
  for (size_t i = 0; i < boxes.size(); ++i)
    spec.sources.push_back(PlanValue{static_cast<int>(i), 0});
  spec.boxes = std::move(boxes);
  spec.partial = partial;
  spec.sum_micro_batches = sum;
  return spec;
}

TEST_F(FetchAssemblyTest, CopiesDisjointPiecesIntoTheirBoxes) {
  const FetchSpec spec = Spec(Shape{2, 3}, {{{0, 2}, {0, 1}}, {{0, 2}, {1, 3}}});
  const Tensor result = AssembleFetch(
      spec, {{Floats(Shape{2, 1}, {1, 4}), Floats(Shape{2, 2}, {2, 3, 5, 6})}}, &allocator_);
  EXPECT_EQ(result.shape(), (Shape{2, 3}));
  EXPECT_EQ(result.ToVector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST_F(FetchAssemblyTest, OverlapsTakeTheLowestSourceAndGapsAreZero) {
  const FetchSpec spec = Spec(Shape{4}, {{{0, 2}}, {{1, 3}}});
  const Tensor result =
      AssembleFetch(spec, {{Floats(Shape{2}, {1, 2}), Floats(Shape{2}, {9, 3})}}, &allocator_);
  EXPECT_EQ(result.ToVector<float>(), (std::vector<float>{1, 2, 3, 0}));
}

TEST_F(FetchAssemblyTest, AddsPartialPieces) {
  const FetchSpec spec = Spec(Shape{2}, {{{0, 2}}, {{0, 2}}, {{1, 2}}}, /*partial=*/true);
  const Tensor result = AssembleFetch(
      spec, {{Floats(Shape{2}, {1, 2}), Floats(Shape{2}, {10, 20}), Floats(Shape{1}, {100})}},
      &allocator_);
  EXPECT_EQ(result.ToVector<float>(), (std::vector<float>{11, 122}));
}

TEST_F(FetchAssemblyTest, ConcatenatesOrSumsMicroBatches) {
  const FetchSpec concat = Spec(Shape{1, 2}, {{{0, 1}, {0, 2}}});
  const Tensor rows = AssembleFetch(
      concat,
      {{Floats(Shape{1, 2}, {1, 2})}, {Floats(Shape{1, 2}, {3, 4})}, {Floats(Shape{1, 2}, {5, 6})}},
      &allocator_);
  EXPECT_EQ(rows.shape(), (Shape{3, 2}));
  EXPECT_EQ(rows.ToVector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));

  const FetchSpec sum = Spec(Shape{}, {{}}, false, /*sum=*/true);
  const Tensor total = AssembleFetch(
      sum, {{Floats(Shape{}, {0.5f})}, {Floats(Shape{}, {0.25f})}, {Floats(Shape{}, {2})}},
      &allocator_);
  EXPECT_EQ(total.shape(), Shape{});
  EXPECT_EQ(total.ToVector<float>(), std::vector<float>{2.75f});
}

TEST_F(FetchAssemblyTest, CheckFetchErrors) {
  const TensorType f32_2{DataType::kFloat32, Shape{2}};
  FetchSpec spec = Spec(Shape{2}, {{{0, 2}}});
  EXPECT_TRUE(CheckFetch(spec, {f32_2}, 4).ok());

  spec.boxes.push_back({{0, 1}});
  EXPECT_EQ(CheckFetch(spec, {f32_2}, 1),
            absl::InvalidArgumentError("fetch 'f': 1 source(s) but 2 box(es)"));

  spec = Spec(Shape{2}, {{{0, 3}}});
  EXPECT_EQ(CheckFetch(spec, {f32_2}, 1),
            absl::InvalidArgumentError("fetch 'f': box [0,3) of source 0 is not inside [2]"));

  spec = Spec(Shape{2}, {{{0, 2}}});
  EXPECT_EQ(CheckFetch(spec, {TensorType{DataType::kFloat64, Shape{2}}}, 1),
            absl::InvalidArgumentError(
                "fetch 'f': source 0 is f64[2] but its box [0,2) of f32[2] needs f32[2]"));

  spec = Spec(Shape{}, {{}});
  EXPECT_EQ(CheckFetch(spec, {TensorType{DataType::kFloat32, Shape{}}}, 2),
            absl::InvalidArgumentError(
                "fetch 'f': cannot concatenate 2 scalar micro-batches along axis 0"));

  spec = Spec(Shape{2}, {{{0, 2}}}, /*partial=*/true);
  spec.logical.dtype = DataType::kBool;
  EXPECT_EQ(CheckFetch(spec, {TensorType{DataType::kBool, Shape{2}}}, 1),
            absl::InvalidArgumentError("fetch 'f': cannot sum bool values"));
}

}  // namespace
}  // namespace sbpflow
