// Reshape without a copy: the runtime publishes a Reshape's input buffer
// under the output shape unless an op writes either value in place
// (actor_graph.h, ActorWiring::aliases_input).
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actor/actor_graph.h"
#include "gtest/gtest.h"
#include "tests/actor/actor_testing.h"

namespace sbpflow::testing {
namespace {

TensorType F32(Shape shape) { return TensorType{DataType::kFloat32, std::move(shape)}; }

FetchSpec WholeFetch(std::string name, int op, const TensorType& type) {
  FetchSpec fetch;
  fetch.name = std::move(name);
  fetch.logical = type;
  fetch.sources = {PlanValue{op, 0}};
  fetch.boxes = {FullBox(type.shape)};
  return fetch;
}

// x [2,3] -> Reshape [3,2] -> TestAffine (x2 + 1), both fetched.
PhysicalPlan ReshapeChain() {
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{2, 3})));                      // 0
  plan.ops.push_back(MakeOp("reshape", "Reshape", {{0, 0}}, {F32(Shape{3, 2})}));  // 1
  plan.ops.back().attrs = AttrMap{{"shape", Shape{3, 2}}};
  plan.ops.push_back(MakeOp("affine", "TestAffine", {{1, 0}}, {F32(Shape{3, 2})}));  // 2
  plan.ops.back().attrs = AttrMap{{"scale", 2.0}, {"shift", 1.0}};
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{2, 3})});
  plan.fetches.push_back(WholeFetch("reshaped", 1, F32(Shape{3, 2})));
  plan.fetches.push_back(WholeFetch("affine", 2, F32(Shape{3, 2})));
  return plan;
}

// w [4] (ones) -> Reshape [2,2] -> late_reader, which runs after TestSgd has
// written w in place (a control edge orders it).
PhysicalPlan ReshapeOfUpdatedVariable() {
  PhysicalPlan plan;
  plan.devices = {Device{}};
  PlanOp w =
      MakeOp("w", "Variable", {}, {F32(Shape{4})}, Frequency::kPerStep, PlanOpKind::kVariable);
  w.variable = "w";
  w.box = {{0, 4}};
  plan.ops.push_back(w);  // 0
  plan.ops.push_back(
      MakeOp("reshape", "Reshape", {{0, 0}}, {F32(Shape{2, 2})}, Frequency::kPerStep));  // 1
  plan.ops.back().attrs = AttrMap{{"shape", Shape{2, 2}}};
  plan.ops.push_back(MakeOp("grad", "Const", {}, {F32(Shape{4})}, Frequency::kPerStep));  // 2
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1, 2, 3, 4}}};
  PlanOp update = MakeOp("update", "TestSgd", {{0, 0}, {2, 0}}, {}, Frequency::kPerStep);
  update.attrs = AttrMap{{"lr", 1.0}};
  update.mutable_inputs = {0};
  plan.ops.push_back(update);  // 3
  plan.ops.push_back(
      MakeOp("late_reader", "TestAffine", {{1, 0}}, {F32(Shape{2, 2})}, Frequency::kPerStep));
  plan.ops.back().attrs = AttrMap{{"scale", 1.0}, {"shift", 0.0}};
  plan.ops.back().control_inputs = {3};  // 4
  plan.variables.push_back(VariableSpec{"w", F32(Shape{4}), "ones", 0, true, {0}});
  plan.fetches.push_back(WholeFetch("late", 4, F32(Shape{2, 2})));
  return plan;
}

TEST(RuntimeAliasTest, ReshapeAliasesUnlessAValueIsWrittenInPlace) {
  const KernelRegistry kernels = TestKernelRegistry();
  auto chain = BuildActorGraph(ReshapeChain(), kernels);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_FALSE(chain->actors[0].aliases_input);
  EXPECT_TRUE(chain->actors[1].aliases_input);
  EXPECT_FALSE(chain->actors[2].aliases_input);
  auto updated = BuildActorGraph(ReshapeOfUpdatedVariable(), kernels);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_FALSE(updated->actors[1].aliases_input);
}

class RuntimeAliasValuesTest : public ::testing::TestWithParam<int> {
 protected:
  RuntimeOptions Options() const {
    RuntimeOptions options;
    options.threads = GetParam();
    return options;
  }

  CpuAllocator allocator_;
  KernelRegistry kernels_ = TestKernelRegistry();
};

TEST_P(RuntimeAliasValuesTest, AliasedReshapeCarriesItsInput) {
  auto harness = MakeRuntime(ReshapeChain(), &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  for (int step = 0; step < 3; ++step) {
    const float base = static_cast<float>(step);
    const Tensor x = Tensor::FromVector(
        &allocator_, Shape{2, 3},
        std::vector<float>{base, base + 1, base + 2, base + 3, base + 4, base + 5});
    auto result = (*harness)->runtime->RunStep({{"x", x}});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->fetches.at("reshaped").shape(), Shape({3, 2}));
    EXPECT_EQ(Floats(result->fetches.at("reshaped")), Floats(x)) << "step " << step;
    std::vector<float> affine;
    for (float value : Floats(x)) affine.push_back(2 * value + 1);
    EXPECT_EQ(Floats(result->fetches.at("affine")), affine) << "step " << step;
  }
}

// Were the reshape an alias of w, the late reader would see the updated
// values; it must see the values of the step's start.
TEST_P(RuntimeAliasValuesTest, ReshapeOfAValueWrittenInPlaceKeepsItsOwnCopy) {
  auto harness = MakeRuntime(ReshapeOfUpdatedVariable(), &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  std::vector<float> value = {1, 1, 1, 1};
  for (int step = 0; step < 2; ++step) {
    auto result = (*harness)->runtime->RunStep({});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(Floats(result->fetches.at("late")), value) << "step " << step;
    value = {value[0] - 1, value[1] - 2, value[2] - 3, value[3] - 4};
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, RuntimeAliasValuesTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Threads");
                         });

}  // namespace
}  // namespace sbpflow::testing
