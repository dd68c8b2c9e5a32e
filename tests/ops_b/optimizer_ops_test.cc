// Optimizer ops: schemas (no outputs, mutable inputs), shape and attr errors,
// and updates over three steps against values computed by hand from the
// formulas in PyTorch's documentation of torch.optim.SGD, Adam and AdamW.
//
// Every case starts from var = [1, -2] and feeds the gradients
// [0.5, 0.25], [-1, 2], [0, 1].
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "tests/ops_b/op_test_util.h"

namespace sbpflow::testing {
namespace {

// The update ops take the learning rate as their last input (a scalar). The
// tests name it like an attr ("lr") for readability; these move it into the
// inputs.
bool IsUpdate(const std::string& op) {
  return op == "SgdUpdate" || op == "MomentumUpdate" || op == "AdamUpdate";
}

AttrMap WithoutLr(const AttrMap& attrs) {
  AttrMap result;
  for (const auto& [name, value] : attrs.values()) {
    if (name != "lr") result.Set(name, value);
  }
  return result;
}

absl::StatusOr<std::vector<TensorType>> InferUpdate(const std::string& op, const AttrMap& attrs,
                                                    std::vector<TensorType> types) {
  if (IsUpdate(op) && attrs.Has("lr")) types.push_back(TensorType{DataType::kFloat32, Shape{}});
  return InferOp(op, WithoutLr(attrs), types);
}

absl::StatusOr<std::vector<Tensor>> RunUpdate(const std::string& op, const AttrMap& attrs,
                                              std::vector<Tensor> inputs) {
  if (IsUpdate(op) && attrs.Has("lr")) {
    const double lr = *attrs.GetFloat("lr");
    if (inputs[0].dtype() == DataType::kFloat32) {
      inputs.push_back(MakeTensor<float>(Shape{}, std::vector<float>{static_cast<float>(lr)}));
    } else {
      inputs.push_back(MakeTensor<double>(Shape{}, std::vector<double>{lr}));
    }
  }
  return RunOp(op, WithoutLr(attrs), inputs);
}

std::string InferError(const std::string& op, const AttrMap& attrs,
                       const std::vector<TensorType>& types) {
  auto outputs = InferUpdate(op, attrs, types);
  return outputs.ok() ? "ok" : std::string(outputs.status().message());
}

TensorType F32(Shape shape) { return {DataType::kFloat32, std::move(shape)}; }

const std::vector<std::vector<double>> kGrads = {{0.5, 0.25}, {-1, 2}, {0, 1}};

template <typename T>
Tensor Values(const std::vector<double>& values) {
  return MakeTensor<T>(Shape{static_cast<int64_t>(values.size())},
                       std::vector<T>(values.begin(), values.end()));
}

template <typename T>
void ExpectValues(const Tensor& tensor, const std::vector<double>& expected, double tolerance,
                  const std::string& what) {
  const std::vector<T> actual = tensor.ToVector<T>();
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << what << " element " << i;
  }
}

// ---------------------------------------------------------------- schemas

TEST(OptimizerSchemaTest, UpdatesHaveNoOutputsAndDeclareMutableInputs) {
  const std::vector<std::pair<std::string, std::vector<int>>> expected = {
      {"SgdUpdate", {0}},
      {"MomentumUpdate", {0, 2}},
      {"AdamUpdate", {0, 2, 3}},
      {"IncrementStep", {0}},
      {"ClipFactor", {}}};
  for (const auto& [op, mutable_inputs] : expected) {
    const OpDef* def = Builtin().ops.Find(op);
    ASSERT_NE(def, nullptr) << op;
    EXPECT_EQ(def->mutable_inputs, mutable_inputs) << op;
    EXPECT_FALSE(def->gradient) << op;
  }
  const TensorType var = F32({4, 3});
  const TensorType scalar = F32({});
  auto sgd = InferUpdate("SgdUpdate", AttrMap{{"lr", 0.1}}, {var, var});
  ASSERT_TRUE(sgd.ok()) << sgd.status();
  EXPECT_TRUE(sgd->empty());
  auto momentum =
      InferUpdate("MomentumUpdate", AttrMap{{"lr", 0.1}, {"momentum", 0.9}}, {var, var, var});
  ASSERT_TRUE(momentum.ok()) << momentum.status();
  EXPECT_TRUE(momentum->empty());
  // The step counter may be f64 while var is f32.
  auto adam = InferUpdate("AdamUpdate", AttrMap{{"lr", 0.1}},
                      {var, var, var, var, {DataType::kFloat64, Shape{}}});
  ASSERT_TRUE(adam.ok()) << adam.status();
  EXPECT_TRUE(adam->empty());
  auto increment = InferOp("IncrementStep", {}, {scalar});
  ASSERT_TRUE(increment.ok()) << increment.status();
  EXPECT_TRUE(increment->empty());
  auto clip = InferOp("ClipFactor", AttrMap{{"clip_norm", 1.0}}, {scalar});
  ASSERT_TRUE(clip.ok()) << clip.status();
  EXPECT_EQ(*clip, std::vector<TensorType>{scalar});
}

TEST(OptimizerSchemaTest, InputErrors) {
  const TensorType var = F32({4, 3});
  EXPECT_EQ(InferError("SgdUpdate", AttrMap{{"lr", 0.1}}, {var, F32({4})}),
            "node 'op' (SgdUpdate): input 'grad' must be f32[4,3] like input 'var', got f32[4]");
  EXPECT_EQ(InferError("SgdUpdate", AttrMap{{"lr", 0.1}},
                       {{DataType::kInt32, Shape{4}}, {DataType::kInt32, Shape{4}}}),
            "node 'op' (SgdUpdate): input 'var' must be floating point, got i32[4]");
  EXPECT_EQ(InferError("MomentumUpdate", AttrMap{{"lr", 0.1}, {"momentum", 0.9}},
                       {var, var, {DataType::kFloat64, Shape{4, 3}}}),
            "node 'op' (MomentumUpdate): input 'velocity' must be f32[4,3] like input 'var', got "
            "f64[4,3]");
  EXPECT_EQ(InferError("AdamUpdate", AttrMap{{"lr", 0.1}}, {var, var, var, F32({3, 4}), F32({})}),
            "node 'op' (AdamUpdate): input 'v' must be f32[4,3] like input 'var', got f32[3,4]");
  EXPECT_EQ(InferError("AdamUpdate", AttrMap{{"lr", 0.1}}, {var, var, var, var, F32({1})}),
            "node 'op' (AdamUpdate): input 'step' must be a floating-point scalar, got f32[1]");
  EXPECT_EQ(InferError("IncrementStep", {}, {{DataType::kInt64, Shape{}}}),
            "node 'op' (IncrementStep): input 'step' must be a floating-point scalar, got i64[]");
  EXPECT_EQ(InferError("ClipFactor", AttrMap{{"clip_norm", 1.0}}, {F32({2})}),
            "node 'op' (ClipFactor): input 'sum_squares' must be a floating-point scalar, got "
            "f32[2]");
}

TEST(OptimizerSchemaTest, AttrErrors) {
  const TensorType var = F32({4});
  EXPECT_EQ(InferError("SgdUpdate", {}, {var, var}),
            "node 'op' (SgdUpdate): inputs: expected 3 input(s), got 2");
  EXPECT_EQ(InferError("SgdUpdate", {}, {var, var, F32({1})}),
            "node 'op' (SgdUpdate): input 'lr' must be a floating-point scalar, got f32[1]");
  EXPECT_EQ(InferError("SgdUpdate", AttrMap{{"lr", 0.1}, {"weight_decay", -1.0}}, {var, var}),
            "node 'op' (SgdUpdate): attr 'weight_decay' must be >= 0, got -1");
  EXPECT_EQ(InferError("MomentumUpdate", AttrMap{{"lr", 0.1}}, {var, var, var}),
            "node 'op' (MomentumUpdate): attr 'momentum' is missing");
  EXPECT_EQ(
      InferError("MomentumUpdate", AttrMap{{"lr", 0.1}, {"momentum", 0.0}, {"nesterov", true}},
                 {var, var, var}),
      "node 'op' (MomentumUpdate): attr 'nesterov' requires attr 'momentum' > 0");
  const std::vector<TensorType> adam_inputs = {var, var, var, var, F32({})};
  EXPECT_EQ(InferError("AdamUpdate", AttrMap{{"lr", 0.1}, {"beta1", 1.0}}, adam_inputs),
            "node 'op' (AdamUpdate): attr 'beta1' must be in [0, 1), got 1");
  EXPECT_EQ(InferError("AdamUpdate", AttrMap{{"lr", 0.1}, {"beta2", -0.5}}, adam_inputs),
            "node 'op' (AdamUpdate): attr 'beta2' must be in [0, 1), got -0.5");
  EXPECT_EQ(InferError("AdamUpdate", AttrMap{{"lr", 0.1}, {"epsilon", -1e-8}}, adam_inputs),
            "node 'op' (AdamUpdate): attr 'epsilon' must be >= 0, got -1e-08");
  EXPECT_EQ(InferError("ClipFactor", AttrMap{{"clip_norm", 0.0}}, {F32({})}),
            "node 'op' (ClipFactor): attr 'clip_norm' must be > 0, got 0");
}

TEST(OptimizerSchemaTest, FlopsArePerVarElement) {
  const TensorType var = F32({4, 3});
  EXPECT_EQ(EstimateFlops(*Builtin().ops.Find("SgdUpdate"), "op", {var, var, F32({})},
                          AttrMap{{"weight_decay", 0.0}}, {}),
            36);
  EXPECT_EQ(EstimateFlops(*Builtin().ops.Find("AdamUpdate"), "op",
                          {var, var, var, var, F32({}), F32({})}, AttrMap{}, {}),
            144);
}

// ------------------------------------------------------------------- SGD

TEST(SgdUpdateTest, PlainSgdWithWeightDecay) {
  // var -= 0.1 (grad + 0.01 var).
  const std::vector<std::vector<double>> expected = {
      {0.949, -2.023}, {1.048051, -2.220977}, {1.047002949, -2.318756023}};
  Tensor var = Values<double>({1, -2});
  for (int step = 0; step < 3; ++step) {
    auto result = RunUpdate("SgdUpdate", AttrMap{{"lr", 0.1}, {"weight_decay", 0.01}},
                        {var, Values<double>(kGrads[step])});
    ASSERT_TRUE(result.ok()) << result.status();
    ExpectValues<double>(var, expected[step], 1e-15, "var");
  }
}

TEST(SgdUpdateTest, WithoutWeightDecayIsExact) {
  Tensor var = Values<float>({1, -2});
  ASSERT_TRUE(RunUpdate("SgdUpdate", AttrMap{{"lr", 0.5}}, {var, Values<float>({0.5, 0.25})}).ok());
  EXPECT_EQ(var.ToVector<float>(), (std::vector<float>{0.75, -2.125}));
}

// g = grad + 0.01 var; v = 0.9 v + g; var -= 0.1 (nesterov ? g + 0.9 v : v).
struct MomentumCase {
  bool nesterov;
  std::vector<std::vector<double>> var;
  std::vector<std::vector<double>> velocity;
};

TEST(MomentumUpdateTest, MomentumAndNesterovWithWeightDecay) {
  const std::vector<MomentumCase> cases = {
      {false,
       {{0.949, -2.023}, {1.002151, -2.241677}, {1.048984749, -2.536244623}},
       {{0.51, 0.23}, {-0.53151, 2.18677}, {-0.46833749, 2.94567623}}},
      {true,
       {{0.9031, -2.0437}, {1.05007411, -2.43844697}, {1.091168458191, -2.800925523757}},
       {{0.51, 0.23}, {-0.531969, 2.186563}, {-0.4682713589, 2.9435222303}}},
  };
  for (const MomentumCase& test_case : cases) {
    SCOPED_TRACE(test_case.nesterov ? "nesterov" : "momentum");
    const AttrMap attrs{
        {"lr", 0.1}, {"momentum", 0.9}, {"nesterov", test_case.nesterov}, {"weight_decay", 0.01}};
    Tensor var = Values<double>({1, -2});
    Tensor velocity = Values<double>({0, 0});
    Tensor var32 = Values<float>({1, -2});
    Tensor velocity32 = Values<float>({0, 0});
    for (int step = 0; step < 3; ++step) {
      auto result = RunUpdate("MomentumUpdate", attrs, {var, Values<double>(kGrads[step]), velocity});
      ASSERT_TRUE(result.ok()) << result.status();
      ExpectValues<double>(var, test_case.var[step], 1e-15, "var");
      ExpectValues<double>(velocity, test_case.velocity[step], 1e-15, "velocity");
      auto result32 =
          RunUpdate("MomentumUpdate", attrs, {var32, Values<float>(kGrads[step]), velocity32});
      ASSERT_TRUE(result32.ok()) << result32.status();
      ExpectValues<float>(var32, test_case.var[step], 1e-6, "f32 var");
    }
  }
}

// ------------------------------------------------------------------ Adam

// lr = 0.01, betas (0.9, 0.999), eps 1e-8; weight decay 0.1 coupled (Adam) or
// decoupled (AdamW), or none. `step` counts completed updates and is
// incremented by IncrementStep after each update, as the optimizer builder
// wires it.
struct AdamCase {
  std::string name;
  double weight_decay;
  bool decoupled;
  std::vector<std::vector<double>> var;
  std::vector<std::vector<double>> m;
  std::vector<std::vector<double>> v;
};

TEST(AdamUpdateTest, AdamAndAdamWOverThreeSteps) {
  const std::vector<AdamCase> cases = {
      {"adam",
       0.1,
       false,
       {{0.9900000001666667, -2.0099999980000005},
        {0.9924819887658624, -2.017624562456657},
        {0.993808924557659, -2.025602899695977}},
       {{0.06, 0.005},
        {-0.0360999999983333, 0.18440000002},
        {-0.022565180110841382, 0.24578375439343336}},
       {{0.00036, 2.5e-06},
        {0.0011714409999699679, 0.0032388985007196025},
        {0.0011801197639502443, 0.0038728427784778365}}},
      {"adamw",
       0.1,
       true,
       {{0.9890000002, -2.0079999996},
        {0.9916720354238566, -2.0142066571261106},
        {0.9935103542193952, -2.0207205380523234}},
       {{0.05, 0.025}, {-0.055, 0.2225}, {-0.0495, 0.30025}},
       {{0.00025, 6.25e-05}, {0.00124975, 0.0040624375}, {0.00124850025, 0.0050583750625}}},
      {"no decay",
       0,
       false,
       {{0.9900000002, -2.0099999996},
        {0.9936610354240566, -2.0182146571257107},
        {0.996491026255019, -2.0267427447090496}},
       {{0.05, 0.025}, {-0.055, 0.2225}, {-0.0495, 0.30025}},
       {{0.00025, 6.25e-05}, {0.00124975, 0.0040624375}, {0.00124850025, 0.0050583750625}}},
  };
  for (const AdamCase& test_case : cases) {
    SCOPED_TRACE(test_case.name);
    const AttrMap attrs{
        {"lr", 0.01}, {"weight_decay", test_case.weight_decay}, {"decoupled", test_case.decoupled}};
    Tensor var = Values<double>({1, -2});
    Tensor m = Values<double>({0, 0});
    Tensor v = Values<double>({0, 0});
    Tensor step = MakeTensor<double>(Shape{}, {0});
    // The f32 run keeps its counter in f32.
    Tensor var32 = Values<float>({1, -2});
    Tensor m32 = Values<float>({0, 0});
    Tensor v32 = Values<float>({0, 0});
    Tensor step32 = MakeTensor<float>(Shape{}, {0});
    for (int t = 0; t < 3; ++t) {
      auto result = RunUpdate("AdamUpdate", attrs, {var, Values<double>(kGrads[t]), m, v, step});
      ASSERT_TRUE(result.ok()) << result.status();
      ASSERT_TRUE(RunUpdate("IncrementStep", {}, {step}).ok());
      EXPECT_EQ(step.data<double>()[0], t + 1);
      ExpectValues<double>(var, test_case.var[t], 1e-14, "var");
      ExpectValues<double>(m, test_case.m[t], 1e-14, "m");
      ExpectValues<double>(v, test_case.v[t], 1e-14, "v");

      auto result32 =
          RunUpdate("AdamUpdate", attrs, {var32, Values<float>(kGrads[t]), m32, v32, step32});
      ASSERT_TRUE(result32.ok()) << result32.status();
      ASSERT_TRUE(RunUpdate("IncrementStep", {}, {step32}).ok());
      ExpectValues<float>(var32, test_case.var[t], 1e-6, "f32 var");
    }
  }
}

// The step input is read with its own dtype: an f32 counter drives an f64
// variable the same way as an f64 counter.
TEST(AdamUpdateTest, StepCounterMayHaveAnotherDtype) {
  Tensor var = Values<double>({1, -2});
  Tensor m = Values<double>({0.05, 0.025});
  Tensor v = Values<double>({0.00025, 6.25e-05});
  Tensor step = MakeTensor<float>(Shape{}, {1});
  auto result =
      RunUpdate("AdamUpdate", AttrMap{{"lr", 0.01}}, {var, Values<double>(kGrads[1]), m, v, step});
  ASSERT_TRUE(result.ok()) << result.status();
  // The second "no decay" step from var = [1, -2]: var moves by the same
  // amounts as in the three-step case.
  ExpectValues<double>(
      var, {1 + (0.9936610354240566 - 0.9900000002), -2 + (-2.0182146571257107 + 2.0099999996)},
      1e-14, "var");
  EXPECT_EQ(step.data<float>()[0], 1);
}

// ------------------------------------------------------- step and clipping

TEST(IncrementStepTest, AddsOne) {
  Tensor step = MakeTensor<float>(Shape{}, {41});
  ASSERT_TRUE(RunUpdate("IncrementStep", {}, {step}).ok());
  EXPECT_EQ(step.data<float>()[0], 42);
}

TEST(ClipFactorTest, IsMinOfOneAndClipNormOverNorm) {
  // sum of squares 16: the norm is 4.
  auto clipped =
      RunUpdate("ClipFactor", AttrMap{{"clip_norm", 2.0}}, {MakeTensor<double>(Shape{}, {16})});
  ASSERT_TRUE(clipped.ok()) << clipped.status();
  EXPECT_NEAR((*clipped)[0].data<double>()[0], 2 / (4 + 1e-6), 1e-16);
  auto unclipped =
      RunUpdate("ClipFactor", AttrMap{{"clip_norm", 10.0}}, {MakeTensor<float>(Shape{}, {16})});
  ASSERT_TRUE(unclipped.ok()) << unclipped.status();
  EXPECT_EQ((*unclipped)[0].data<float>()[0], 1.0f);
  // A zero gradient is never scaled up.
  auto zero = RunUpdate("ClipFactor", AttrMap{{"clip_norm", 1.0}}, {MakeTensor<float>(Shape{}, {0})});
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ((*zero)[0].data<float>()[0], 1.0f);
  // A non-finite norm yields a non-finite factor, as in PyTorch.
  auto nan = RunUpdate("ClipFactor", AttrMap{{"clip_norm", 1.0}},
                   {MakeTensor<double>(Shape{}, {std::nan("")})});
  ASSERT_TRUE(nan.ok()) << nan.status();
  EXPECT_TRUE(std::isnan((*nan)[0].data<double>()[0]));
}

}  // namespace
}  // namespace sbpflow::testing
