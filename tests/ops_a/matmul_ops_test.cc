#include "tests/ops_a/op_test_util.h"

namespace sbpflow::testing {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF64 = DataType::kFloat64;

AttrMap Flags(bool transpose_a, bool transpose_b) {
  return AttrMap{{"transpose_a", transpose_a}, {"transpose_b", transpose_b}};
}

// ---- Shape and dtype inference ----

TEST(MatMulShapeTest, LinearLayer) {
  EXPECT_EQ(InferOne("MatMul", {{kF32, {2, 3}}, {kF32, {3, 4}}}), (TensorType{kF32, {2, 4}}));
  EXPECT_EQ(InferOne("MatMul", {{kF32, {2, 5, 3}}, {kF32, {3, 4}}}), (TensorType{kF32, {2, 5, 4}}));
  EXPECT_EQ(InferOne("MatMul", {{kF64, {2, 5, 3}}, {kF64, {4, 3}}}, Flags(false, true)),
            (TensorType{kF64, {2, 5, 4}}));
}

TEST(MatMulShapeTest, UnknownBatchExtentsStayUnknown) {
  EXPECT_EQ(InferOne("MatMul", {{kF32, {-1, 3}}, {kF32, {3, 4}}}), (TensorType{kF32, {-1, 4}}));
  EXPECT_EQ(InferOne("MatMul", {{kF32, {-1, 3}}, {kF32, {-1, 4}}}, Flags(true, false)),
            (TensorType{kF32, {3, 4}}));
}

TEST(MatMulShapeTest, WeightGradient) {
  EXPECT_EQ(InferOne("MatMul", {{kF32, {6, 3}}, {kF32, {6, 4}}}, Flags(true, false)),
            (TensorType{kF32, {3, 4}}));
  EXPECT_EQ(InferOne("MatMul", {{kF32, {2, 5, 3}}, {kF32, {2, 5, 4}}}, Flags(true, false)),
            (TensorType{kF32, {3, 4}}));
  EXPECT_EQ(InferOne("MatMul", {{kF32, {3, 2}}, {kF32, {4, 3}}}, Flags(true, true)),
            (TensorType{kF32, {2, 4}}));
}

TEST(MatMulShapeTest, Errors) {
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3}}, {kF32, {4, 5}}}),
            "inputs 'a' and 'b': contraction dimensions differ: f32[2,3] vs f32[4,5]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3}}, {kF32, {4, 5}}}, Flags(false, true)),
            "inputs 'a' and 'b': contraction dimensions differ: f32[2,3] vs f32[4,5]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 5, 3}}, {kF32, {5, 2, 4}}}, Flags(true, false)),
            "inputs 'a' and 'b': contraction dimensions differ: f32[2,5,3] vs f32[5,2,4]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 5, 3}}, {kF32, {10, 4}}}, Flags(true, false)),
            "inputs 'a' and 'b': contraction dimensions differ: f32[2,5,3] vs f32[10,4]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {3, 2}}, {kF32, {3, 4}}}, Flags(true, true)),
            "inputs 'a' and 'b': contraction dimensions differ: f32[3,2] vs f32[3,4]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {3}}, {kF32, {3, 4}}}),
            "input 'a' must have rank >= 2, got f32[3]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3}}, {kF32, {2, 3, 4}}}),
            "input 'b' must have rank 2 unless transpose_a is set, got f32[2,3,4]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3}}, {kF32, {2}}}, Flags(true, false)),
            "input 'b' must have rank >= 2, got f32[2]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3, 4}}, {kF32, {5, 3}}}, Flags(true, true)),
            "attrs 'transpose_a' and 'transpose_b': both set requires rank-2 operands, got "
            "f32[2,3,4] and f32[5,3]");
  EXPECT_EQ(InferError("MatMul", {{kF32, {2, 3}}, {kF64, {3, 4}}}),
            "inputs 'a' and 'b' must have the same dtype, got f32[2,3] and f64[3,4]");
  EXPECT_EQ(InferError("MatMul", {{DataType::kInt32, {2, 3}}, {DataType::kInt32, {3, 4}}}),
            "input 'a' must be floating point, got i32[2,3]");
  EXPECT_EQ(
      InferError("MatMul", {{kF32, {2, 3}}, {kF32, {3, 4}}}, AttrMap{{"transpose_a", int64_t{1}}}),
      "attr 'transpose_a' must be bool, got int");
}

TEST(BatchMatMulShapeTest, Shapes) {
  EXPECT_EQ(InferOne("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {2, 4, 5}}}),
            (TensorType{kF32, {2, 3, 5}}));
  EXPECT_EQ(InferOne("BatchMatMul", {{kF32, {2, 4, 3}}, {kF32, {2, 4, 5}}}, Flags(true, false)),
            (TensorType{kF32, {2, 3, 5}}));
  EXPECT_EQ(InferOne("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {2, 5, 4}}}, Flags(false, true)),
            (TensorType{kF32, {2, 3, 5}}));
  EXPECT_EQ(
      InferOne("BatchMatMul", {{kF64, {7, 2, 4, 3}}, {kF64, {7, 2, 5, 4}}}, Flags(true, true)),
      (TensorType{kF64, {7, 2, 3, 5}}));
}

TEST(BatchMatMulShapeTest, Errors) {
  EXPECT_EQ(InferError("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {2, 5, 6}}}),
            "inputs 'a' and 'b': contraction dimensions differ: f32[2,3,4] vs f32[2,5,6]");
  EXPECT_EQ(InferError("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {3, 4, 5}}}),
            "inputs 'a' and 'b': batch dimensions differ: f32[2,3,4] vs f32[3,4,5]");
  EXPECT_EQ(InferError("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {1, 2, 4, 5}}}),
            "inputs 'a' and 'b': batch dimensions differ: f32[2,3,4] vs f32[1,2,4,5]");
  EXPECT_EQ(InferError("BatchMatMul", {{kF32, {3, 4}}, {kF32, {4, 5}}}),
            "input 'a' must have rank >= 3, got f32[3,4]");
  EXPECT_EQ(InferError("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {4, 5}}}),
            "input 'b' must have rank >= 3, got f32[4,5]");
}

TEST(MatMulShapeTest, FlopsAreTwoMNK) {
  EXPECT_EQ(Flops("MatMul", {{kF32, {2, 5, 3}}, {kF32, {3, 4}}}), 2 * 10 * 4 * 3);
  EXPECT_EQ(Flops("MatMul", {{kF32, {2, 5, 3}}, {kF32, {2, 5, 4}}}, Flags(true, false)),
            2 * 3 * 4 * 10);
  EXPECT_EQ(Flops("MatMul", {{kF32, {3, 2}}, {kF32, {4, 3}}}, Flags(true, true)), 2 * 2 * 4 * 3);
  EXPECT_EQ(Flops("BatchMatMul", {{kF32, {2, 3, 4}}, {kF32, {2, 4, 5}}}), 2 * 2 * 3 * 5 * 4);
  EXPECT_EQ(Flops("BatchMatMul", {{kF32, {2, 4, 3}}, {kF32, {2, 5, 4}}}, Flags(true, true)),
            2 * 2 * 3 * 5 * 4);
}

// ---- Kernels against naive references ----

// Element (row, column) of a row-major matrix stored at `data` with `columns`
// columns, read transposed when `transpose`.
double At(const std::vector<double>& data, int64_t base, int64_t columns, bool transpose,
          int64_t row, int64_t column) {
  return transpose ? data[base + column * columns + row] : data[base + row * columns + column];
}

// Naive op(A)·op(B) for `batch` independent products of [m, k]·[k, n].
std::vector<double> NaiveProducts(const std::vector<double>& a, const std::vector<double>& b,
                                  int64_t batch, int64_t m, int64_t n, int64_t k, bool transpose_a,
                                  bool transpose_b) {
  std::vector<double> out(batch * m * n, 0.0);
  for (int64_t p = 0; p < batch; ++p) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double total = 0;
        for (int64_t l = 0; l < k; ++l) {
          total += At(a, p * m * k, transpose_a ? m : k, transpose_a, i, l) *
                   At(b, p * k * n, transpose_b ? k : n, transpose_b, l, j);
        }
        out[p * m * n + i * n + j] = total;
      }
    }
  }
  return out;
}

struct MatMulCase {
  Shape a;
  Shape b;
  bool transpose_a;
  bool transpose_b;
  // The equivalent single product [m, k]·[k, n].
  int64_t m, n, k;
};

TEST(MatMulKernelTest, MatchesNaiveProducts) {
  const MatMulCase cases[] = {
      {{5, 3}, {3, 4}, false, false, 5, 4, 3},        {{5, 3}, {4, 3}, false, true, 5, 4, 3},
      {{2, 7, 3}, {3, 4}, false, false, 14, 4, 3},     // rank-3 linear layer
      {{2, 7, 3}, {4, 3}, false, true, 14, 4, 3},      // rank-3, transposed weight
      {{2, 3, 2, 6}, {6, 5}, false, false, 12, 5, 6},  // rank-4 linear layer
      {{6, 3}, {6, 4}, true, false, 3, 4, 6},          // weight gradient
      {{2, 7, 3}, {2, 7, 4}, true, false, 3, 4, 14},   // weight gradient, rank 3
      {{6, 3}, {4, 6}, true, true, 3, 4, 6},           // aᵀbᵀ
      {{40, 70}, {70, 33}, false, false, 40, 33, 70},  // larger than BLAS kernels' blocks
  };
  uint64_t seed = 1;
  for (DataType dtype : {kF32, kF64}) {
    for (const MatMulCase& c : cases) {
      SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), " ", c.a.ToString(), " ", c.b.ToString(),
                                " ta=", c.transpose_a, " tb=", c.transpose_b));
      const Tensor a = Random(dtype, c.a, ++seed);
      const Tensor b = Random(dtype, c.b, ++seed);
      const Tensor out = RunOne("MatMul", Flags(c.transpose_a, c.transpose_b), {a, b});
      const std::vector<double> expected =
          NaiveProducts(ToDoubles(a), ToDoubles(b), 1, c.m, c.n, c.k, c.transpose_a, c.transpose_b);
      auto type = Infer("MatMul", {a.type(), b.type()}, Flags(c.transpose_a, c.transpose_b));
      ASSERT_TRUE(type.ok());
      ExpectValuesNear(out, (*type)[0].shape, expected, dtype == kF32 ? 1e-5 : 1e-12);
    }
  }
}

TEST(MatMulKernelTest, HandComputedProducts) {
  const Tensor a = Tensor::FromVector<float>(TestAllocator(), {2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::FromVector<float>(TestAllocator(), {2, 2}, {5, 6, 7, 8});
  EXPECT_EQ(RunOne("MatMul", {}, {a, b}).ToVector<float>(), (std::vector<float>{19, 22, 43, 50}));
  EXPECT_EQ(RunOne("MatMul", Flags(true, false), {a, b}).ToVector<float>(),
            (std::vector<float>{26, 30, 38, 44}));
  EXPECT_EQ(RunOne("MatMul", Flags(false, true), {a, b}).ToVector<float>(),
            (std::vector<float>{17, 23, 39, 53}));
  EXPECT_EQ(RunOne("MatMul", Flags(true, true), {a, b}).ToVector<float>(),
            (std::vector<float>{23, 31, 34, 46}));
}

TEST(MatMulKernelTest, EmptyContractionGivesZeros) {
  const Tensor a = Random(kF32, {2, 0}, 1);
  const Tensor b = Random(kF32, {0, 3}, 2);
  EXPECT_EQ(RunOne("MatMul", {}, {a, b}).ToVector<float>(), std::vector<float>(6, 0.0f));
  const Tensor c = Random(kF64, {2, 2, 0}, 3);
  const Tensor d = Random(kF64, {2, 0, 3}, 4);
  EXPECT_EQ(RunOne("BatchMatMul", {}, {c, d}).ToVector<double>(), std::vector<double>(12, 0.0));
  // No output elements at all.
  EXPECT_EQ(RunOne("MatMul", {}, {Random(kF32, {0, 3}, 5), Random(kF32, {3, 4}, 6)}).shape(),
            (Shape{0, 4}));
}

TEST(BatchMatMulKernelTest, MatchesNaiveProducts) {
  uint64_t seed = 100;
  for (DataType dtype : {kF32, kF64}) {
    for (bool transpose_a : {false, true}) {
      for (bool transpose_b : {false, true}) {
        for (const std::vector<int64_t>& batch :
             {std::vector<int64_t>{3}, std::vector<int64_t>{2, 3}}) {
          SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), " ta=", transpose_a, " tb=", transpose_b,
                                    " batch rank ", batch.size()));
          const int64_t m = 4, n = 5, k = 6;
          std::vector<int64_t> a_dims = batch;
          a_dims.push_back(transpose_a ? k : m);
          a_dims.push_back(transpose_a ? m : k);
          std::vector<int64_t> b_dims = batch;
          b_dims.push_back(transpose_b ? n : k);
          b_dims.push_back(transpose_b ? k : n);
          const Tensor a = Random(dtype, Shape(a_dims), ++seed);
          const Tensor b = Random(dtype, Shape(b_dims), ++seed);
          std::vector<int64_t> out_dims = batch;
          out_dims.push_back(m);
          out_dims.push_back(n);
          const int64_t batch_count = Shape(batch).NumElements();
          ExpectValuesNear(RunOne("BatchMatMul", Flags(transpose_a, transpose_b), {a, b}),
                           Shape(out_dims),
                           NaiveProducts(ToDoubles(a), ToDoubles(b), batch_count, m, n, k,
                                         transpose_a, transpose_b),
                           dtype == kF32 ? 1e-5 : 1e-12);
        }
      }
    }
  }
}

TEST(MatMulKernelTest, Float32RunsAreBitIdentical) {
  const Tensor a = Random(kF32, {3, 50, 64}, 7);
  const Tensor b = Random(kF32, {64, 96}, 8);
  EXPECT_TRUE(BitIdentical(RunOne("MatMul", {}, {a, b}), RunOne("MatMul", {}, {a, b})));
  const Tensor dy = Random(kF32, {3, 50, 96}, 9);
  EXPECT_TRUE(BitIdentical(RunOne("MatMul", Flags(true, false), {a, dy}),
                           RunOne("MatMul", Flags(true, false), {a, dy})));
  const Tensor c = Random(kF32, {3, 64, 40}, 10);
  EXPECT_TRUE(BitIdentical(RunOne("BatchMatMul", {}, {a, c}), RunOne("BatchMatMul", {}, {a, c})));
}

// ---- Finite-difference gradients ----

TEST(MatMulGradientTest, AllTransposeCombinations) {
  const MatMulCase cases[] = {
      {{4, 3}, {3, 5}, false, false},    {{4, 3}, {5, 3}, false, true},
      {{2, 3, 4}, {4, 5}, false, false}, {{2, 3, 4}, {5, 4}, false, true},
      {{4, 3}, {4, 5}, true, false},     {{2, 3, 4}, {2, 3, 5}, true, false},
      {{4, 3}, {5, 4}, true, true},
  };
  uint64_t seed = 200;
  for (const MatMulCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.a.ToString(), " ", c.b.ToString(), " ta=", c.transpose_a,
                              " tb=", c.transpose_b));
    const AttrMap attrs = Flags(c.transpose_a, c.transpose_b);
    const std::vector<Tensor> inputs = {Random(kF64, c.a, ++seed), Random(kF64, c.b, ++seed)};
    EXPECT_TRUE(CheckGradient("MatMul", attrs, inputs).ok())
        << CheckGradient("MatMul", attrs, inputs);
  }
}

TEST(BatchMatMulGradientTest, AllTransposeCombinations) {
  uint64_t seed = 300;
  for (bool transpose_a : {false, true}) {
    for (bool transpose_b : {false, true}) {
      SCOPED_TRACE(absl::StrCat("ta=", transpose_a, " tb=", transpose_b));
      const Shape a = transpose_a ? Shape{2, 4, 3} : Shape{2, 3, 4};
      const Shape b = transpose_b ? Shape{2, 5, 4} : Shape{2, 4, 5};
      const AttrMap attrs = Flags(transpose_a, transpose_b);
      const std::vector<Tensor> inputs = {Random(kF64, a, ++seed), Random(kF64, b, ++seed)};
      EXPECT_TRUE(CheckGradient("BatchMatMul", attrs, inputs).ok())
          << CheckGradient("BatchMatMul", attrs, inputs);
    }
  }
  // Two batch dimensions.
  const std::vector<Tensor> inputs = {Random(kF64, {2, 2, 3, 4}, ++seed),
                                      Random(kF64, {2, 2, 4, 3}, ++seed)};
  EXPECT_TRUE(CheckGradient("BatchMatMul", {}, inputs).ok())
      << CheckGradient("BatchMatMul", {}, inputs);
}

}  // namespace
}  // namespace sbpflow::testing
