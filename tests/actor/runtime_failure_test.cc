// Errors: plans the runtime refuses at Create, bad feeds, and kernel errors
// that fail a step (exact messages, no hang, no work left running).
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/actor/actor_testing.h"

namespace sbpflow::testing {
namespace {

const TensorType kScalar{DataType::kFloat32, Shape{}};

TensorType F32(Shape shape) { return TensorType{DataType::kFloat32, std::move(shape)}; }

PhysicalPlan OneDevicePlan(int micro_batches) {
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.micro_batches = micro_batches;
  return plan;
}

class RuntimeCreateTest : public ::testing::Test {
 protected:
  absl::Status CreateStatus(PhysicalPlan plan) {
    return MakeRuntime(std::move(plan), &kernels_, RuntimeOptions{}).status();
  }

  KernelRegistry kernels_ = TestKernelRegistry();
};

TEST_F(RuntimeCreateTest, MissingKernel) {
  PhysicalPlan plan = OneDevicePlan(1);
  plan.ops.push_back(MakeOp("c", "Const", {}, {kScalar}));
  plan.ops.push_back(MakeOp("mm", "MatMulOfTheFuture", {{0, 0}, {0, 0}}, {kScalar}));
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'mm': no cpu kernel for MatMulOfTheFuture (f32)"));
  plan.ops[1].outputs = {TensorType{DataType::kFloat64, Shape{}}};
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'mm': no cpu kernel for MatMulOfTheFuture (f64)"));
}

TEST_F(RuntimeCreateTest, PerMicroBatchIntoPerStepNeedsAnAccumulateOp) {
  PhysicalPlan plan = OneDevicePlan(4);
  plan.ops.push_back(MakeOp("grad", "Const", {}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1}}};
  plan.ops.push_back(MakeOp("apply", "TestAffine", {{0, 0}}, {kScalar}, Frequency::kPerStep));
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError(
                "op 'apply': (per-step) reads 'grad' (per-micro-batch) over 4 micro-batches; "
                "only an accumulate op can combine micro-batches"));
  // With one micro-batch the edge is one to one.
  plan.micro_batches = 1;
  EXPECT_TRUE(CreateStatus(plan).ok());
  // An accumulate op in between is the way.
  plan.micro_batches = 4;
  plan.ops.insert(plan.ops.begin() + 1, MakeOp("sum", "Accumulate", {{0, 0}}, {kScalar},
                                               Frequency::kPerStep, PlanOpKind::kAccumulate));
  plan.ops[2].inputs = {{1, 0}};
  EXPECT_TRUE(CreateStatus(plan).ok());
  plan.ops[1].frequency = Frequency::kPerMicroBatch;
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'sum': an accumulate op must be per-step"));
}

TEST_F(RuntimeCreateTest, MalformedOps) {
  PhysicalPlan plan = OneDevicePlan(1);
  plan.ops.push_back(MakeOp("c", "Const", {}, {kScalar}));
  plan.ops.back().registers = 0;
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'c': registers must be at least 1, got 0"));
  plan.ops.back().registers = 2;
  plan.ops.push_back(MakeOp("a", "TestAffine", {{2, 0}}, {kScalar}));
  EXPECT_EQ(CreateStatus(plan), absl::InvalidArgumentError(
                                    "op 'a': input 0 refers to op 2, which does not precede it"));
  plan.ops.back().inputs = {{0, 1}};
  EXPECT_EQ(
      CreateStatus(plan),
      absl::InvalidArgumentError("op 'a': input 0 reads output 1 of 'c', which has 1 output(s)"));
  plan.ops.back().inputs = {{0, 0}};
  plan.ops.back().device = 1;
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'a': device 1 is not in the plan (1 device(s))"));
}

TEST_F(RuntimeCreateTest, TwoOpsWritingOneValueInPlace) {
  PhysicalPlan plan = OneDevicePlan(1);
  plan.ops.push_back(MakeOp("v", "Const", {}, {F32(Shape{2})}));
  for (const char* name : {"u1", "u2"}) {
    plan.ops.push_back(MakeOp(name, "TestSgd", {{0, 0}, {0, 0}}, {}));
    plan.ops.back().mutable_inputs = {0};
  }
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("ops 'u1' and 'u2' both write output 0 of 'v' in place"));
}

TEST_F(RuntimeCreateTest, FeedsAndPlaceholders) {
  PhysicalPlan plan = OneDevicePlan(4);
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{2, 3})));
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{10, 3})});
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("feed 'x': batch 10 does not split into 4 micro-batches"));
  plan.feeds[0].logical.shape = Shape{8, 3};
  EXPECT_TRUE(CreateStatus(plan).ok());
  plan.ops[0].box = {{1, 2}, {0, 3}};
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'x': output f32[2,3] does not match its box "
                                       "[1,2)x[0,3) of feed 'x' (f32[1,3])"));
  plan.ops[0].box = {{0, 3}, {0, 3}};
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'x': box [0,3)x[0,3) is not inside one micro-batch of "
                                       "feed 'x' ([2,3])"));
  plan.ops[0].feed = "y";
  EXPECT_EQ(CreateStatus(plan), absl::InvalidArgumentError("op 'x': feed 'y' is not in the plan"));
}

TEST_F(RuntimeCreateTest, DevicesVariablesAndCommunicator) {
  PhysicalPlan plan = OneDevicePlan(1);
  plan.ops.push_back(MakeOp("c", "Const", {}, {kScalar}));
  plan.ops.push_back(MakeOp("all_reduce", "AllReduce", {{0, 0}}, {kScalar},
                            Frequency::kPerMicroBatch, PlanOpKind::kCollective));
  EXPECT_EQ(CreateStatus(plan),
            absl::InvalidArgumentError("op 'all_reduce': a collective op needs a communicator"));

  auto contexts = MakeDeviceContexts({Device{DeviceType::kCpu, 3}});
  auto runtime = Runtime::Create(std::make_shared<PhysicalPlan>(OneDevicePlan(1)), &kernels_,
                                 nullptr, {contexts[0].get()}, nullptr, RuntimeOptions{});
  EXPECT_EQ(runtime.status(),
            absl::InvalidArgumentError("device 0 is cpu:0 in the plan but cpu:3 in its context"));

  PhysicalPlan with_variable = OneDevicePlan(1);
  PlanOp w =
      MakeOp("w", "Variable", {}, {F32(Shape{2})}, Frequency::kPerStep, PlanOpKind::kVariable);
  w.variable = "w";
  w.box = {{0, 2}};
  with_variable.ops.push_back(w);
  with_variable.variables.push_back(VariableSpec{"w", F32(Shape{2}), "zeros", 0, true, {0}});
  auto own_contexts = MakeDeviceContexts(with_variable.devices);
  runtime = Runtime::Create(std::make_shared<PhysicalPlan>(with_variable), &kernels_, nullptr,
                            {own_contexts[0].get()}, nullptr, RuntimeOptions{});
  EXPECT_EQ(runtime.status(),
            absl::InvalidArgumentError("op 'w': the plan has variables but no variable store"));
}

TEST(RuntimeFeedTest, MissingAndMistypedFeedsDoNotBreakTheRuntime) {
  KernelRegistry kernels = TestKernelRegistry();
  PhysicalPlan plan = OneDevicePlan(2);
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{1, 2})));
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{2, 2})});
  FetchSpec fetch;
  fetch.name = "x";
  fetch.logical = F32(Shape{1, 2});
  fetch.sources = {{0, 0}};
  fetch.boxes = {{{0, 1}, {0, 2}}};
  plan.fetches.push_back(fetch);
  auto harness = MakeRuntime(plan, &kernels, RuntimeOptions{});
  ASSERT_TRUE(harness.ok()) << harness.status();
  Runtime& runtime = *(*harness)->runtime;
  CpuAllocator allocator;
  EXPECT_EQ(runtime.RunStep({}).status(), absl::InvalidArgumentError("feed 'x' is missing"));
  EXPECT_EQ(runtime.RunStep({{"x", Tensor(&allocator, DataType::kFloat32, Shape{4, 2})}}).status(),
            absl::InvalidArgumentError("feed 'x': expected f32[2,2], got f32[4,2]"));
  EXPECT_EQ(runtime.RunStep({{"x", Tensor()}}).status(),
            absl::InvalidArgumentError("feed 'x': expected f32[2,2], got an empty tensor"));
  auto result = runtime.RunStep(
      {{"x", Tensor::FromVector(&allocator, Shape{2, 2}, std::vector<float>{1, 2, 3, 4})}});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Floats(result->fetches.at("x")), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(runtime.steps(), 1);
}

TEST(RuntimeFeedTest, AnEmptyPlanRunsEmptySteps) {
  KernelRegistry kernels = TestKernelRegistry();
  auto harness = MakeRuntime(OneDevicePlan(3), &kernels, RuntimeOptions{});
  ASSERT_TRUE(harness.ok()) << harness.status();
  for (int step = 0; step < 2; ++step) {
    auto result = (*harness)->runtime->RunStep({});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->fetches.empty());
  }
  EXPECT_EQ((*harness)->runtime->steps(), 2);
  EXPECT_EQ((*harness)->runtime->activations(), 0);
}

class KernelErrorTest : public ::testing::TestWithParam<int> {};

// A kernel failing on micro-batch 2 fails the step with its status prefixed
// by the op name; a slow kernel of another branch has finished by the time
// RunStep returns; later steps are refused.
TEST_P(KernelErrorTest, FailsTheStepWithTheKernelStatus) {
  KernelRegistry kernels = TestKernelRegistry();
  std::atomic<int> running{0};
  std::atomic<int> slow_done{0};
  ASSERT_TRUE(kernels
                  .Register(KernelKey{"TestFailOn2", DeviceType::kCpu, DataType::kFloat32},
                            [](KernelContext& context) -> absl::Status {
                              if (context.environment().micro_batch == 2) {
                                return absl::OutOfRangeError("index 7 is outside [0, 5)");
                              }
                              context.output(0).data<float>()[0] = 1;
                              return absl::OkStatus();
                            })
                  .ok());
  ASSERT_TRUE(kernels
                  .Register(KernelKey{"TestSlow", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              ++running;
                              std::this_thread::sleep_for(std::chrono::milliseconds(20));
                              context.output(0).data<float>()[0] = 2;
                              ++slow_done;
                              --running;
                              return absl::OkStatus();
                            })
                  .ok());
  PhysicalPlan plan = OneDevicePlan(4);
  plan.ops.push_back(MakeOp("source", "Const", {}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{3}}};
  plan.ops.push_back(MakeOp("slow", "TestSlow", {{0, 0}}, {kScalar}));
  plan.ops.push_back(MakeOp("bad", "TestFailOn2", {{0, 0}}, {kScalar}));
  plan.ops.push_back(MakeOp("join", "TestAdd", {{1, 0}, {2, 0}}, {kScalar}));
  RuntimeOptions options;
  options.threads = GetParam();
  auto harness = MakeRuntime(plan, &kernels, options);
  ASSERT_TRUE(harness.ok()) << harness.status();
  const auto start = std::chrono::steady_clock::now();
  auto result = (*harness)->runtime->RunStep({});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(result.status(), absl::OutOfRangeError("op 'bad': index 7 is outside [0, 5)"));
  EXPECT_EQ(running.load(), 0);
  EXPECT_LT(slow_done.load(), 4);
  EXPECT_EQ((*harness)->runtime->RunStep({}).status(),
            absl::FailedPreconditionError("the runtime failed in an earlier step: op 'bad': "
                                          "index 7 is outside [0, 5)"));
  EXPECT_EQ((*harness)->runtime->steps(), 0);
}

INSTANTIATE_TEST_SUITE_P(Threads, KernelErrorTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Threads");
                         });

}  // namespace
}  // namespace sbpflow::testing
