// WriteTrace: Chrome trace JSON with one process per device, one thread per
// lane and one complete event per firing.
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/actor/actor_testing.h"

namespace sbpflow::testing {
namespace {

const TensorType kScalar{DataType::kFloat32, Shape{}};

class InlineCopyCommunicator : public Communicator {
 public:
  void Start(const CollectiveSpec& spec, const CollectiveInstance& instance, const Tensor& input,
             const Tensor& output, CollectiveDone done) override {
    std::memcpy(output.raw_data(), input.raw_data(), input.num_bytes());
    done(absl::OkStatus());
  }
};

// Two devices: a per-micro-batch chain on cpu:0 whose value crosses to cpu:1
// through a collective, and a per-step op on cpu:1.
PhysicalPlan TwoDevicePlan() {
  PhysicalPlan plan;
  plan.devices = {Device{DeviceType::kCpu, 0}, Device{DeviceType::kCpu, 1}};
  plan.micro_batches = 2;
  plan.ops.push_back(MakeOp("source", "Const", {}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{2}}};
  plan.ops.push_back(MakeOp("double", "TestAffine", {{0, 0}}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"scale", 2.0}, {"shift", 0.0}};
  PlanOp send = MakeOp("send", "Identity", {{1, 0}}, {kScalar}, Frequency::kPerMicroBatch,
                       PlanOpKind::kCollective);
  send.device = 1;
  send.collective.key = "send";
  send.collective.group = {0};
  plan.ops.push_back(send);
  plan.ops.push_back(MakeOp("total", "Accumulate", {{2, 0}}, {kScalar}, Frequency::kPerStep,
                            PlanOpKind::kAccumulate));
  plan.ops.back().device = 1;
  FetchSpec fetch;
  fetch.name = "total";
  fetch.logical = kScalar;
  fetch.sources = {{3, 0}};
  fetch.boxes = {Box{}};
  plan.fetches.push_back(fetch);
  return plan;
}

TEST(RuntimeTraceTest, WritesOneCompleteEventPerFiring) {
  KernelRegistry kernels = TestKernelRegistry();
  InlineCopyCommunicator communicator;
  RuntimeOptions options;
  options.threads = 2;
  options.trace = true;
  auto harness = MakeRuntime(TwoDevicePlan(), &kernels, options, &communicator);
  ASSERT_TRUE(harness.ok()) << harness.status();
  for (int step = 0; step < 2; ++step) {
    auto result = (*harness)->runtime->RunStep({});
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(Floats(result->fetches.at("total")), std::vector<float>{8.0f});
  }
  const std::string path = ::testing::TempDir() + "/runtime_trace_test.json";
  ASSERT_TRUE((*harness)->runtime->WriteTrace(path).ok());
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  const nlohmann::json trace = nlohmann::json::parse(contents.str());
  ASSERT_TRUE(trace.contains("traceEvents"));
  const nlohmann::json& events = trace["traceEvents"];
  ASSERT_TRUE(events.is_array());

  std::map<int, std::string> processes;
  std::set<std::tuple<int, int, std::string>> threads;
  // (op, device, lane, piece, step) of every firing.
  std::multiset<std::tuple<std::string, int, int, int, int>> firings;
  for (const nlohmann::json& event : events) {
    const std::string phase = event.at("ph").get<std::string>();
    if (phase == "M") {
      if (event.at("name") == "process_name") {
        processes[event.at("pid").get<int>()] = event.at("args").at("name").get<std::string>();
      } else {
        ASSERT_EQ(event.at("name"), "thread_name");
        threads.insert({event.at("pid").get<int>(), event.at("tid").get<int>(),
                        event.at("args").at("name").get<std::string>()});
      }
      continue;
    }
    ASSERT_EQ(phase, "X");
    EXPECT_GE(event.at("ts").get<double>(), 0.0);
    EXPECT_GE(event.at("dur").get<double>(), 0.0);
    firings.insert({event.at("name").get<std::string>(), event.at("pid").get<int>(),
                    event.at("tid").get<int>(), event.at("args").at("piece").get<int>(),
                    event.at("args").at("step").get<int>()});
  }
  EXPECT_EQ(processes, (std::map<int, std::string>{{0, "cpu:0"}, {1, "cpu:1"}}));
  EXPECT_EQ(
      threads,
      (std::set<std::tuple<int, int, std::string>>{
          {0, 0, "compute"}, {0, 1, "communication"}, {1, 0, "compute"}, {1, 1, "communication"}}));
  std::multiset<std::tuple<std::string, int, int, int, int>> expected;
  for (int step = 0; step < 2; ++step) {
    for (int piece = 0; piece < 2; ++piece) {
      expected.insert({"source", 0, 0, piece, step});
      expected.insert({"double", 0, 0, piece, step});
      expected.insert({"send", 1, 1, piece, step});
      expected.insert({"total", 1, 0, piece, step});
    }
  }
  EXPECT_EQ(firings, expected);
  EXPECT_EQ(static_cast<int64_t>(firings.size()), (*harness)->runtime->activations());
}

TEST(RuntimeTraceTest, Errors) {
  KernelRegistry kernels = TestKernelRegistry();
  InlineCopyCommunicator communicator;
  auto untraced = MakeRuntime(TwoDevicePlan(), &kernels, RuntimeOptions{}, &communicator);
  ASSERT_TRUE(untraced.ok()) << untraced.status();
  EXPECT_EQ((*untraced)->runtime->WriteTrace(::testing::TempDir() + "/unused.json"),
            absl::FailedPreconditionError("tracing is off (set RuntimeOptions::trace)"));

  RuntimeOptions options;
  options.trace = true;
  auto traced = MakeRuntime(TwoDevicePlan(), &kernels, options, &communicator);
  ASSERT_TRUE(traced.ok()) << traced.status();
  const std::string path = ::testing::TempDir() + "/no/such/folder/trace.json";
  EXPECT_EQ((*traced)->runtime->WriteTrace(path),
            absl::InvalidArgumentError(absl::StrCat(path, ": cannot write file")));
}

}  // namespace
}  // namespace sbpflow::testing
