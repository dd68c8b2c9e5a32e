// WriteTrace: Chrome trace JSON with one process per device, per lane as many
// tracks as it ran activations at once, and one complete event per firing.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actor/trace.h"
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
  EXPECT_EQ(threads,
            (std::set<std::tuple<int, int, std::string>>{{0, 0, "cpu:0 compute 0"},
                                                         {0, 1, "cpu:0 communication 0"},
                                                         {1, 0, "cpu:1 compute 0"},
                                                         {1, 1, "cpu:1 communication 0"}}));
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

// A complete event read back, in nanoseconds.
struct Slice {
  std::string name;
  int64_t start;
  int64_t end;
};

// The X events of `trace` per (pid, tid), sorted by start.
std::map<std::pair<int, int>, std::vector<Slice>> SlicesByTrack(const nlohmann::json& trace) {
  std::map<std::pair<int, int>, std::vector<Slice>> tracks;
  for (const nlohmann::json& event : trace.at("traceEvents")) {
    if (event.at("ph") != "X") continue;
    const int64_t start = std::llround(event.at("ts").get<double>() * 1000);
    const int64_t duration = std::llround(event.at("dur").get<double>() * 1000);
    tracks[{event.at("pid").get<int>(), event.at("tid").get<int>()}].push_back(
        Slice{event.at("name").get<std::string>(), start, start + duration});
  }
  for (auto& [track, slices] : tracks) {
    std::stable_sort(slices.begin(), slices.end(),
                     [](const Slice& a, const Slice& b) { return a.start < b.start; });
  }
  return tracks;
}

// Trace viewers draw the slices of one thread as a stack: two slices that
// overlap without one containing the other are drawn wrongly. Ours never
// overlap at all on one track.
void ExpectNoOverlapOnAnyTrack(const nlohmann::json& trace) {
  for (const auto& [track, slices] : SlicesByTrack(trace)) {
    for (size_t index = 1; index < slices.size(); ++index) {
      EXPECT_GE(slices[index].start, slices[index - 1].end)
          << "pid " << track.first << " tid " << track.second << ": '" << slices[index].name
          << "' starts before '" << slices[index - 1].name << "' ends";
    }
  }
}

std::map<std::pair<int, int>, std::string> ThreadNames(const nlohmann::json& trace) {
  std::map<std::pair<int, int>, std::string> names;
  for (const nlohmann::json& event : trace.at("traceEvents")) {
    if (event.at("ph") == "M" && event.at("name") == "thread_name") {
      names[{event.at("pid").get<int>(), event.at("tid").get<int>()}] =
          event.at("args").at("name").get<std::string>();
    }
  }
  return names;
}

// Overlapping events of a lane are spread over tracks, each on the lowest
// track free when it starts; the communication tracks follow the compute
// ones.
TEST(ChromeTraceJsonTest, SpreadsConcurrentEventsOverTracks) {
  auto event = [](int op, int64_t start_ns, int64_t end_ns) {
    return TraceEvent{op, 0, 0, start_ns, end_ns - start_ns};
  };
  const std::vector<LaneTrace> lanes = {
      LaneTrace{0,
                TraceLane::kCompute,
                {event(0, 0, 100'000), event(1, 50'000, 150'000), event(2, 120'000, 200'000),
                 event(3, 160'000, 170'000), event(4, 200'000, 210'000)}},
      LaneTrace{0, TraceLane::kCommunication, {event(5, 0, 500'000), event(6, 10'000, 20'000)}},
      LaneTrace{1, TraceLane::kCompute, {event(0, 0, 10'000), event(1, 20'000, 30'000)}},
  };
  const nlohmann::json trace =
      ChromeTraceJson({"cpu:0", "cpu:1"}, {"a", "b", "c", "d", "e", "s", "t"}, lanes);
  EXPECT_EQ(ThreadNames(trace),
            (std::map<std::pair<int, int>, std::string>{{{0, 0}, "cpu:0 compute 0"},
                                                        {{0, 1}, "cpu:0 compute 1"},
                                                        {{0, 2}, "cpu:0 communication 0"},
                                                        {{0, 3}, "cpu:0 communication 1"},
                                                        {{1, 0}, "cpu:1 compute 0"},
                                                        {{1, 1}, "cpu:1 communication 0"}}));
  std::map<std::pair<int, int>, std::vector<std::string>> names;
  for (const auto& [track, slices] : SlicesByTrack(trace)) {
    for (const Slice& slice : slices) names[track].push_back(slice.name);
  }
  // 'e' starts when 'c' ends: a shared instant counts as overlap (the
  // microsecond values may be read back a nanosecond off).
  EXPECT_EQ(names,
            (std::map<std::pair<int, int>, std::vector<std::string>>{{{0, 0}, {"a", "c"}},
                                                                     {{0, 1}, {"b", "d", "e"}},
                                                                     {{0, 2}, {"s"}},
                                                                     {{0, 3}, {"t"}},
                                                                     {{1, 0}, {"a", "b"}}}));
  ExpectNoOverlapOnAnyTrack(trace);
}

class RuntimeTraceThreadsTest : public ::testing::TestWithParam<int> {};

// A wide graph: two branches that wait for each other (so they surely run at
// once) and eight sleeping ones. At 2+ threads the device's compute lane runs
// several firings at once; every firing is in the trace, on a track of its
// own device where nothing else runs at the same time, and every track used
// is named.
TEST_P(RuntimeTraceThreadsTest, ConcurrentFiringsGoOnSeparateTracks) {
  struct Rendezvous {
    std::mutex mutex;
    std::condition_variable arrived_changed;
    int arrived = 0;
  } rendezvous;
  KernelRegistry kernels = TestKernelRegistry();
  ASSERT_TRUE(
      kernels
          .Register(KernelKey{"TestLatch", DeviceType::kCpu, DataType::kFloat32},
                    [&](KernelContext& context) -> absl::Status {
                      std::unique_lock<std::mutex> lock(rendezvous.mutex);
                      ++rendezvous.arrived;
                      rendezvous.arrived_changed.notify_all();
                      if (!rendezvous.arrived_changed.wait_for(lock, std::chrono::seconds(10), [&] {
                            return rendezvous.arrived >= 2;
                          })) {
                        return absl::AbortedError("the other branch never arrived");
                      }
                      context.output(0).data<float>()[0] = context.input(0).data<float>()[0];
                      return absl::OkStatus();
                    })
          .ok());
  PhysicalPlan plan;
  plan.devices = {Device{}};
  plan.micro_batches = 1;
  plan.ops.push_back(MakeOp("source", "Const", {}, {kScalar}));
  plan.ops.back().attrs = AttrMap{{"value", std::vector<double>{1}}};
  plan.ops.push_back(MakeOp("left", "TestLatch", {{0, 0}}, {kScalar}));
  plan.ops.push_back(MakeOp("right", "TestLatch", {{0, 0}}, {kScalar}));
  constexpr int kSleepers = 8;
  for (int branch = 0; branch < kSleepers; ++branch) {
    plan.ops.push_back(MakeOp(absl::StrCat("sleep", branch), "TestSleep", {{0, 0}}, {kScalar}));
    plan.ops.back().attrs = AttrMap{{"ms", int64_t{2}}};
  }
  plan.ops.push_back(MakeOp("sum", "TestAdd", {{1, 0}, {2, 0}}, {kScalar}));
  FetchSpec fetch;
  fetch.name = "sum";
  fetch.logical = kScalar;
  fetch.sources = {{static_cast<int>(plan.ops.size()) - 1, 0}};
  fetch.boxes = {Box{}};
  plan.fetches.push_back(fetch);
  RuntimeOptions options;
  options.threads = GetParam();
  options.trace = true;
  auto harness = MakeRuntime(plan, &kernels, options);
  ASSERT_TRUE(harness.ok()) << harness.status();
  auto result = (*harness)->runtime->RunStep({});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Floats(result->fetches.at("sum")), std::vector<float>{2.0f});

  const std::string path = ::testing::TempDir() + "/runtime_trace_wide_test.json";
  ASSERT_TRUE((*harness)->runtime->WriteTrace(path).ok());
  std::ifstream file(path);
  std::stringstream contents;
  contents << file.rdbuf();
  const nlohmann::json trace = nlohmann::json::parse(contents.str());
  ExpectNoOverlapOnAnyTrack(trace);
  const std::map<std::pair<int, int>, std::vector<Slice>> tracks = SlicesByTrack(trace);
  std::map<std::string, int> track_of;
  int64_t slices = 0;
  for (const auto& [track, track_slices] : tracks) {
    EXPECT_EQ(track.first, 0);
    for (const Slice& slice : track_slices) track_of[slice.name] = track.second;
    slices += static_cast<int64_t>(track_slices.size());
  }
  EXPECT_EQ(slices, static_cast<int64_t>(plan.ops.size()));
  EXPECT_NE(track_of.at("left"), track_of.at("right"));
  // At most as many compute tracks as kernels of the device may run at once;
  // then the (empty) communication track.
  const std::map<std::pair<int, int>, std::string> names = ThreadNames(trace);
  const int compute_tracks = static_cast<int>(names.size()) - 1;
  EXPECT_GE(compute_tracks, 2);
  EXPECT_LE(compute_tracks, GetParam());
  for (int tid = 0; tid < compute_tracks; ++tid) {
    EXPECT_EQ(names.at({0, tid}), absl::StrCat("cpu:0 compute ", tid));
  }
  EXPECT_EQ(names.at({0, compute_tracks}), "cpu:0 communication 0");
}

INSTANTIATE_TEST_SUITE_P(Threads, RuntimeTraceThreadsTest, ::testing::Values(2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Threads");
                         });

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
