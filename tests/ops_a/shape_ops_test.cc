#include <cstring>

#include "absl/strings/str_join.h"
#include "tests/ops_a/op_test_util.h"

namespace sbpflow::testing {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF64 = DataType::kFloat64;
constexpr DataType kAllDataTypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                                      DataType::kInt64, DataType::kBool};

// Values that differ element to element for every dtype.
Tensor Distinct(DataType dtype, Shape shape, uint64_t seed) {
  return Random(dtype, std::move(shape), seed, -100, 100);
}

bool SameBytes(const Tensor& actual, const Tensor& expected) {
  return actual.type() == expected.type() &&
         std::memcmp(actual.raw_data(), expected.raw_data(), actual.num_bytes()) == 0;
}

// ---- Shape and dtype inference ----

TEST(ShapeOpsInferenceTest, Reshape) {
  EXPECT_EQ(InferOne("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{3, 2}}}),
            (TensorType{kF32, {3, 2}}));
  EXPECT_EQ(InferOne("Reshape", {{kF64, {2, 3, 4}}}, AttrMap{{"shape", Shape{-1, 4}}}),
            (TensorType{kF64, {6, 4}}));
  EXPECT_EQ(InferOne("Reshape", {{DataType::kBool, {1}}}, AttrMap{{"shape", Shape{}}}),
            (TensorType{DataType::kBool, {}}));
  EXPECT_EQ(InferOne("Reshape", {{DataType::kInt32, {0, 3}}}, AttrMap{{"shape", Shape{3, 0}}}),
            (TensorType{DataType::kInt32, {3, 0}}));
  // An unknown batch extent keeps the inferred dimension unknown.
  EXPECT_EQ(InferOne("Reshape", {{kF32, {-1, 28, 28}}}, AttrMap{{"shape", Shape{-1, 784}}}),
            (TensorType{kF32, {-1, 784}}));
}

TEST(ShapeOpsInferenceTest, ReshapeErrors) {
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{4, 2}}}),
            "attr 'shape': cannot reshape f32[2,3] (6 elements) to [4,2]");
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{4, -1}}}),
            "attr 'shape': cannot reshape f32[2,3] (6 elements) to [4,-1]");
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{0, -1}}}),
            "attr 'shape': cannot reshape f32[2,3] (6 elements) to [0,-1]");
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{-1, -1}}}),
            "attr 'shape': at most one dimension may be -1, got [-1,-1]");
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{6, -2}}}),
            "attr 'shape': dimension 1 is -2");
  EXPECT_EQ(InferError("Reshape", {{kF32, {2, 3}}}), "attr 'shape' is missing");
}

TEST(ShapeOpsInferenceTest, Transpose) {
  EXPECT_EQ(
      InferOne("Transpose", {{kF32, {2, 3, 4}}}, AttrMap{{"perm", std::vector<int64_t>{2, 0, 1}}}),
      (TensorType{kF32, {4, 2, 3}}));
  EXPECT_EQ(InferOne("Transpose", {{DataType::kInt64, {2, 3, 4}}},
                     AttrMap{{"perm", std::vector<int64_t>{-1, 0, -2}}}),
            (TensorType{DataType::kInt64, {4, 2, 3}}));
  EXPECT_EQ(InferOne("Transpose", {{kF32, {}}}, AttrMap{{"perm", std::vector<int64_t>{}}}),
            (TensorType{kF32, {}}));
}

TEST(ShapeOpsInferenceTest, TransposeErrors) {
  EXPECT_EQ(
      InferError("Transpose", {{kF32, {2, 3, 4}}}, AttrMap{{"perm", std::vector<int64_t>{1, 0}}}),
      "attr 'perm': has 2 entries for input f32[2,3,4]");
  EXPECT_EQ(InferError("Transpose", {{kF32, {2, 3, 4}}},
                       AttrMap{{"perm", std::vector<int64_t>{0, 0, 1}}}),
            "attr 'perm': [0,0,1] is not a permutation of the axes of f32[2,3,4]");
  EXPECT_EQ(InferError("Transpose", {{kF32, {2, 3, 4}}},
                       AttrMap{{"perm", std::vector<int64_t>{0, 1, 3}}}),
            "attr 'perm': [0,1,3] is not a permutation of the axes of f32[2,3,4]");
  // -1 and 2 name the same axis.
  EXPECT_EQ(InferError("Transpose", {{kF32, {2, 3, 4}}},
                       AttrMap{{"perm", std::vector<int64_t>{2, 0, -1}}}),
            "attr 'perm': [2,0,-1] is not a permutation of the axes of f32[2,3,4]");
}

TEST(ShapeOpsInferenceTest, Concat) {
  EXPECT_EQ(InferOne("Concat", {{kF32, {2, 3}}, {kF32, {2, 5}}}, AttrMap{{"axis", int64_t{1}}}),
            (TensorType{kF32, {2, 8}}));
  EXPECT_EQ(InferOne("Concat", {{kF64, {2, 3}}, {kF64, {4, 3}}, {kF64, {0, 3}}},
                     AttrMap{{"axis", int64_t{0}}}),
            (TensorType{kF64, {6, 3}}));
  EXPECT_EQ(InferOne("Concat", {{DataType::kBool, {2, 3, 4}}, {DataType::kBool, {2, 3, 1}}},
                     AttrMap{{"axis", int64_t{-1}}}),
            (TensorType{DataType::kBool, {2, 3, 5}}));
  EXPECT_EQ(InferOne("Concat", {{DataType::kInt32, {7}}}, AttrMap{{"axis", int64_t{0}}}),
            (TensorType{DataType::kInt32, {7}}));
}

TEST(ShapeOpsInferenceTest, ConcatErrors) {
  EXPECT_EQ(InferError("Concat", {{kF32, {2, 3}}, {kF32, {2, 3}}}, AttrMap{{"axis", int64_t{2}}}),
            "attr 'axis': axis 2 is out of range for f32[2,3]");
  EXPECT_EQ(InferError("Concat", {{kF32, {2, 3}}, {DataType::kInt32, {2, 3}}},
                       AttrMap{{"axis", int64_t{0}}}),
            "inputs 'values': input 1 is i32[2,3], input 0 is f32[2,3]: dtypes differ");
  EXPECT_EQ(InferError("Concat", {{kF32, {2, 3}}, {kF32, {2, 3}}, {kF32, {3, 3}}},
                       AttrMap{{"axis", int64_t{1}}}),
            "inputs 'values': input 2 is f32[3,3], input 0 is f32[2,3]: shapes differ outside "
            "axis 1");
  EXPECT_EQ(
      InferError("Concat", {{kF32, {2, 3}}, {kF32, {2, 3, 1}}}, AttrMap{{"axis", int64_t{0}}}),
      "inputs 'values': input 1 is f32[2,3,1], input 0 is f32[2,3]: shapes differ outside "
      "axis 0");
  EXPECT_EQ(InferError("Concat", {{kF32, {}}, {kF32, {}}}, AttrMap{{"axis", int64_t{0}}}),
            "attr 'axis': axis 0 is out of range for f32[]");
  EXPECT_EQ(InferError("Concat", {}, AttrMap{{"axis", int64_t{0}}}),
            "inputs: expected at least 1 input(s), got 0");
}

TEST(ShapeOpsInferenceTest, Split) {
  auto outputs = Infer("Split", {{kF32, {3, 5}}},
                       AttrMap{{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{2, 0, 3}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(*outputs, (std::vector<TensorType>{{kF32, {3, 2}}, {kF32, {3, 0}}, {kF32, {3, 3}}}));
  outputs = Infer("Split", {{DataType::kInt64, {4, 2}}},
                  AttrMap{{"axis", int64_t{-2}}, {"sizes", std::vector<int64_t>{4}}});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(*outputs, (std::vector<TensorType>{{DataType::kInt64, {4, 2}}}));
}

TEST(ShapeOpsInferenceTest, SplitErrors) {
  EXPECT_EQ(InferError("Split", {{kF32, {3, 5}}},
                       AttrMap{{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{2, 2}}}),
            "attr 'sizes': [2,2] sums to 4, but axis 1 of f32[3,5] has 5");
  EXPECT_EQ(InferError("Split", {{kF32, {3, 5}}},
                       AttrMap{{"axis", int64_t{-3}}, {"sizes", std::vector<int64_t>{3}}}),
            "attr 'axis': axis -3 is out of range for f32[3,5]");
  EXPECT_EQ(InferError("Split", {{kF32, {3, 5}}},
                       AttrMap{{"axis", int64_t{0}}, {"sizes", std::vector<int64_t>{}}}),
            "attr 'sizes': must not be empty");
  EXPECT_EQ(InferError("Split", {{kF32, {3, 5}}},
                       AttrMap{{"axis", int64_t{0}}, {"sizes", std::vector<int64_t>{4, -1}}}),
            "attr 'sizes': entry 1 is -1, must be >= 0");
  EXPECT_EQ(InferError("Split", {{kF32, {3, 5}}}, AttrMap{{"axis", int64_t{0}}}),
            "attr 'sizes' is missing");
}

TEST(ShapeOpsInferenceTest, ShapeOpsCostNoFlops) {
  EXPECT_EQ(Flops("Reshape", {{kF32, {2, 3}}}, AttrMap{{"shape", Shape{6}}}), 0);
  EXPECT_EQ(Flops("Transpose", {{kF32, {2, 3}}}, AttrMap{{"perm", std::vector<int64_t>{1, 0}}}), 0);
  EXPECT_EQ(Flops("Concat", {{kF32, {2, 3}}, {kF32, {2, 3}}}, AttrMap{{"axis", int64_t{0}}}), 0);
  EXPECT_EQ(Flops("Split", {{kF32, {2, 3}}},
                  AttrMap{{"axis", int64_t{0}}, {"sizes", std::vector<int64_t>{1, 1}}}),
            0);
}

// ---- Kernels against naive references (byte-exact, every dtype) ----

TEST(ShapeOpsKernelTest, ReshapeKeepsTheBytes) {
  uint64_t seed = 10;
  for (DataType dtype : kAllDataTypes) {
    const Tensor x = Distinct(dtype, {2, 3, 4}, ++seed);
    const Tensor y = RunOne("Reshape", AttrMap{{"shape", Shape{4, -1}}}, {x});
    EXPECT_TRUE(SameBytes(y, x.Reshaped(Shape{4, 6}))) << DataTypeName(dtype);
  }
}

// out[i] = x[source index of i] for every element, as raw bytes.
Tensor NaiveTranspose(const Tensor& x, const std::vector<int64_t>& perm) {
  std::vector<int64_t> dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) dims[i] = x.shape().dim(static_cast<int>(perm[i]));
  Tensor out(TestAllocator(), x.dtype(), Shape(dims));
  const int64_t size = DataTypeSize(x.dtype());
  const std::vector<int64_t> in_strides = RowMajorStrides(x.shape());
  for (int64_t flat = 0; flat < out.num_elements(); ++flat) {
    const std::vector<int64_t> index = Unravel(flat, out.shape());
    int64_t source = 0;
    for (size_t i = 0; i < perm.size(); ++i) source += index[i] * in_strides[perm[i]];
    std::memcpy(static_cast<char*>(out.raw_data()) + flat * size,
                static_cast<const char*>(x.raw_data()) + source * size, size);
  }
  return out;
}

TEST(ShapeOpsKernelTest, TransposeMatchesNaive) {
  struct Case {
    Shape shape;
    std::vector<int64_t> perm;
  };
  const Case cases[] = {
      {{37, 45}, {1, 0}},              // tiled 2-D transpose with partial tiles
      {{2, 3, 4, 5}, {0, 2, 1, 3}},    // contiguous rows (attention heads)
      {{2, 3, 33, 40}, {0, 1, 3, 2}},  // batched 2-D transpose
      {{3, 4, 5}, {2, 1, 0}},          // full reversal
      {{4, 5, 6}, {1, 2, 0}},          // merged axes (1, 2)
      {{2, 1, 3}, {2, 1, 0}},          // extent-1 axis
      {{2, 3, 4}, {0, 1, 2}},          // identity
      {{5}, {0}},
      {{}, {}},
      {{0, 3}, {1, 0}},
  };
  uint64_t seed = 100;
  for (DataType dtype : kAllDataTypes) {
    for (const Case& test_case : cases) {
      SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), test_case.shape.ToString(), " perm ",
                                absl::StrJoin(test_case.perm, ",")));
      const Tensor x = Distinct(dtype, test_case.shape, ++seed);
      const Tensor y = RunOne("Transpose", AttrMap{{"perm", test_case.perm}}, {x});
      EXPECT_TRUE(SameBytes(y, NaiveTranspose(x, test_case.perm)));
    }
  }
}

TEST(ShapeOpsKernelTest, TransposeAcceptsNegativeAxes) {
  const Tensor x = Distinct(kF32, {2, 3, 4}, 7);
  const Tensor y = RunOne("Transpose", AttrMap{{"perm", std::vector<int64_t>{-1, 0, -2}}}, {x});
  EXPECT_TRUE(SameBytes(y, NaiveTranspose(x, {2, 0, 1})));
}

// Concatenation along `axis` of row-major tensors, as raw bytes.
Tensor NaiveConcat(const std::vector<Tensor>& values, int axis) {
  std::vector<int64_t> dims = values[0].shape().dims();
  dims[axis] = 0;
  for (const Tensor& value : values) dims[axis] += value.shape().dim(axis);
  Tensor out(TestAllocator(), values[0].dtype(), Shape(dims));
  const int64_t size = DataTypeSize(out.dtype());
  for (int64_t flat = 0; flat < out.num_elements(); ++flat) {
    std::vector<int64_t> index = Unravel(flat, out.shape());
    size_t which = 0;
    while (index[axis] >= values[which].shape().dim(axis)) {
      index[axis] -= values[which].shape().dim(axis);
      ++which;
    }
    const std::vector<int64_t> strides = RowMajorStrides(values[which].shape());
    int64_t source = 0;
    for (size_t i = 0; i < index.size(); ++i) source += index[i] * strides[i];
    std::memcpy(static_cast<char*>(out.raw_data()) + flat * size,
                static_cast<const char*>(values[which].raw_data()) + source * size, size);
  }
  return out;
}

struct ConcatCase {
  std::vector<Shape> shapes;
  int64_t axis;
};

const ConcatCase kConcatCases[] = {
    {{{2, 3}, {4, 3}, {1, 3}}, 0},
    {{{2, 3}, {2, 1}, {2, 5}}, 1},
    {{{2, 3, 4}, {2, 2, 4}}, -2},
    {{{2, 3, 4}, {2, 3, 2}, {2, 3, 0}, {2, 3, 1}}, -1},
    {{{5}}, 0},
};

TEST(ShapeOpsKernelTest, ConcatMatchesNaive) {
  uint64_t seed = 200;
  for (DataType dtype : kAllDataTypes) {
    for (const ConcatCase& test_case : kConcatCases) {
      SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), " axis ", test_case.axis, " first ",
                                test_case.shapes[0].ToString()));
      std::vector<Tensor> values;
      for (const Shape& shape : test_case.shapes) values.push_back(Distinct(dtype, shape, ++seed));
      const Tensor y = RunOne("Concat", AttrMap{{"axis", test_case.axis}}, values);
      const int axis = NormalizeAxis(test_case.axis, test_case.shapes[0].rank());
      EXPECT_TRUE(SameBytes(y, NaiveConcat(values, axis)));
    }
  }
}

TEST(ShapeOpsKernelTest, SplitInvertsConcat) {
  uint64_t seed = 300;
  for (DataType dtype : kAllDataTypes) {
    for (const ConcatCase& test_case : kConcatCases) {
      SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), " axis ", test_case.axis, " first ",
                                test_case.shapes[0].ToString()));
      std::vector<Tensor> values;
      std::vector<int64_t> sizes;
      const int axis = NormalizeAxis(test_case.axis, test_case.shapes[0].rank());
      for (const Shape& shape : test_case.shapes) {
        values.push_back(Distinct(dtype, shape, ++seed));
        sizes.push_back(shape.dim(axis));
      }
      auto parts = RunOp("Split", AttrMap{{"axis", test_case.axis}, {"sizes", sizes}},
                         {NaiveConcat(values, axis)});
      ASSERT_TRUE(parts.ok()) << parts.status();
      ASSERT_EQ(parts->size(), values.size());
      for (size_t i = 0; i < values.size(); ++i) {
        EXPECT_TRUE(SameBytes((*parts)[i], values[i])) << "output " << i;
      }
    }
  }
}

TEST(ShapeOpsKernelTest, SplitExactValues) {
  const Tensor x =
      Tensor::FromVector<int32_t>(TestAllocator(), {2, 3}, std::vector<int32_t>{1, 2, 3, 4, 5, 6});
  auto parts =
      RunOp("Split", AttrMap{{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{1, 2}}}, {x});
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_EQ((*parts)[0].ToVector<int32_t>(), (std::vector<int32_t>{1, 4}));
  EXPECT_EQ((*parts)[1].ToVector<int32_t>(), (std::vector<int32_t>{2, 3, 5, 6}));
}

// ---- Finite-difference gradients (f64) ----

TEST(ShapeOpsGradientTest, Reshape) {
  const absl::Status status =
      CheckGradient("Reshape", AttrMap{{"shape", Shape{3, -1}}}, {Random(kF64, {2, 3, 2}, 1)});
  EXPECT_TRUE(status.ok()) << status;
}

TEST(ShapeOpsGradientTest, Transpose) {
  for (const std::vector<int64_t>& perm :
       {std::vector<int64_t>{2, 0, 1}, std::vector<int64_t>{1, 0, 2},
        std::vector<int64_t>{-1, -2, -3}}) {
    const absl::Status status =
        CheckGradient("Transpose", AttrMap{{"perm", perm}}, {Random(kF64, {2, 3, 4}, 2)});
    EXPECT_TRUE(status.ok()) << status;
  }
}

TEST(ShapeOpsGradientTest, ConcatSeveralInputs) {
  for (const ConcatCase& test_case : kConcatCases) {
    std::vector<Tensor> values;
    uint64_t seed = 20;
    for (const Shape& shape : test_case.shapes) values.push_back(Random(kF64, shape, ++seed));
    const absl::Status status = CheckGradient("Concat", AttrMap{{"axis", test_case.axis}}, values);
    EXPECT_TRUE(status.ok()) << "axis " << test_case.axis << ": " << status;
  }
}

TEST(ShapeOpsGradientTest, SplitSeveralOutputs) {
  const absl::Status status = CheckGradient(
      "Split", AttrMap{{"axis", int64_t{-1}}, {"sizes", std::vector<int64_t>{1, 2, 2}}},
      {Random(kF64, {3, 5}, 3)});
  EXPECT_TRUE(status.ok()) << status;
  const absl::Status axis_zero =
      CheckGradient("Split", AttrMap{{"axis", int64_t{0}}, {"sizes", std::vector<int64_t>{2, 1}}},
                    {Random(kF64, {3, 2, 2}, 4)});
  EXPECT_TRUE(axis_zero.ok()) << axis_zero;
}

// Outputs no gradient reaches contribute zeros to the Concat.
TEST(ShapeOpsGradientTest, SplitWithUnusedOutputs) {
  GradientCheckOptions options;
  options.outputs = {0, 2};
  const absl::Status status = CheckGradient(
      "Split", AttrMap{{"axis", int64_t{1}}, {"sizes", std::vector<int64_t>{1, 2, 2}}},
      {Random(kF64, {3, 5}, 5)}, options);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace sbpflow::testing
