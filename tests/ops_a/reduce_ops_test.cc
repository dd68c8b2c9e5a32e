#include <cmath>
#include <cstring>

#include "absl/strings/str_join.h"
#include "tests/ops_a/op_test_util.h"

namespace sbpflow::testing {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF64 = DataType::kFloat64;

AttrMap ReduceAttrs(std::vector<int64_t> axes, bool keep_dims = false) {
  return AttrMap{{"axes", std::move(axes)}, {"keep_dims", keep_dims}};
}

// ---- Shape and dtype inference ----

TEST(ReduceInferenceTest, ReducedShapes) {
  for (const char* op : {"ReduceSum", "ReduceMean"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(InferOne(op, {{kF32, {2, 3, 4}}}, ReduceAttrs({1})), (TensorType{kF32, {2, 4}}));
    EXPECT_EQ(InferOne(op, {{kF32, {2, 3, 4}}}, ReduceAttrs({1}, true)),
              (TensorType{kF32, {2, 1, 4}}));
    EXPECT_EQ(InferOne(op, {{kF64, {2, 3, 4}}}, ReduceAttrs({-1, 0})), (TensorType{kF64, {3}}));
    EXPECT_EQ(InferOne(op, {{kF64, {2, 3, 4}}}, ReduceAttrs({})), (TensorType{kF64, {}}));
    EXPECT_EQ(InferOne(op, {{kF64, {2, 3, 4}}}, ReduceAttrs({}, true)),
              (TensorType{kF64, {1, 1, 1}}));
    // Defaults: every axis, no kept dimensions.
    EXPECT_EQ(InferOne(op, {{kF32, {5, 6}}}), (TensorType{kF32, {}}));
    EXPECT_EQ(InferOne(op, {{kF32, {}}}), (TensorType{kF32, {}}));
  }
  EXPECT_EQ(InferOne("ReduceMean", {{kF32, {5, 6}}}, AttrMap{{"count", int64_t{100}}}),
            (TensorType{kF32, {}}));
}

TEST(ReduceInferenceTest, Errors) {
  EXPECT_EQ(InferError("ReduceSum", {{kF32, {2, 3, 4}}}, ReduceAttrs({3})),
            "attr 'axes': axis 3 is out of range for f32[2,3,4]");
  EXPECT_EQ(InferError("ReduceMean", {{kF32, {2, 3, 4}}}, ReduceAttrs({-4})),
            "attr 'axes': axis -4 is out of range for f32[2,3,4]");
  EXPECT_EQ(InferError("ReduceSum", {{kF32, {2, 3, 4}}}, ReduceAttrs({2, -1})),
            "attr 'axes': axis 2 is listed twice");
  EXPECT_EQ(InferError("ReduceMean", {{kF32, {2, 3}}}, AttrMap{{"count", int64_t{-1}}}),
            "attr 'count': must be >= 0, got -1");
  EXPECT_EQ(InferError("ReduceSum", {{DataType::kInt32, {2}}}),
            "input 'x' must be floating point, got i32[2]");
  EXPECT_EQ(InferError("ReduceSum", {{kF32, {2}}}, AttrMap{{"count", int64_t{2}}}),
            "attr 'count' is unknown");
}

TEST(ReduceInferenceTest, BroadcastTo) {
  EXPECT_EQ(InferOne("BroadcastTo", {{kF32, {3}}}, AttrMap{{"shape", Shape{2, 3}}}),
            (TensorType{kF32, {2, 3}}));
  EXPECT_EQ(InferOne("BroadcastTo", {{kF64, {2, 1}}}, AttrMap{{"shape", Shape{4, 2, 5}}}),
            (TensorType{kF64, {4, 2, 5}}));
  EXPECT_EQ(InferOne("BroadcastTo", {{DataType::kInt32, {}}}, AttrMap{{"shape", Shape{2, 2}}}),
            (TensorType{DataType::kInt32, {2, 2}}));
  EXPECT_EQ(InferError("BroadcastTo", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{4, 3}}}),
            "input 'x': f32[2,3] does not broadcast to attr 'shape' [4,3]");
  EXPECT_EQ(InferError("BroadcastTo", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{3}}}),
            "input 'x': f32[2,3] does not broadcast to attr 'shape' [3]");
  EXPECT_EQ(InferError("BroadcastTo", {{kF32, {3}}}, AttrMap{{"shape", Shape{-1, 3}}}),
            "attr 'shape': must be fully known, got [?,3]");
}

TEST(ReduceInferenceTest, FlopsCountInputElements) {
  EXPECT_EQ(Flops("ReduceSum", {{kF32, {4, 5}}}, ReduceAttrs({0})), 20);
  EXPECT_EQ(Flops("ReduceMean", {{kF32, {4, 5, 6}}}, ReduceAttrs({})), 120);
}

// ---- Kernels against naive references ----

// Sums in double over the reduced axes; output in the kept axes' order.
std::vector<double> NaiveReduce(const Tensor& x, const std::vector<int64_t>& axes, bool mean,
                                int64_t count = 0) {
  const int rank = x.shape().rank();
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t axis : axes) reduced[NormalizeAxis(axis, rank)] = true;
  std::vector<int64_t> kept_dims;
  int64_t reduced_count = 1;
  for (int axis = 0; axis < rank; ++axis) {
    if (reduced[axis]) {
      reduced_count *= x.shape().dim(axis);
    } else {
      kept_dims.push_back(x.shape().dim(axis));
    }
  }
  const Shape kept(kept_dims);
  std::vector<double> sums(kept.NumElements(), 0.0);
  const std::vector<double> values = ToDoubles(x);
  for (int64_t flat = 0; flat < x.num_elements(); ++flat) {
    const std::vector<int64_t> index = Unravel(flat, x.shape());
    int64_t target = 0;
    for (int axis = 0, kept_axis = 0; axis < rank; ++axis) {
      if (reduced[axis]) continue;
      target = target * kept.dim(kept_axis++) + index[axis];
    }
    sums[target] += values[flat];
  }
  if (mean) {
    for (double& sum : sums) sum /= static_cast<double>(count > 0 ? count : reduced_count);
  }
  return sums;
}

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> axes;
};

const ReduceCase kReduceCases[] = {
    {{7, 33}, {1}},          // last axis
    {{7, 33}, {-1}},         // last axis, negative
    {{33, 7}, {0}},          // leading axis: a bias gradient
    {{40, 3, 20}, {0, 1}},   // leading axes
    {{3, 20, 5}, {1}},       // middle axis
    {{2, 3, 4, 5}, {0, 2}},  // non-adjacent axes
    {{2, 3, 4, 5}, {1, 3}},  // alternating kept and reduced
    {{17, 19}, {}},          // everything
    {{4, 1, 5}, {1}},        // an extent-1 axis
    {{6}, {0}},
    {{0, 3}, {0}},  // empty reduction
};

TEST(ReduceKernelTest, ReduceSumMatchesNaive) {
  uint64_t seed = 1;
  for (DataType dtype : {kF32, kF64}) {
    for (const ReduceCase& test_case : kReduceCases) {
      for (bool keep_dims : {false, true}) {
        SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), test_case.shape.ToString(), " axes [",
                                  absl::StrJoin(test_case.axes, ","), "] keep_dims ", keep_dims));
        const Tensor x = Random(dtype, test_case.shape, ++seed);
        const AttrMap attrs = ReduceAttrs(test_case.axes, keep_dims);
        const Tensor y = RunOne("ReduceSum", attrs, {x});
        const TensorType expected_type = InferOne("ReduceSum", {x.type()}, attrs);
        ExpectValuesNear(y, expected_type.shape, NaiveReduce(x, test_case.axes, false),
                         ToleranceFor(dtype));
      }
    }
  }
}

TEST(ReduceKernelTest, ReduceMeanMatchesNaive) {
  uint64_t seed = 50;
  for (DataType dtype : {kF32, kF64}) {
    for (const ReduceCase& test_case : kReduceCases) {
      if (test_case.shape.NumElements() == 0) continue;
      for (int64_t count : {0, 1000}) {
        SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), test_case.shape.ToString(), " axes [",
                                  absl::StrJoin(test_case.axes, ","), "] count ", count));
        const Tensor x = Random(dtype, test_case.shape, ++seed);
        AttrMap attrs = ReduceAttrs(test_case.axes);
        attrs.Set("count", count);
        const Tensor y = RunOne("ReduceMean", attrs, {x});
        const TensorType expected_type = InferOne("ReduceMean", {x.type()}, attrs);
        ExpectValuesNear(y, expected_type.shape, NaiveReduce(x, test_case.axes, true, count),
                         ToleranceFor(dtype));
      }
    }
  }
}

TEST(ReduceKernelTest, ExactSmallValues) {
  const Tensor x = Tensor::FromVector<float>(TestAllocator(), {2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(RunOne("ReduceSum", ReduceAttrs({0}), {x}).ToVector<float>(),
            (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(RunOne("ReduceSum", ReduceAttrs({}), {x}).ToVector<float>(), (std::vector<float>{21}));
  EXPECT_EQ(RunOne("ReduceMean", ReduceAttrs({1}), {x}).ToVector<float>(),
            (std::vector<float>{2, 5}));
  // count overrides the local number of reduced elements.
  AttrMap attrs = ReduceAttrs({1}, true);
  attrs.Set("count", int64_t{4});
  const Tensor mean = RunOne("ReduceMean", attrs, {x});
  EXPECT_EQ(mean.shape(), (Shape{2, 1}));
  EXPECT_EQ(mean.ToVector<float>(), (std::vector<float>{1.5f, 3.75f}));
}

// Sums of shards divided by the logical count add up to the global mean.
TEST(ReduceKernelTest, PartialMeansWithCountAddUp) {
  const Tensor x = Random(kF64, {8, 5}, 77);
  const Tensor top = Tensor::FromVector<double>(
      TestAllocator(), {4, 5}, std::vector<double>(x.data<double>(), x.data<double>() + 20));
  const Tensor bottom = Tensor::FromVector<double>(
      TestAllocator(), {4, 5}, std::vector<double>(x.data<double>() + 20, x.data<double>() + 40));
  AttrMap attrs = ReduceAttrs({});
  attrs.Set("count", int64_t{40});
  const double partial = RunOne("ReduceMean", attrs, {top}).data<double>()[0] +
                         RunOne("ReduceMean", attrs, {bottom}).data<double>()[0];
  const double whole = RunOne("ReduceMean", ReduceAttrs({}), {x}).data<double>()[0];
  EXPECT_NEAR(partial, whole, 1e-15);
}

TEST(ReduceKernelTest, F32RunsAreBitIdentical) {
  const Tensor x = Random(kF32, {64, 300}, 9);
  for (const std::vector<int64_t>& axes :
       {std::vector<int64_t>{0}, std::vector<int64_t>{1}, std::vector<int64_t>{}}) {
    const Tensor first = RunOne("ReduceSum", ReduceAttrs(axes), {x});
    const Tensor second = RunOne("ReduceSum", ReduceAttrs(axes), {x});
    EXPECT_TRUE(BitIdentical(first, second));
    const Tensor mean_first = RunOne("ReduceMean", ReduceAttrs(axes), {x});
    const Tensor mean_second = RunOne("ReduceMean", ReduceAttrs(axes), {x});
    EXPECT_TRUE(BitIdentical(mean_first, mean_second));
  }
}

TEST(ReduceKernelTest, BroadcastToMatchesNaiveForEveryDtype) {
  struct Case {
    Shape from;
    Shape to;
  };
  const Case cases[] = {
      {{3}, {2, 3}},       {{2, 1}, {2, 5}},    {{}, {3, 2}},     {{2, 1, 3}, {4, 2, 5, 3}},
      {{1, 40}, {33, 40}}, {{33, 1}, {33, 40}}, {{2, 3}, {2, 3}}, {{3}, {0, 3}},
  };
  uint64_t seed = 400;
  for (DataType dtype : {kF32, kF64, DataType::kInt32, DataType::kInt64, DataType::kBool}) {
    for (const Case& test_case : cases) {
      SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), test_case.from.ToString(), " -> ",
                                test_case.to.ToString()));
      const Tensor x = Random(dtype, test_case.from, ++seed, -100, 100);
      const Tensor y = RunOne("BroadcastTo", AttrMap{{"shape", test_case.to}}, {x});
      ASSERT_EQ(y.type(), (TensorType{dtype, test_case.to}));
      const int64_t size = DataTypeSize(dtype);
      for (int64_t flat = 0; flat < y.num_elements(); ++flat) {
        const int64_t source = BroadcastOffset(Unravel(flat, test_case.to), test_case.from);
        ASSERT_EQ(std::memcmp(static_cast<const char*>(y.raw_data()) + flat * size,
                              static_cast<const char*>(x.raw_data()) + source * size, size),
                  0)
            << "element " << flat;
      }
    }
  }
}

// ---- Finite-difference gradients (f64) ----

TEST(ReduceGradientTest, ReduceSum) {
  for (const ReduceCase& test_case : kReduceCases) {
    if (test_case.shape.NumElements() == 0 || test_case.shape.NumElements() > 250) continue;
    for (bool keep_dims : {false, true}) {
      const absl::Status status = CheckGradient("ReduceSum", ReduceAttrs(test_case.axes, keep_dims),
                                                {Random(kF64, test_case.shape, 3)});
      EXPECT_TRUE(status.ok()) << test_case.shape.ToString() << " axes ["
                               << absl::StrJoin(test_case.axes, ",") << "]: " << status;
    }
  }
}

TEST(ReduceGradientTest, ReduceMean) {
  for (const ReduceCase& test_case : kReduceCases) {
    if (test_case.shape.NumElements() == 0 || test_case.shape.NumElements() > 250) continue;
    for (int64_t count : {0, 7}) {
      AttrMap attrs = ReduceAttrs(test_case.axes, count == 7);
      attrs.Set("count", count);
      const absl::Status status =
          CheckGradient("ReduceMean", attrs, {Random(kF64, test_case.shape, 4)});
      EXPECT_TRUE(status.ok()) << test_case.shape.ToString() << " axes ["
                               << absl::StrJoin(test_case.axes, ",") << "] count " << count << ": "
                               << status;
    }
  }
}

TEST(ReduceGradientTest, BroadcastTo) {
  const std::pair<Shape, Shape> cases[] = {
      {{3}, {2, 3}}, {{2, 1}, {2, 4}}, {{}, {2, 2}}, {{2, 1, 3}, {4, 2, 5, 3}}, {{2, 3}, {2, 3}}};
  for (const auto& [from, to] : cases) {
    const absl::Status status =
        CheckGradient("BroadcastTo", AttrMap{{"shape", to}}, {Random(kF64, from, 5)});
    EXPECT_TRUE(status.ok()) << from.ToString() << " -> " << to.ToString() << ": " << status;
  }
}

}  // namespace
}  // namespace sbpflow::testing
