// Scheduling properties of the runtime: concurrency of independent actors,
// the register bound on memory, frequencies and accumulation, control edges
// and in-place updates. Each runs at 1, 2 and 4 threads.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "tests/actor/actor_testing.h"

namespace sbpflow::testing {
namespace {

const TensorType kF32Scalar{DataType::kFloat32, Shape{}};

TensorType F32(Shape shape) { return TensorType{DataType::kFloat32, std::move(shape)}; }

PhysicalPlan OneDevicePlan(int micro_batches) {
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.micro_batches = micro_batches;
  return plan;
}

FetchSpec WholeFetch(std::string name, int op, const TensorType& type, bool sum = false) {
  FetchSpec fetch;
  fetch.name = std::move(name);
  fetch.logical = type;
  fetch.sources = {PlanValue{op, 0}};
  fetch.boxes = {FullBox(type.shape)};
  fetch.sum_micro_batches = sum;
  return fetch;
}

class RuntimeSchedulingTest : public ::testing::TestWithParam<int> {
 protected:
  RuntimeOptions Options() const {
    RuntimeOptions options;
    options.threads = GetParam();
    return options;
  }

  CpuAllocator allocator_;
  KernelRegistry kernels_ = TestKernelRegistry();
};

// Two branch kernels that each wait for the other: they can only both finish
// when the runtime runs them at the same time.
TEST_P(RuntimeSchedulingTest, IndependentBranchesRunConcurrently) {
  struct Rendezvous {
    std::mutex mutex;
    std::condition_variable arrived_changed;
    int arrived = 0;
  } rendezvous;
  const auto timeout = std::chrono::milliseconds(GetParam() == 1 ? 100 : 10000);
  ASSERT_TRUE(kernels_
                  .Register(KernelKey{"TestLatch", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              std::unique_lock<std::mutex> lock(rendezvous.mutex);
                              ++rendezvous.arrived;
                              rendezvous.arrived_changed.notify_all();
                              if (!rendezvous.arrived_changed.wait_for(
                                      lock, timeout, [&] { return rendezvous.arrived >= 2; })) {
                                return absl::AbortedError("the other branch never arrived");
                              }
                              context.output(0).data<float>()[0] =
                                  context.input(0).data<float>()[0];
                              return absl::OkStatus();
                            })
                  .ok());
  PhysicalPlan plan = OneDevicePlan(1);
  plan.ops.push_back(MakePlaceholder("x", kF32Scalar));
  plan.ops.push_back(MakeOp("left", "TestLatch", {{0, 0}}, {kF32Scalar}));
  plan.ops.push_back(MakeOp("right", "TestLatch", {{0, 0}}, {kF32Scalar}));
  plan.ops.push_back(MakeOp("sum", "TestAdd", {{1, 0}, {2, 0}}, {kF32Scalar}));
  plan.feeds.push_back(FeedSpec{"x", kF32Scalar});
  plan.fetches.push_back(WholeFetch("sum", 3, kF32Scalar));
  auto harness = MakeRuntime(plan, &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  auto result = (*harness)->runtime->RunStep(
      {{"x", Tensor::FromVector(&allocator_, Shape{}, std::vector<float>{1.5f})}});
  if (GetParam() == 1) {
    // One thread cannot run both: the first branch gives up.
    EXPECT_EQ(result.status(), absl::AbortedError("op 'left': the other branch never arrived"));
    return;
  }
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Floats(result->fetches.at("sum")), std::vector<float>{3.0f});
}

// A fast producer feeding a slow consumer over 16 micro-batches: at most
// `registers` produced values are ever alive, and the allocator's peak says
// so too.
TEST_P(RuntimeSchedulingTest, RegistersBoundLiveValues) {
  constexpr int kMicroBatches = 16;
  constexpr int64_t kElements = 1000;
  std::atomic<int> produced{0};
  std::atomic<int> max_ahead{0};
  ASSERT_TRUE(kernels_
                  .Register(KernelKey{"TestProduce", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              ++produced;
                              std::fill_n(context.output(0).data<float>(), kElements,
                                          static_cast<float>(context.environment().micro_batch));
                              return absl::OkStatus();
                            })
                  .ok());
  ASSERT_TRUE(kernels_
                  .Register(KernelKey{"TestSlowSum", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              // Values produced but not yet consumed, this one included.
                              const int ahead = produced.load() - context.environment().micro_batch;
                              int seen = max_ahead.load();
                              while (ahead > seen &&
                                     !max_ahead.compare_exchange_weak(seen, ahead)) {
                              }
                              std::this_thread::sleep_for(std::chrono::milliseconds(1));
                              float sum = 0;
                              for (int64_t i = 0; i < kElements; ++i) {
                                sum += context.input(0).data<float>()[i];
                              }
                              context.output(0).data<float>()[0] = sum;
                              return absl::OkStatus();
                            })
                  .ok());
  for (int registers : {1, 2, 3}) {
    SCOPED_TRACE(absl::StrCat(registers, " registers"));
    produced = 0;
    max_ahead = 0;
    PhysicalPlan plan = OneDevicePlan(kMicroBatches);
    plan.ops.push_back(MakeOp("produce", "TestProduce", {}, {F32(Shape{kElements})}));
    plan.ops.back().registers = registers;
    plan.ops.push_back(MakeOp("consume", "TestSlowSum", {{0, 0}}, {kF32Scalar}));
    plan.ops.back().registers = 1;
    plan.fetches.push_back(WholeFetch("sums", 1, kF32Scalar, /*sum=*/true));
    auto harness = MakeRuntime(plan, &kernels_, Options());
    ASSERT_TRUE(harness.ok()) << harness.status();
    (*harness)->allocator()->ResetPeak();
    auto result = (*harness)->runtime->RunStep({});
    ASSERT_TRUE(result.ok()) << result.status();
    // 1000 * (0 + 1 + ... + 15).
    EXPECT_EQ(Floats(result->fetches.at("sums")), std::vector<float>{120000.0f});
    EXPECT_LE(max_ahead.load(), registers);
    EXPECT_GE(max_ahead.load(), 1);
    const int64_t register_bytes = kElements * 4;
    EXPECT_LE((*harness)->allocator()->peak_bytes(), registers * register_bytes + 4);
    if (GetParam() == 1) {
      // One thread runs the lower-indexed producer first whenever it may, so
      // it always fills every register.
      EXPECT_EQ(max_ahead.load(), registers);
      EXPECT_EQ((*harness)->allocator()->peak_bytes(), registers * register_bytes + 4);
    }
    EXPECT_EQ((*harness)->allocator()->live_bytes(), 0);
  }
}

TEST_P(RuntimeSchedulingTest, PeakMemoryOfAChainDoesNotGrowWithItsLength) {
  const TensorType vector = F32(Shape{1000});
  for (int length : {3, 60}) {
    SCOPED_TRACE(absl::StrCat("length ", length));
    PhysicalPlan plan = OneDevicePlan(1);
    plan.ops.push_back(MakePlaceholder("x", vector));
    for (int index = 1; index <= length; ++index) {
      plan.ops.push_back(
          MakeOp(absl::StrCat("op", index), "TestAffine", {{index - 1, 0}}, {vector}));
      plan.ops.back().attrs = AttrMap{{"scale", 1.0}, {"shift", 1.0}};
    }
    plan.feeds.push_back(FeedSpec{"x", vector});
    plan.fetches.push_back(WholeFetch("y", length, vector));
    auto harness = MakeRuntime(plan, &kernels_, Options());
    ASSERT_TRUE(harness.ok()) << harness.status();
    (*harness)->allocator()->ResetPeak();
    auto result = (*harness)->runtime->RunStep(
        {{"x", Tensor::FromVector(&allocator_, Shape{1000}, std::vector<float>(1000, 0.5f))}});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(Floats(result->fetches.at("y"))[999], 0.5f + static_cast<float>(length));
    // An op's input and output are alive together, nothing else.
    EXPECT_EQ((*harness)->allocator()->peak_bytes(), 2 * 4000);
    EXPECT_EQ((*harness)->allocator()->live_bytes(), 0);
  }
}

// Many independent branches x -> a_i -> b_i, each b_i fetched: all branches
// are ready at once, but the runtime does not run every a_i ahead of the b_i.
// A ready actor of lower plan index goes first, so a free task takes a
// pending b_i before it starts another branch: each of the T tasks holds at
// most one branch's two values, and the peak is bounded by x plus 2T values
// whatever the width (exactly x, a_i and b_i at one thread).
TEST_P(RuntimeSchedulingTest, PeakMemoryOfAWideGraphDoesNotGrowWithItsWidth) {
  const TensorType vector = F32(Shape{1000});
  const int64_t value_bytes = 4000;
  for (int width : {4, 64}) {
    SCOPED_TRACE(absl::StrCat("width ", width));
    PhysicalPlan plan = OneDevicePlan(1);
    plan.ops.push_back(MakePlaceholder("x", vector));
    for (int branch = 0; branch < width; ++branch) {
      const int a = static_cast<int>(plan.ops.size());
      plan.ops.push_back(MakeOp(absl::StrCat("a", branch), "TestAffine", {{0, 0}}, {vector}));
      plan.ops.back().attrs = AttrMap{{"scale", 1.0}, {"shift", static_cast<double>(branch)}};
      plan.ops.push_back(MakeOp(absl::StrCat("b", branch), "TestAffine", {{a, 0}}, {vector}));
      plan.ops.back().attrs = AttrMap{{"scale", 2.0}, {"shift", 0.0}};
      plan.fetches.push_back(WholeFetch(absl::StrCat("y", branch), a + 1, vector));
    }
    plan.feeds.push_back(FeedSpec{"x", vector});
    auto harness = MakeRuntime(plan, &kernels_, Options());
    ASSERT_TRUE(harness.ok()) << harness.status();
    (*harness)->allocator()->ResetPeak();
    auto result = (*harness)->runtime->RunStep(
        {{"x", Tensor::FromVector(&allocator_, Shape{1000}, std::vector<float>(1000, 0.5f))}});
    ASSERT_TRUE(result.ok()) << result.status();
    for (int branch = 0; branch < width; ++branch) {
      EXPECT_EQ(Floats(result->fetches.at(absl::StrCat("y", branch)))[999],
                2 * (0.5f + static_cast<float>(branch)));
    }
    const int64_t peak = (*harness)->allocator()->peak_bytes();
    if (GetParam() == 1) {
      EXPECT_EQ(peak, 3 * value_bytes);
    } else {
      EXPECT_LE(peak, (1 + 2 * GetParam()) * value_bytes);
    }
    EXPECT_EQ((*harness)->allocator()->live_bytes(), 0);
  }
}

// Per-step ops fire once, per-micro-batch ops once per micro-batch; a
// per-step variable is read by every micro-batch; kAccumulate sums the
// micro-batches in order, exactly the full-batch value.
TEST_P(RuntimeSchedulingTest, FrequenciesAndAccumulation) {
  constexpr int kMicroBatches = 4;
  PhysicalPlan plan = OneDevicePlan(kMicroBatches);
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{2, 3})));  // 0
  PlanOp w = MakeOp("w", "Variable", {}, {F32(Shape{3})}, Frequency::kPerStep,
                    PlanOpKind::kVariable);  // 1
  w.variable = "w";
  w.box = {{0, 3}};
  plan.ops.push_back(w);
  plan.ops.push_back(MakeOp("rows", "TestRowSum", {{0, 0}}, {F32(Shape{3})}));         // 2
  plan.ops.push_back(MakeOp("scaled", "TestMul", {{2, 0}, {1, 0}}, {F32(Shape{3})}));  // 3
  plan.ops.push_back(MakeOp("total", "Accumulate", {{3, 0}}, {F32(Shape{3})}, Frequency::kPerStep,
                            PlanOpKind::kAccumulate));  // 4
  plan.ops.push_back(MakeOp("shifted", "TestAffine", {{4, 0}}, {F32(Shape{3})},
                            Frequency::kPerStep));  // 5
  plan.ops.back().attrs = AttrMap{{"scale", 1.0}, {"shift", 0.5}};
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{8, 3})});
  plan.variables.push_back(VariableSpec{"w", F32(Shape{3}), "constant(3)", 0, true, {1}});
  plan.fetches.push_back(WholeFetch("scaled", 3, F32(Shape{3})));
  plan.fetches.push_back(WholeFetch("scaled_sum", 3, F32(Shape{3}), /*sum=*/true));
  plan.fetches.push_back(WholeFetch("total", 4, F32(Shape{3})));
  plan.fetches.push_back(WholeFetch("shifted", 5, F32(Shape{3})));
  auto harness = MakeRuntime(plan, &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();

  std::vector<float> x(24);
  for (int i = 0; i < 24; ++i) x[i] = static_cast<float>(i % 7) - 2.0f;
  const Tensor feed = Tensor::FromVector(&allocator_, Shape{8, 3}, x);
  for (int step = 1; step <= 2; ++step) {
    auto result = (*harness)->runtime->RunStep({{"x", feed}});
    ASSERT_TRUE(result.ok()) << result.status();
    std::vector<float> per_micro_batch;
    std::vector<float> full(3, 0.0f);
    for (int micro_batch = 0; micro_batch < kMicroBatches; ++micro_batch) {
      for (int column = 0; column < 3; ++column) {
        const float rows =
            x[(2 * micro_batch) * 3 + column] + x[(2 * micro_batch + 1) * 3 + column];
        per_micro_batch.push_back(rows * 3.0f);
      }
    }
    for (int row = 0; row < 8; ++row) {
      for (int column = 0; column < 3; ++column) full[column] += x[row * 3 + column] * 3.0f;
    }
    EXPECT_EQ(Floats(result->fetches.at("scaled")), per_micro_batch);
    EXPECT_EQ(result->fetches.at("scaled").shape(), (Shape{12}));
    EXPECT_EQ(Floats(result->fetches.at("scaled_sum")), full);
    EXPECT_EQ(Floats(result->fetches.at("total")), full);
    std::vector<float> shifted = full;
    for (float& value : shifted) value += 0.5f;
    EXPECT_EQ(Floats(result->fetches.at("shifted")), shifted);
    // x, rows, scaled: 4 each; accumulate: one firing per micro-batch;
    // w and shifted: once.
    EXPECT_EQ((*harness)->runtime->activations(), step * (4 + 1 + 4 + 4 + 4 + 1));
  }
}

// Control edges order firings without data: per micro-batch, all
// micro-batches before a per-step op, and a per-step op before every
// micro-batch.
TEST_P(RuntimeSchedulingTest, ControlInputsOrderFirings) {
  std::mutex mutex;
  std::vector<std::string> log;
  ASSERT_TRUE(kernels_
                  .Register(KernelKey{"TestRecord", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              auto label = context.attrs().GetString("label");
                              if (!label.ok()) return label.status();
                              // Give later-indexed but ready actors a chance to overtake.
                              std::this_thread::sleep_for(std::chrono::microseconds(300));
                              std::lock_guard<std::mutex> lock(mutex);
                              log.push_back(
                                  absl::StrCat(*label, context.environment().micro_batch));
                              return absl::OkStatus();
                            })
                  .ok());
  PhysicalPlan plan = OneDevicePlan(3);
  auto record = [&](std::string label, Frequency frequency, std::vector<int> controls) {
    PlanOp op = MakeOp(label, "TestRecord", {}, {}, frequency);
    op.attrs = AttrMap{{"label", label}};
    op.control_inputs = std::move(controls);
    plan.ops.push_back(op);
  };
  record("d", Frequency::kPerMicroBatch, {});      // 0: free-running
  record("a", Frequency::kPerMicroBatch, {});      // 1
  record("b", Frequency::kPerStep, {1});           // 2: after a0..a2
  record("c", Frequency::kPerMicroBatch, {2});     // 3: after b
  record("e", Frequency::kPerMicroBatch, {3, 0});  // 4: after c_m and d_m
  auto harness = MakeRuntime(plan, &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  for (int step = 0; step < 3; ++step) {
    log.clear();
    ASSERT_TRUE((*harness)->runtime->RunStep({}).ok());
    auto position = [&](const std::string& entry) {
      return std::find(log.begin(), log.end(), entry) - log.begin();
    };
    ASSERT_EQ(log.size(), 13u) << absl::StrJoin(log, " ");
    for (int m = 0; m < 3; ++m) {
      EXPECT_LT(position(absl::StrCat("a", m)), position("b0")) << absl::StrJoin(log, " ");
      EXPECT_LT(position("b0"), position(absl::StrCat("c", m))) << absl::StrJoin(log, " ");
      EXPECT_LT(position(absl::StrCat("c", m)), position(absl::StrCat("e", m)));
      EXPECT_LT(position(absl::StrCat("d", m)), position(absl::StrCat("e", m)));
    }
  }
}

// Each device's compute lane runs at most compute_width kernels at once
// (default: threads / devices, at least 1).
TEST_P(RuntimeSchedulingTest, ComputeWidthBoundsKernelsInFlightPerDevice) {
  constexpr int kDevices = 2;
  constexpr int kBranches = 4;
  std::atomic<int> in_flight[kDevices] = {0, 0};
  std::atomic<int> most[kDevices] = {0, 0};
  ASSERT_TRUE(kernels_
                  .Register(KernelKey{"TestBusy", DeviceType::kCpu, DataType::kFloat32},
                            [&](KernelContext& context) -> absl::Status {
                              auto device = context.attrs().GetInt("device");
                              if (!device.ok()) return device.status();
                              const int now = ++in_flight[*device];
                              int seen = most[*device].load();
                              while (now > seen &&
                                     !most[*device].compare_exchange_weak(seen, now)) {
                              }
                              std::this_thread::sleep_for(std::chrono::milliseconds(5));
                              --in_flight[*device];
                              context.output(0).data<float>()[0] = 1;
                              return absl::OkStatus();
                            })
                  .ok());
  PhysicalPlan plan = OneDevicePlan(1);
  plan.devices = {Device{DeviceType::kCpu, 0}, Device{DeviceType::kCpu, 1}};
  for (int device = 0; device < kDevices; ++device) {
    for (int branch = 0; branch < kBranches; ++branch) {
      plan.ops.push_back(
          MakeOp(absl::StrCat("busy", device, "_", branch), "TestBusy", {}, {kF32Scalar}));
      plan.ops.back().device = device;
      plan.ops.back().attrs = AttrMap{{"device", int64_t{device}}};
    }
  }
  auto harness = MakeRuntime(plan, &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  ASSERT_TRUE((*harness)->runtime->RunStep({}).ok());
  const int width = std::max(1, GetParam() / kDevices);
  for (int device = 0; device < kDevices; ++device) {
    EXPECT_LE(most[device].load(), width) << "device " << device;
    EXPECT_GE(most[device].load(), 1) << "device " << device;
  }
}

// An op that writes a variable in place runs only after every other reader
// of the old value, however slow, is done with it.
TEST_P(RuntimeSchedulingTest, InPlaceUpdateWaitsForEveryReader) {
  constexpr int kMicroBatches = 2;
  PhysicalPlan plan = OneDevicePlan(kMicroBatches);
  PlanOp w =
      MakeOp("w", "Variable", {}, {F32(Shape{4})}, Frequency::kPerStep, PlanOpKind::kVariable);
  w.variable = "w";
  w.box = {{0, 4}};
  plan.ops.push_back(w);                                                        // 0
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{1, 4})));                   // 1
  plan.ops.push_back(MakeOp("grad", "TestRowSum", {{1, 0}}, {F32(Shape{4})}));  // 2
  plan.ops.push_back(MakeOp("grad_sum", "Accumulate", {{2, 0}}, {F32(Shape{4})},
                            Frequency::kPerStep, PlanOpKind::kAccumulate));  // 3
  PlanOp update = MakeOp("update", "TestSgd", {{0, 0}, {3, 0}}, {}, Frequency::kPerStep);
  update.attrs = AttrMap{{"lr", 1.0}};
  update.mutable_inputs = {0};
  plan.ops.push_back(update);                                                         // 4
  plan.ops.push_back(MakeOp("slow_reader", "TestSleep", {{0, 0}}, {F32(Shape{4})}));  // 5
  plan.ops.back().attrs = AttrMap{{"ms", int64_t{30}}};
  plan.ops.push_back(MakeOp("reader", "TestAffine", {{0, 0}}, {F32(Shape{4})}));  // 6
  plan.ops.back().attrs = AttrMap{{"scale", 1.0}, {"shift", 0.0}};
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{2, 4})});
  plan.variables.push_back(VariableSpec{"w", F32(Shape{4}), "ones", 0, true, {0}});
  plan.fetches.push_back(WholeFetch("slow", 5, F32(Shape{4})));
  plan.fetches.push_back(WholeFetch("fast", 6, F32(Shape{4})));
  auto harness = MakeRuntime(plan, &kernels_, Options());
  ASSERT_TRUE(harness.ok()) << harness.status();
  const Tensor x = Tensor::FromVector(&allocator_, Shape{2, 4},
                                      std::vector<float>{1, 2, 3, 4, 0.5f, 0.5f, 0.5f, 0.5f});
  std::vector<float> value = {1, 1, 1, 1};
  for (int step = 0; step < 2; ++step) {
    auto result = (*harness)->runtime->RunStep({{"x", x}});
    ASSERT_TRUE(result.ok()) << result.status();
    std::vector<float> twice = value;
    twice.insert(twice.end(), value.begin(), value.end());
    EXPECT_EQ(Floats(result->fetches.at("slow")), twice) << "step " << step;
    EXPECT_EQ(Floats(result->fetches.at("fast")), twice) << "step " << step;
    value = {value[0] - 1.5f, value[1] - 2.5f, value[2] - 3.5f, value[3] - 4.5f};
    auto stored = (*harness)->variables->ReadLogical("w", &allocator_);
    ASSERT_TRUE(stored.ok());
    EXPECT_EQ(Floats(*stored), value);
  }
}

INSTANTIATE_TEST_SUITE_P(Threads, RuntimeSchedulingTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Threads");
                         });

}  // namespace
}  // namespace sbpflow::testing
