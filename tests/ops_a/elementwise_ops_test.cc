#include <cmath>
#include <functional>

#include "graph/ops/op_util.h"
#include "tests/ops_a/op_test_util.h"

namespace sbpflow::testing {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF64 = DataType::kFloat64;

// ---- Shape and dtype inference ----

TEST(ElementwiseShapeTest, BinaryOpsBroadcast) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(InferOne(op, {{kF32, {2, 3}}, {kF32, {2, 3}}}), (TensorType{kF32, {2, 3}}));
    EXPECT_EQ(InferOne(op, {{kF32, {2, 3}}, {kF32, {3}}}), (TensorType{kF32, {2, 3}}));
    EXPECT_EQ(InferOne(op, {{kF64, {}}, {kF64, {2, 3}}}), (TensorType{kF64, {2, 3}}));
    EXPECT_EQ(InferOne(op, {{kF32, {4, 1, 3}}, {kF32, {2, 1}}}), (TensorType{kF32, {4, 2, 3}}));
    EXPECT_EQ(InferOne(op, {{kF32, {5, 1}}, {kF32, {1, 6}}}), (TensorType{kF32, {5, 6}}));
  }
}

TEST(ElementwiseShapeTest, BadBroadcastNamesBothInputs) {
  EXPECT_EQ(InferError("Add", {{kF32, {2, 3}}, {kF32, {4}}}),
            "inputs 'a' and 'b': shapes [2,3] and [4] do not broadcast");
  EXPECT_EQ(InferError("Mul", {{kF32, {2, 3}}, {kF32, {3, 3}}}),
            "inputs 'a' and 'b': shapes [2,3] and [3,3] do not broadcast");
}

TEST(ElementwiseShapeTest, DtypeErrors) {
  EXPECT_EQ(InferError("Sub", {{kF32, {2}}, {kF64, {2}}}),
            "inputs 'a' and 'b' must have the same dtype, got f32[2] and f64[2]");
  EXPECT_EQ(InferError("Div", {{DataType::kInt32, {2}}, {DataType::kInt32, {2}}}),
            "input 'a' must be floating point, got i32[2]");
  EXPECT_EQ(InferError("Exp", {{DataType::kInt64, {3}}}),
            "input 'x' must be floating point, got i64[3]");
}

TEST(ElementwiseShapeTest, UnaryOpsKeepTheInputType) {
  for (const char* op : {"Neg", "Exp", "Log", "Sqrt", "Square"}) {
    EXPECT_EQ(InferOne(op, {{kF64, {4, 5}}}), (TensorType{kF64, {4, 5}})) << op;
  }
  EXPECT_EQ(InferOne("Scale", {{kF32, {3}}}, AttrMap{{"scale", 2.0}}), (TensorType{kF32, {3}}));
  EXPECT_EQ(InferError("Scale", {{kF32, {3}}}), "attr 'scale' is missing");
}

TEST(ElementwiseShapeTest, GraphBuilderPrefixesTheNode) {
  Graph graph;
  GraphBuilder builder(&graph, &Ops());
  auto a = builder.Add("Placeholder", {}, AttrMap{{"shape", Shape{2, 3}}}, "a");
  auto b = builder.Add("Placeholder", {}, AttrMap{{"shape", Shape{4}}}, "b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto sum = builder.Add("Add", {*a, *b}, {}, "sum");
  ASSERT_FALSE(sum.ok());
  EXPECT_EQ(sum.status().message(),
            "node 'sum' (Add): inputs 'a' and 'b': shapes [2,3] and [4] do not broadcast");
}

// ---- Kernels against naive references ----

using BinaryReference = std::function<double(double, double)>;

struct BinaryCase {
  Shape a;
  Shape b;
};

// Every broadcast pattern the kernel special-cases, plus general ones.
const BinaryCase kBinaryCases[] = {
    {{3, 5}, {3, 5}},           // equal shapes
    {{33, 40}, {33, 40}},       // equal, with blocked loops and a tail
    {{4, 7}, {7}},              // bias on the right
    {{7}, {4, 7}},              // bias on the left
    {{33, 40}, {40}},           // long bias rows
    {{4, 7}, {4, 1}},           // column operand
    {{2, 3}, {}},               // scalar right
    {{}, {2, 3}},               // scalar left
    {{1}, {5, 19}},             // one-element operand of rank 1
    {{5, 1}, {1, 6}},           // outer product pattern
    {{2, 1, 4}, {3, 1}},        // both broadcast, rank 3
    {{2, 3, 4}, {2, 1, 4}},     // middle axis broadcast
    {{2, 3, 4, 5}, {3, 1, 5}},  // mixed
    {{0, 3}, {3}},              // empty
};

std::vector<double> NaiveBinary(const Tensor& a, const Tensor& b, const Shape& out,
                                const BinaryReference& f) {
  const std::vector<double> a_values = ToDoubles(a);
  const std::vector<double> b_values = ToDoubles(b);
  std::vector<double> result(out.NumElements());
  for (int64_t i = 0; i < out.NumElements(); ++i) {
    const std::vector<int64_t> index = Unravel(i, out);
    result[i] =
        f(a_values[BroadcastOffset(index, a.shape())], b_values[BroadcastOffset(index, b.shape())]);
  }
  return result;
}

TEST(ElementwiseKernelTest, BinaryOpsMatchNaiveBroadcast) {
  const std::pair<const char*, BinaryReference> ops[] = {
      {"Add", [](double x, double y) { return x + y; }},
      {"Sub", [](double x, double y) { return x - y; }},
      {"Mul", [](double x, double y) { return x * y; }},
      {"Div", [](double x, double y) { return x / y; }},
  };
  uint64_t seed = 1;
  for (DataType dtype : {kF32, kF64}) {
    for (const auto& [op, reference] : ops) {
      for (const BinaryCase& test_case : kBinaryCases) {
        SCOPED_TRACE(absl::StrCat(op, " ", DataTypeName(dtype), " ", test_case.a.ToString(), " ",
                                  test_case.b.ToString()));
        const Tensor a = Random(dtype, test_case.a, ++seed);
        // Divisors stay away from zero.
        const Tensor b = Random(dtype, test_case.b, ++seed, 0.5, 2);
        const Tensor out = RunOne(op, {}, {a, b});
        auto shape = BroadcastShapes(test_case.a, test_case.b);
        ASSERT_TRUE(shape.ok());
        ExpectValuesNear(out, *shape, NaiveBinary(a, b, *shape, reference), ToleranceFor(dtype));
      }
    }
  }
}

TEST(ElementwiseKernelTest, HandComputedValues) {
  Allocator* allocator = TestAllocator();
  const Tensor a = Tensor::FromVector<float>(allocator, {2, 2}, {1, 2, 3, 4});
  const Tensor b = Tensor::FromVector<float>(allocator, {2}, {10, 20});
  EXPECT_EQ(RunOne("Add", {}, {a, b}).ToVector<float>(), (std::vector<float>{11, 22, 13, 24}));
  EXPECT_EQ(RunOne("Sub", {}, {b, a}).ToVector<float>(), (std::vector<float>{9, 18, 7, 16}));
  EXPECT_EQ(RunOne("Div", {}, {b, a}).ToVector<float>(),
            (std::vector<float>{10, 10, 10 / 3.0f, 5}));
  EXPECT_EQ(RunOne("Scale", AttrMap{{"scale", -0.5}}, {a}).ToVector<float>(),
            (std::vector<float>{-0.5, -1, -1.5, -2}));
  EXPECT_EQ(RunOne("Square", {}, {a}).ToVector<float>(), (std::vector<float>{1, 4, 9, 16}));
}

TEST(ElementwiseKernelTest, UnaryOpsMatchStdFunctions) {
  const std::pair<const char*, std::function<double(double)>> ops[] = {
      {"Neg", [](double x) { return -x; }},
      {"Exp", [](double x) { return std::exp(x); }},
      {"Log", [](double x) { return std::log(x); }},
      {"Sqrt", [](double x) { return std::sqrt(x); }},
      {"Square", [](double x) { return x * x; }},
  };
  uint64_t seed = 100;
  for (DataType dtype : {kF32, kF64}) {
    for (const auto& [op, reference] : ops) {
      SCOPED_TRACE(absl::StrCat(op, " ", DataTypeName(dtype)));
      const Tensor x = Random(dtype, {5, 37}, ++seed, 0.1, 3);
      std::vector<double> expected = ToDoubles(x);
      for (double& value : expected) value = reference(value);
      ExpectValuesNear(RunOne(op, {}, {x}), x.shape(), expected, ToleranceFor(dtype));
    }
    const Tensor x = Random(dtype, {41}, ++seed);
    std::vector<double> expected = ToDoubles(x);
    for (double& value : expected) value *= 0.25;
    ExpectValuesNear(RunOne("Scale", AttrMap{{"scale", 0.25}}, {x}), x.shape(), expected,
                     ToleranceFor(dtype));
  }
}

TEST(ElementwiseKernelTest, Float32RunsAreBitIdentical) {
  const Tensor a = Random(kF32, {64, 130}, 7);
  const Tensor b = Random(kF32, {130}, 8, 0.5, 2);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    EXPECT_TRUE(BitIdentical(RunOne(op, {}, {a, b}), RunOne(op, {}, {a, b}))) << op;
  }
  EXPECT_TRUE(BitIdentical(RunOne("Exp", {}, {a}), RunOne("Exp", {}, {a})));
}

// ---- Finite-difference gradients ----

TEST(ElementwiseGradientTest, BinaryOpsWithBroadcasting) {
  const BinaryCase cases[] = {
      {{2, 3}, {2, 3}}, {{3, 4}, {4}}, {{4}, {3, 4}},       {{3, 4}, {3, 1}},
      {{2, 3}, {}},     {{}, {2, 3}},  {{2, 1, 4}, {3, 1}}, {{2, 3, 4}, {1, 3, 1}},
  };
  uint64_t seed = 200;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const BinaryCase& test_case : cases) {
      SCOPED_TRACE(absl::StrCat(op, " ", test_case.a.ToString(), " ", test_case.b.ToString()));
      const Tensor a = Random(kF64, test_case.a, ++seed);
      const Tensor b = Random(kF64, test_case.b, ++seed, 0.5, 2);
      EXPECT_TRUE(CheckGradient(op, {}, {a, b}).ok()) << CheckGradient(op, {}, {a, b});
    }
  }
}

TEST(ElementwiseGradientTest, UnaryOps) {
  uint64_t seed = 300;
  for (const char* op : {"Neg", "Exp", "Log", "Sqrt", "Square"}) {
    // Log and Sqrt need positive inputs.
    const Tensor x = Random(kF64, {3, 4}, ++seed, 0.5, 2);
    EXPECT_TRUE(CheckGradient(op, {}, {x}).ok()) << CheckGradient(op, {}, {x});
  }
  const Tensor x = Random(kF64, {2, 5}, ++seed);
  const AttrMap attrs{{"scale", -1.75}};
  EXPECT_TRUE(CheckGradient("Scale", attrs, {x}).ok()) << CheckGradient("Scale", attrs, {x});
}

}  // namespace
}  // namespace sbpflow::testing
