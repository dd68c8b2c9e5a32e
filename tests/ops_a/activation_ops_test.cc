#include <cmath>
#include <functional>

#include "graph/autodiff.h"
#include "tests/ops_a/op_test_util.h"

namespace sbpflow::testing {
namespace {

constexpr DataType kF32 = DataType::kFloat32;
constexpr DataType kF64 = DataType::kFloat64;

double GeluReference(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Central difference of the reference GeLU, accurate to ~1e-10 in double.
double GeluDerivativeReference(double x) {
  const double h = 1e-5;
  return (GeluReference(x + h) - GeluReference(x - h)) / (2 * h);
}

// ---- Shape and dtype inference ----

TEST(ActivationShapeTest, ActivationsKeepTheInputType) {
  for (const char* op : {"Relu", "Gelu", "Tanh"}) {
    EXPECT_EQ(InferOne(op, {{kF32, {2, 3}}}), (TensorType{kF32, {2, 3}})) << op;
    EXPECT_EQ(InferOne(op, {{kF64, {}}}), (TensorType{kF64, {}})) << op;
  }
  for (const char* op : {"ReluGrad", "GeluGrad", "TanhGrad"}) {
    EXPECT_EQ(InferOne(op, {{kF32, {4, 5}}, {kF32, {4, 5}}}), (TensorType{kF32, {4, 5}})) << op;
  }
}

TEST(ActivationShapeTest, Errors) {
  EXPECT_EQ(InferError("Relu", {{DataType::kInt32, {3}}}),
            "input 'x' must be floating point, got i32[3]");
  EXPECT_EQ(InferError("ReluGrad", {{kF32, {2, 3}}, {kF32, {3, 2}}}),
            "inputs 'dy' and 'y' must have the same type, got f32[2,3] and f32[3,2]");
  EXPECT_EQ(InferError("TanhGrad", {{kF32, {2}}, {kF64, {2}}}),
            "inputs 'dy' and 'y' must have the same type, got f32[2] and f64[2]");
  EXPECT_EQ(InferError("GeluGrad", {{kF32, {2, 3}}, {kF32, {3}}}),
            "inputs 'dy' and 'x' must have the same type, got f32[2,3] and f32[3]");
  EXPECT_EQ(InferError("GeluGrad", {{DataType::kInt64, {2}}, {DataType::kInt64, {2}}}),
            "input 'dy' must be floating point, got i64[2]");
}

// docs/ops.md: gradient ops have no gradient of their own.
TEST(ActivationShapeTest, GradientOpsAreNotDifferentiable) {
  for (const char* op : {"ReluGrad", "GeluGrad", "TanhGrad"}) {
    ASSERT_NE(Ops().Find(op), nullptr) << op;
    EXPECT_FALSE(Ops().Find(op)->gradient) << op;
  }
  for (const char* op : {"Relu", "Gelu", "Tanh"}) EXPECT_TRUE(Ops().Find(op)->gradient) << op;
}

// ---- Kernels against references ----

TEST(ActivationKernelTest, HandComputedValues) {
  const Tensor x = Tensor::FromVector<double>(TestAllocator(), {5}, {-2, -0.5, 0, 0.5, 3});
  EXPECT_EQ(RunOne("Relu", {}, {x}).ToVector<double>(), (std::vector<double>{0, 0, 0, 0.5, 3}));
  // GeLU(1) with the tanh approximation (PyTorch approximate="tanh").
  const Tensor one = Tensor::FromVector<double>(TestAllocator(), {1}, {1.0});
  EXPECT_NEAR(RunOne("Gelu", {}, {one}).ToVector<double>()[0], 0.8411919906082768, 1e-15);
  const Tensor dy = Tensor::FromVector<double>(TestAllocator(), {5}, {1, 2, 3, 4, 5});
  EXPECT_EQ(RunOne("ReluGrad", {}, {dy, RunOne("Relu", {}, {x})}).ToVector<double>(),
            (std::vector<double>{0, 0, 0, 4, 5}));
  const Tensor y = Tensor::FromVector<double>(TestAllocator(), {2}, {0.5, -0.25});
  const Tensor dy2 = Tensor::FromVector<double>(TestAllocator(), {2}, {2, 4});
  EXPECT_EQ(RunOne("TanhGrad", {}, {dy2, y}).ToVector<double>(),
            (std::vector<double>{2 * 0.75, 4 * (1 - 0.0625)}));
}

// Far in the tails exp overflows; GeLU and its derivative must still be 0 or x
// (and 0 or 1), never NaN.
TEST(ActivationKernelTest, GeluTailsStayFinite) {
  const std::vector<double> tails = {-1000, -100, -20, 20, 100, 1000};
  const std::vector<double> gelu = {0, 0, 0, 20, 100, 1000};
  const std::vector<double> derivative = {0, 0, 0, 1, 1, 1};
  for (DataType dtype : {kF32, kF64}) {
    SCOPED_TRACE(DataTypeName(dtype));
    Tensor x(TestAllocator(), dtype, {6});
    Tensor ones(TestAllocator(), dtype, {6});
    for (int i = 0; i < 6; ++i) {
      if (dtype == kF32) {
        x.data<float>()[i] = static_cast<float>(tails[i]);
        ones.data<float>()[i] = 1;
      } else {
        x.data<double>()[i] = tails[i];
        ones.data<double>()[i] = 1;
      }
    }
    ExpectValuesNear(RunOne("Gelu", {}, {x}), x.shape(), gelu, 1e-6);
    ExpectValuesNear(RunOne("GeluGrad", {}, {ones, x}), x.shape(), derivative, 1e-6);
  }
}

TEST(ActivationKernelTest, ForwardMatchesReferences) {
  const std::pair<const char*, std::function<double(double)>> ops[] = {
      {"Relu", [](double x) { return x > 0 ? x : 0; }},
      {"Gelu", GeluReference},
      {"Tanh", [](double x) { return std::tanh(x); }},
  };
  uint64_t seed = 1;
  for (DataType dtype : {kF32, kF64}) {
    for (const auto& [op, reference] : ops) {
      SCOPED_TRACE(absl::StrCat(op, " ", DataTypeName(dtype)));
      const Tensor x = Random(dtype, {7, 37}, ++seed, -4, 4);
      std::vector<double> expected = ToDoubles(x);
      for (double& value : expected) value = reference(value);
      ExpectValuesNear(RunOne(op, {}, {x}), x.shape(), expected, ToleranceFor(dtype));
    }
  }
}

TEST(ActivationKernelTest, GradientOpsMatchReferences) {
  uint64_t seed = 50;
  for (DataType dtype : {kF32, kF64}) {
    SCOPED_TRACE(DataTypeName(dtype));
    const Tensor dy = Random(dtype, {3, 41}, ++seed, -2, 2);
    const Tensor x = Random(dtype, {3, 41}, ++seed, -4, 4);
    const std::vector<double> dy_values = ToDoubles(dy);
    const std::vector<double> x_values = ToDoubles(x);
    std::vector<double> relu(x_values.size());
    std::vector<double> gelu(x_values.size());
    std::vector<double> tanh(x_values.size());
    for (size_t i = 0; i < x_values.size(); ++i) {
      relu[i] = x_values[i] > 0 ? dy_values[i] : 0;
      gelu[i] = dy_values[i] * GeluDerivativeReference(x_values[i]);
      tanh[i] = dy_values[i] * (1 - x_values[i] * x_values[i]);
    }
    // ReluGrad and TanhGrad take the forward output; x stands in for it.
    ExpectValuesNear(RunOne("ReluGrad", {}, {dy, x}), x.shape(), relu, ToleranceFor(dtype));
    ExpectValuesNear(RunOne("TanhGrad", {}, {dy, x}), x.shape(), tanh, ToleranceFor(dtype));
    // The finite-difference reference is good to ~1e-9.
    ExpectValuesNear(RunOne("GeluGrad", {}, {dy, x}), x.shape(), gelu, dtype == kF32 ? 2e-5 : 1e-8);
  }
}

TEST(ActivationKernelTest, Float32RunsAreBitIdentical) {
  const Tensor x = Random(kF32, {33, 65}, 9, -3, 3);
  const Tensor dy = Random(kF32, {33, 65}, 10);
  for (const char* op : {"Relu", "Gelu", "Tanh"}) {
    EXPECT_TRUE(BitIdentical(RunOne(op, {}, {x}), RunOne(op, {}, {x}))) << op;
  }
  for (const char* op : {"ReluGrad", "GeluGrad", "TanhGrad"}) {
    EXPECT_TRUE(BitIdentical(RunOne(op, {}, {dy, x}), RunOne(op, {}, {dy, x}))) << op;
  }
}

// ---- Finite-difference gradients ----

TEST(ActivationGradientTest, AllActivations) {
  uint64_t seed = 100;
  for (const char* op : {"Relu", "Gelu", "Tanh"}) {
    for (const Shape& shape : {Shape{}, Shape{3, 4}, Shape{2, 3, 5}}) {
      SCOPED_TRACE(absl::StrCat(op, " ", shape.ToString()));
      const Tensor x = Random(kF64, shape, ++seed, -3, 3);
      EXPECT_TRUE(CheckGradient(op, {}, {x}).ok()) << CheckGradient(op, {}, {x});
    }
  }
}

TEST(ActivationGradientTest, GradientsUseTheDedicatedOps) {
  Graph graph;
  GraphBuilder builder(&graph, &Ops());
  auto x = builder.Add("Placeholder", {}, AttrMap{{"shape", Shape{4}}, {"dtype", kF64}}, "x");
  ASSERT_TRUE(x.ok());
  for (const auto& [op, grad_op] : {std::pair{"Relu", "ReluGrad"}, std::pair{"Gelu", "GeluGrad"},
                                    std::pair{"Tanh", "TanhGrad"}}) {
    auto y = builder.Add(op, {*x});
    ASSERT_TRUE(y.ok());
    auto loss = builder.Add("ReduceSum", {*y});
    ASSERT_TRUE(loss.ok());
    const int before = graph.num_nodes();
    auto grads = BuildGradients(&graph, Ops(), *loss, {*x});
    ASSERT_TRUE(grads.ok()) << grads.status();
    ASSERT_TRUE((*grads)[0].has_value());
    EXPECT_EQ(graph.node((*grads)[0]->node).op, grad_op);
    // The forward tensor the gradient op reads: y for Relu/Tanh, x for Gelu.
    const TensorRef forward = std::string(op) == "Gelu" ? *x : *y;
    EXPECT_EQ(graph.node((*grads)[0]->node).inputs[1], forward);
    EXPECT_GT(graph.num_nodes(), before);
  }
}

}  // namespace
}  // namespace sbpflow::testing
