// The communication lane, with fake communicators: collectives complete
// inline or later on another thread, overlap compute, and a collective that
// never completes trips the watchdog with a report of what everyone waits
// for.
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/actor/actor_testing.h"

namespace sbpflow::testing {
namespace {

const TensorType kScalar{DataType::kFloat32, Shape{}};

TensorType F32(Shape shape) { return TensorType{DataType::kFloat32, std::move(shape)}; }

void CopyInput(const Tensor& input, const Tensor& output) {
  if (input.num_bytes() > 0) std::memcpy(output.raw_data(), input.raw_data(), input.num_bytes());
}

// Copies input to output; completes inline, or later on its own thread.
class CopyCommunicator : public Communicator {
 public:
  explicit CopyCommunicator(bool inline_completion) : inline_completion_(inline_completion) {}
  ~CopyCommunicator() override {
    for (std::thread& thread : threads_) thread.join();
  }

  void Start(const CollectiveSpec& spec, const CollectiveInstance& instance, const Tensor& input,
             const Tensor& output, CollectiveDone done) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      instances_.emplace_back(instance.step, instance.micro_batch);
      start_threads_.insert(std::this_thread::get_id());
      started_ = true;
    }
    started_changed_.notify_all();
    if (inline_completion_) {
      CopyInput(input, output);
      done(absl::OkStatus());
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    threads_.emplace_back([this, &input, &output, done = std::move(done)] {
      // Completes only once released (or after a second), so a compute
      // kernel can prove it ran while the collective was in flight.
      {
        std::unique_lock<std::mutex> lock(mutex_);
        released_changed_.wait_for(lock, std::chrono::seconds(1), [this] { return released_; });
      }
      CopyInput(input, output);
      done(absl::OkStatus());
    });
  }

  // Blocks until some collective has started (or `timeout`); then lets every
  // collective complete.
  bool WaitForStartThenRelease(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    const bool started = started_changed_.wait_for(lock, timeout, [this] { return started_; });
    released_ = true;
    released_changed_.notify_all();
    return started;
  }

  std::vector<std::pair<int64_t, int>> instances() {
    std::lock_guard<std::mutex> lock(mutex_);
    return instances_;
  }
  std::set<std::thread::id> start_threads() {
    std::lock_guard<std::mutex> lock(mutex_);
    return start_threads_;
  }

 private:
  const bool inline_completion_;
  std::mutex mutex_;
  std::condition_variable started_changed_;
  std::condition_variable released_changed_;
  bool started_ = false;
  bool released_ = false;
  std::vector<std::pair<int64_t, int>> instances_;
  std::set<std::thread::id> start_threads_;
  std::vector<std::thread> threads_;
};

// Never completes; keeps the callbacks.
class SilentCommunicator : public Communicator {
 public:
  void Start(const CollectiveSpec& spec, const CollectiveInstance& instance, const Tensor& input,
             const Tensor& output, CollectiveDone done) override {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(done));
  }
  std::vector<CollectiveDone> TakePending() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(pending_);
  }

 private:
  std::mutex mutex_;
  std::vector<CollectiveDone> pending_;
};

PlanOp CollectiveOp(std::string name, PlanValue input, const TensorType& type, std::string key) {
  PlanOp op = MakeOp(std::move(name), "Identity", {input}, {type}, Frequency::kPerMicroBatch,
                     PlanOpKind::kCollective);
  op.collective.kind = CollectiveKind::kAllReduce;
  op.collective.key = std::move(key);
  op.collective.group = {0};
  op.collective.logical_shape = type.shape;
  op.collective.input_boxes = {FullBox(type.shape)};
  op.collective.output_boxes = {FullBox(type.shape)};
  return op;
}

class CollectiveLaneTest : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  int threads() const { return std::get<0>(GetParam()); }
  bool inline_completion() const { return std::get<1>(GetParam()); }

  CpuAllocator allocator_;
  KernelRegistry kernels_ = TestKernelRegistry();
};

// x -> collective -> affine per micro-batch, next to a compute branch that
// can only finish once the collective has started: compute and
// communication overlap, and collective completion drives the consumers.
TEST_P(CollectiveLaneTest, CollectivesRunOnTheirOwnLaneAndOverlapCompute) {
  CopyCommunicator communicator(inline_completion());
  ASSERT_TRUE(
      kernels_
          .Register(KernelKey{"TestAwaitCollective", DeviceType::kCpu, DataType::kFloat32},
                    [&](KernelContext& context) -> absl::Status {
                      if (!communicator.WaitForStartThenRelease(std::chrono::milliseconds(5000))) {
                        return absl::AbortedError("no collective started");
                      }
                      context.output(0).data<float>()[0] = 1;
                      return absl::OkStatus();
                    })
          .ok());
  constexpr int kMicroBatches = 3;
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.micro_batches = kMicroBatches;
  plan.ops.push_back(MakePlaceholder("x", F32(Shape{1, 2})));                        // 0
  plan.ops.push_back(CollectiveOp("reduce", {0, 0}, F32(Shape{1, 2}), "x_sum"));     // 1
  plan.ops.push_back(MakeOp("scaled", "TestAffine", {{1, 0}}, {F32(Shape{1, 2})}));  // 2
  plan.ops.back().attrs = AttrMap{{"scale", 2.0}, {"shift", 0.0}};
  plan.ops.push_back(MakeOp("await", "TestAwaitCollective", {}, {kScalar},
                            Frequency::kPerStep));  // 3
  plan.feeds.push_back(FeedSpec{"x", F32(Shape{3, 2})});
  FetchSpec fetch;
  fetch.name = "scaled";
  fetch.logical = F32(Shape{1, 2});
  fetch.sources = {{2, 0}};
  fetch.boxes = {{{0, 1}, {0, 2}}};
  plan.fetches.push_back(fetch);
  RuntimeOptions options;
  options.threads = threads();
  options.trace = true;
  auto harness = MakeRuntime(plan, &kernels_, options, &communicator);
  ASSERT_TRUE(harness.ok()) << harness.status();
  const Tensor x =
      Tensor::FromVector(&allocator_, Shape{3, 2}, std::vector<float>{1, 2, 3, 4, 5, 6});
  for (int step = 0; step < 2; ++step) {
    auto result = (*harness)->runtime->RunStep({{"x", x}});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(Floats(result->fetches.at("scaled")), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  }
  EXPECT_EQ(communicator.instances(),
            (std::vector<std::pair<int64_t, int>>{{0, 0}, {0, 1}, {0, 2}, {1, 0}, {1, 1}, {1, 2}}));
  // Every collective was started by the device's one communication thread.
  const std::set<std::thread::id> start_threads = communicator.start_threads();
  EXPECT_EQ(start_threads.size(), 1u);
  EXPECT_EQ(start_threads.count(std::this_thread::get_id()), 0u);
  EXPECT_EQ((*harness)->runtime->activations(), 2 * (3 + 3 + 3 + 1));
  EXPECT_EQ((*harness)->allocator()->live_bytes(), 0);
}

INSTANTIATE_TEST_SUITE_P(ThreadsAndCompletion, CollectiveLaneTest,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
                           return absl::StrCat(std::get<0>(info.param), "Threads",
                                               std::get<1>(info.param) ? "Inline" : "Deferred");
                         });

TEST(WatchdogTest, ReportsWhatEveryUnfinishedActorWaitsFor) {
  SilentCommunicator communicator;
  KernelRegistry kernels = TestKernelRegistry();
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.micro_batches = 4;
  plan.ops.push_back(MakeOp("a", "Const", {}, {kScalar}));  // 0
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1}}};
  plan.ops.back().registers = 1;
  plan.ops.push_back(CollectiveOp("c", {0, 0}, kScalar, "sum_a"));     // 1
  plan.ops.push_back(MakeOp("b", "TestAffine", {{1, 0}}, {kScalar}));  // 2
  PlanOp v = MakeOp("v", "Variable", {}, {kScalar}, Frequency::kPerStep, PlanOpKind::kVariable);
  v.variable = "v";
  plan.ops.push_back(v);                                                    // 3
  plan.ops.push_back(MakeOp("r", "TestMul", {{1, 0}, {3, 0}}, {kScalar}));  // 4
  plan.ops.push_back(MakeOp("acc", "Accumulate", {{2, 0}}, {kScalar}, Frequency::kPerStep,
                            PlanOpKind::kAccumulate));  // 5
  PlanOp update = MakeOp("update", "TestSgd", {{3, 0}, {5, 0}}, {}, Frequency::kPerStep);
  update.attrs = AttrMap{{"lr", 0.1}};
  update.mutable_inputs = {0};
  plan.ops.push_back(update);                                                       // 6
  plan.ops.push_back(MakeOp("late", "Const", {}, {kScalar}, Frequency::kPerStep));  // 7
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1}}};
  plan.ops.back().control_inputs = {2};
  plan.variables.push_back(VariableSpec{"v", kScalar, "zeros", 0, true, {3}});
  RuntimeOptions options;
  options.threads = 2;
  options.watchdog_timeout = absl::Milliseconds(200);
  auto harness = MakeRuntime(plan, &kernels, options, &communicator);
  ASSERT_TRUE(harness.ok()) << harness.status();
  const auto start = std::chrono::steady_clock::now();
  auto result = (*harness)->runtime->RunStep({});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(200));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
  EXPECT_EQ(result.status(),
            absl::DeadlineExceededError(
                "step 0: no actor fired for 200ms; waiting:\n"
                "op 'a' (cpu:0) piece 1: waits for a free register of output 0 (1 in use)\n"
                "op 'c' (cpu:0) piece 0: waits for collective 'sum_a' to complete\n"
                "op 'b' (cpu:0) piece 0: waits for input 0 from 'c'\n"
                "op 'r' (cpu:0) piece 0: waits for input 0 from 'c'\n"
                "op 'acc' (cpu:0) piece 0: waits for input 0 from 'b'\n"
                "op 'update' (cpu:0) piece 0: waits for other readers of input 0\n"
                "op 'update' (cpu:0) piece 0: waits for input 1 from 'acc'\n"
                "op 'late' (cpu:0) piece 0: waits for control input from 'b'"));
  EXPECT_EQ((*harness)->runtime->RunStep({}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A completion arriving after the runtime is gone is ignored.
  std::vector<CollectiveDone> pending = communicator.TakePending();
  ASSERT_EQ(pending.size(), 1u);
  harness->reset();
  pending[0](absl::OkStatus());
}

TEST(WatchdogTest, CollectiveErrorFailsTheStep) {
  class FailingCommunicator : public Communicator {
   public:
    void Start(const CollectiveSpec& spec, const CollectiveInstance& instance, const Tensor& input,
               const Tensor& output, CollectiveDone done) override {
      done(absl::UnavailableError(absl::StrCat("peer of '", spec.key, "' went away")));
    }
  } communicator;
  KernelRegistry kernels = TestKernelRegistry();
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.ops.push_back(MakeOp("a", "Const", {}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1}}};
  plan.ops.push_back(CollectiveOp("c", {0, 0}, kScalar, "sum_a"));
  plan.ops.push_back(MakeOp("b", "TestAffine", {{1, 0}}, {kScalar}));
  auto harness = MakeRuntime(plan, &kernels, RuntimeOptions{}, &communicator);
  ASSERT_TRUE(harness.ok()) << harness.status();
  EXPECT_EQ((*harness)->runtime->RunStep({}).status(),
            absl::UnavailableError("op 'c': peer of 'sum_a' went away"));
}

}  // namespace
}  // namespace sbpflow::testing
