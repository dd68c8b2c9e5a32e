// Pipeline benchmarks on a balanced synthetic pipeline with fixed per-stage
// compute, run through the real compile pipeline and actor runtime.
//
// The model is P·V "layers" of a benchmark-only op, Work(x, w): its forward
// sleeps F, its input gradient B_in and its weight gradient W (so every
// virtual stage costs the same, and 1F1B's backward is B_in + W = 2F). Every
// rank is one device. Measured bubble = 1 - busy / (P x step time), where
// busy is the time the devices' compute lanes spent in kernels (from the
// runtime's trace); reported next to the
// formulas (P-1)/(M+P-1) for 1F1B, (P-1)/(VM+P-1) for interleaved and
// (P-1)/(3M+P-1) for ZB-H1 (F = B_in = W).
//
// Second part: the same 1F1B pipeline with activations of `--activation-kib`
// per micro-batch over a throttled link, against an infinitely fast one.
//
// Targets: 1F1B within 2 points of its formula; interleaved (V=2) <= 0.55x
// the 1F1B bubble; ZB-H1 <= 0.4x; throttled step <= 1.1x unthrottled.
//
// The bubble runs use 4 KiB activations (their copies are not what is
// measured); the link runs use --activation-kib.
//
// Usage: pipeline_bubble [--stages 4] [--micro-batches 32] [--unit-ms 10]
//            [--link-gbps 2] [--link-latency-us 50] [--activation-kib 256]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "actor/pipeline_plan.h"
#include "actor/runtime.h"
#include "actor/schedule.h"
#include "base/status_macros.h"
#include "comm/in_process_communicator.h"
#include "graph/graph_builder.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"
#include "graph/optimizers/optimizer.h"
#include "graph/shape_inference.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/device_context.h"
#include "nlohmann/json.hpp"
#include "sbp/compile.h"

namespace sbpflow {
namespace {

void SleepMicroseconds(const AttrMap& attrs) {
  const int64_t microseconds = attrs.GetInt("microseconds").value_or(0);
  std::this_thread::sleep_for(std::chrono::microseconds(microseconds));
}

absl::Status RegisterWorkOps(OpRegistry& ops, KernelRegistry& kernels, SbpRuleRegistry& rules,
                             int64_t forward_us, int64_t backward_us, int64_t weight_us,
                             bool split_backward) {
  // The stage balancer weighs FLOPs: count the sleep as 1 TFLOP/s of work.
  auto flops = [](const InferenceContext& context, const std::vector<TensorType>&) {
    return context.attrs.GetInt("microseconds").value_or(0) * 1'000'000;
  };
  SBP_RETURN_IF_ERROR(ops.Register(OpDef{
      .name = "Work",
      .inputs = {{"x"}, {"w"}},
      .attrs = {{"microseconds", AttrType::kInt, std::nullopt}},
      .infer = SameAsFirstInput,
      .gradient = [backward_us, weight_us,
                   split_backward](GradientContext& context) -> absl::Status {
        SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
        GraphBuilder& builder = context.builder();
        if (!split_backward) {
          // One backward op of B_in + W, as GPipe and 1F1B model it.
          SBP_ASSIGN_OR_RETURN(int node,
                               builder.AddNode("WorkBackward", {dy, context.input(1)},
                                               AttrMap{{"microseconds", backward_us + weight_us}}));
          context.SetInputGrad(0, TensorRef{node, 0});
          context.SetInputGrad(1, TensorRef{node, 1});
          return absl::OkStatus();
        }
        // Always, so the first layer costs what the others do.
        SBP_ASSIGN_OR_RETURN(TensorRef dx,
                             builder.Add("WorkGrad", {dy}, AttrMap{{"microseconds", backward_us}}));
        context.SetInputGrad(0, dx);
        SBP_ASSIGN_OR_RETURN(TensorRef dw, builder.Add("WorkWeightGrad", {dy, context.input(1)},
                                                       AttrMap{{"microseconds", weight_us}}));
        context.SetInputGrad(1, dw);
        return absl::OkStatus();
      },
      .flops = flops,
  }));
  SBP_RETURN_IF_ERROR(ops.Register(OpDef{
      .name = "WorkGrad",
      .inputs = {{"dy"}},
      .attrs = {{"microseconds", AttrType::kInt, std::nullopt}},
      .infer = SameAsFirstInput,
      .flops = flops,
  }));
  SBP_RETURN_IF_ERROR(ops.Register(OpDef{
      .name = "WorkWeightGrad",
      .inputs = {{"dy"}, {"w"}},
      .attrs = {{"microseconds", AttrType::kInt, std::nullopt}},
      .infer = [](const InferenceContext& context) -> absl::StatusOr<std::vector<TensorType>> {
        return std::vector<TensorType>{context.inputs[1]};
      },
      .flops = flops,
  }));
  SBP_RETURN_IF_ERROR(ops.Register(OpDef{
      .name = "WorkBackward",
      .inputs = {{"dy"}, {"w"}},
      .attrs = {{"microseconds", AttrType::kInt, std::nullopt}},
      .infer = [](const InferenceContext& context) -> absl::StatusOr<std::vector<TensorType>> {
        return std::vector<TensorType>{context.inputs[0], context.inputs[1]};
      },
      .flops = flops,
  }));
  // y = x (after the sleep); dx = dy; dw = 0.
  auto copy = [](KernelContext& context) -> absl::Status {
    SleepMicroseconds(context.attrs());
    std::copy_n(context.input(0).data<float>(), context.input(0).num_elements(),
                context.output(0).data<float>());
    return absl::OkStatus();
  };
  auto zero = [](KernelContext& context) -> absl::Status {
    SleepMicroseconds(context.attrs());
    context.output(0).SetZero();
    return absl::OkStatus();
  };
  SBP_RETURN_IF_ERROR(
      kernels.Register(KernelKey{"Work", DeviceType::kCpu, DataType::kFloat32}, copy));
  SBP_RETURN_IF_ERROR(
      kernels.Register(KernelKey{"WorkGrad", DeviceType::kCpu, DataType::kFloat32}, copy));
  SBP_RETURN_IF_ERROR(
      kernels.Register(KernelKey{"WorkWeightGrad", DeviceType::kCpu, DataType::kFloat32}, zero));
  SBP_RETURN_IF_ERROR(kernels.Register(
      KernelKey{"WorkBackward", DeviceType::kCpu, DataType::kFloat32},
      [](KernelContext& context) -> absl::Status {
        SleepMicroseconds(context.attrs());
        std::copy_n(context.input(0).data<float>(), context.input(0).num_elements(),
                    context.output(0).data<float>());
        context.output(1).SetZero();
        return absl::OkStatus();
      }));
  // Every rank is one device: the all-broadcast fallback is all that is needed.
  for (const char* op : {"Work", "WorkGrad", "WorkWeightGrad", "WorkBackward"}) {
    SBP_RETURN_IF_ERROR(
        rules.Register(op, [](const SbpRuleContext&) { return std::vector<SbpSignature>{}; }));
  }
  return absl::OkStatus();
}

absl::StatusOr<Graph> BuildPipelineModel(const OpRegistry& ops, int layers, int64_t batch,
                                         int64_t width, int64_t forward_us) {
  Graph graph;
  GraphBuilder builder(&graph, &ops);
  SBP_ASSIGN_OR_RETURN(
      int x, builder.AddNamedNode("x", "Placeholder", {}, AttrMap{{"shape", Shape{-1, width}}}));
  SBP_ASSIGN_OR_RETURN(
      int y, builder.AddNamedNode("y", "Placeholder", {},
                                  AttrMap{{"shape", Shape{-1}}, {"dtype", DataType::kInt32}}));
  TensorRef h{x, 0};
  for (int layer = 0; layer < layers; ++layer) {
    SBP_ASSIGN_OR_RETURN(int w, builder.AddNamedNode(absl::StrCat("layer", layer, ".weight"),
                                                     "Variable", {}, AttrMap{{"shape", Shape{1}}}));
    builder.set_name_prefix(absl::StrCat("layer", layer, "/"));
    SBP_ASSIGN_OR_RETURN(
        h, builder.Add("Work", {h, TensorRef{w, 0}}, AttrMap{{"microseconds", forward_us}}));
  }
  builder.set_name_prefix("");
  SBP_ASSIGN_OR_RETURN(int loss, builder.AddNamedNode("loss", "ReduceMean", {h},
                                                      AttrMap{{"axes", std::vector<int64_t>{}}}));
  graph.mutable_signature().loss = TensorRef{loss, 0};
  graph.mutable_signature().features = "x";
  graph.mutable_signature().labels = "y";
  SBP_RETURN_IF_ERROR(InferGraphShapes(&graph, ops, batch));
  return graph;
}

struct Setup {
  int stages = 4;
  int micro_batches = 32;
  double unit_ms = 10;
  double link_gbps = 2;
  double link_latency_us = 50;
  int64_t activation_kib = 256;
  int steps = 4;
  std::string trace;  // a Chrome trace of the last run
  std::string only;   // run just this schedule (no comparisons)
};

struct Measurement {
  double step_seconds = 0;  // median
  // Idle share of device time in the median step: 1 - (time the compute
  // lanes were running kernels) / (ranks x step time), from the trace.
  double bubble = 0;
};

// Per step: the compute-lane busy seconds summed over devices.
absl::StatusOr<std::vector<double>> BusySeconds(const std::string& trace_path, int steps) {
  std::ifstream file(trace_path);
  nlohmann::json trace = nlohmann::json::parse(file, nullptr, /*allow_exceptions=*/false);
  if (trace.is_discarded()) return absl::InternalError("unreadable trace");
  std::vector<double> busy(steps, 0.0);
  for (const auto& event : trace["traceEvents"]) {
    // A lane's slices may spread over several tracks (tids); the category
    // names the lane.
    if (event.value("ph", "") != "X" || event.value("cat", "") != "compute") continue;
    const int step = event["args"].value("step", -1);
    if (step >= 0 && step < steps) busy[step] += event.value("dur", 0.0) * 1e-6;
  }
  return busy;
}

// A pipelined run: the median step and its bubble.
absl::StatusOr<Measurement> MeasureStep(const Setup& setup, ScheduleKind kind, int chunks,
                                        int64_t activation_kib,
                                        std::optional<LinkThrottle> throttle) {
  OpRegistry ops = *BuildBuiltinOpRegistry();
  KernelRegistry kernels = *BuildBuiltinKernelRegistry();
  SbpRuleRegistry rules = *BuildBuiltinSbpRules();
  // Per virtual stage: F = unit / V, backward 2F (split B_in + W).
  const int64_t forward_us = static_cast<int64_t>(setup.unit_ms * 1000 / chunks);
  // ZB-H1 splits the backward into B and W; the other schedules run it whole.
  SBP_RETURN_IF_ERROR(RegisterWorkOps(ops, kernels, rules, forward_us, forward_us, forward_us,
                                      kind == ScheduleKind::kZbH1));
  const int64_t width = activation_kib * 1024 / 4;
  const int64_t batch = setup.micro_batches;  // one example per micro-batch
  SBP_ASSIGN_OR_RETURN(Graph graph,
                       BuildPipelineModel(ops, setup.stages * chunks, batch, width, forward_us));
  ParallelOptions parallel;
  parallel.devices = absl::StrCat("cpu:0-", setup.stages - 1);
  parallel.pipeline = setup.stages;
  parallel.chunks = chunks;
  parallel.micro_batches = setup.micro_batches;
  OptimizerOptions sgd;
  SBP_ASSIGN_OR_RETURN(CompiledPlan compiled,
                       CompileTrainingGraph(graph, ops, rules, sgd, parallel));
  SBP_ASSIGN_OR_RETURN(Schedule schedule, GenerateSchedule(ScheduleRequest{
                                              kind, setup.stages, setup.micro_batches, chunks}));
  SBP_RETURN_IF_ERROR(AttachPipelineSchedule(schedule, &compiled.plan));
  auto devices = MakeDeviceContexts(compiled.plan.devices);
  std::vector<DeviceContext*> pointers;
  for (auto& device : devices) pointers.push_back(device.get());
  InProcessCommunicator communicator(static_cast<int>(devices.size()), throttle);
  SBP_ASSIGN_OR_RETURN(auto variables, VariableStore::Create(compiled.plan, 1, pointers));
  RuntimeOptions options;
  options.threads = setup.stages;  // a thread per rank: the work sleeps
  options.compute_width = 1;
  options.trace = true;
  SBP_ASSIGN_OR_RETURN(
      auto runtime, Runtime::Create(std::make_shared<const PhysicalPlan>(compiled.plan), &kernels,
                                    variables.get(), pointers, &communicator, options));
  CpuAllocator allocator;
  std::map<std::string, Tensor> feeds;
  for (const FeedSpec& feed : compiled.plan.feeds) {
    Tensor tensor(&allocator, feed.logical.dtype, feed.logical.shape);
    tensor.SetZero();
    feeds[feed.name] = tensor;
  }
  std::vector<double> times;
  for (int step = 0; step < setup.steps + 1; ++step) {
    const auto start = std::chrono::steady_clock::now();
    SBP_RETURN_IF_ERROR(runtime->RunStep(feeds).status());
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  const std::string trace_path =
      setup.trace.empty() ? absl::StrCat("/tmp/sbpflow_pipeline_bubble_", getpid(), ".json")
                          : setup.trace;
  SBP_RETURN_IF_ERROR(runtime->WriteTrace(trace_path));
  SBP_ASSIGN_OR_RETURN(std::vector<double> busy, BusySeconds(trace_path, setup.steps + 1));
  if (setup.trace.empty()) std::remove(trace_path.c_str());
  // The median of the timed steps (the first warms up).
  std::vector<int> order;
  for (int step = 1; step <= setup.steps; ++step) order.push_back(step);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return times[a] < times[b]; });
  const int median = order[order.size() / 2];
  Measurement result;
  result.step_seconds = times[median];
  result.bubble = 1.0 - busy[median] / (setup.stages * times[median]);
  return result;
}

int Run(const Setup& setup) {
  const int p = setup.stages;
  const int m = setup.micro_batches;
  std::printf(
      "balanced pipeline: P=%d ranks, M=%d micro-batches, F = B_in = W = %.1f ms per "
      "rank per micro-batch\n",
      p, m, setup.unit_ms);
  std::printf("%-14s %10s %10s %10s\n", "schedule", "step_ms", "bubble", "formula");
  struct Case {
    const char* name;
    ScheduleKind kind;
    int chunks;
    double formula;
  };
  std::vector<Case> cases = {
      {"gpipe", ScheduleKind::kGPipe, 1, (p - 1.0) / (m + p - 1.0)},
      {"1f1b", ScheduleKind::k1F1B, 1, (p - 1.0) / (m + p - 1.0)},
      {"interleaved", ScheduleKind::kInterleaved, 2, (p - 1.0) / (2.0 * m + p - 1.0)},
      {"zb-h1", ScheduleKind::kZbH1, 1, (p - 1.0) / (3.0 * m + p - 1.0)}};
  std::map<std::string, double> bubbles;
  if (!setup.only.empty()) {
    cases.erase(std::remove_if(cases.begin(), cases.end(),
                               [&](const Case& c) { return setup.only != c.name; }),
                cases.end());
  }
  for (const Case& c : cases) {
    auto step = MeasureStep(setup, c.kind, c.chunks, /*activation_kib=*/4, std::nullopt);
    if (!step.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name, std::string(step.status().message()).c_str());
      return 1;
    }
    bubbles[c.name] = step->bubble;
    std::printf("%-14s %10.1f %10.4f %10.4f\n", c.name, step->step_seconds * 1e3, step->bubble,
                c.formula);
  }
  if (!setup.only.empty()) return 0;
  std::printf("1f1b bubble - formula: %+.2f points (target within 2)\n",
              (bubbles["1f1b"] - cases[1].formula) * 100);
  std::printf("interleaved / 1f1b bubble: %.3f (target <= 0.55)\n",
              bubbles["interleaved"] / bubbles["1f1b"]);
  std::printf("zb-h1 / 1f1b bubble: %.3f (target <= 0.4)\n", bubbles["zb-h1"] / bubbles["1f1b"]);

  const LinkThrottle throttle{setup.link_latency_us * 1e-6, setup.link_gbps * 1e9 / 8};
  auto fast = MeasureStep(setup, ScheduleKind::k1F1B, 1, setup.activation_kib, std::nullopt);
  auto slow = MeasureStep(setup, ScheduleKind::k1F1B, 1, setup.activation_kib, throttle);
  if (!fast.ok() || !slow.ok()) return 1;
  const double transfer_ms =
      (setup.link_latency_us * 1e-6 + setup.activation_kib * 1024.0 / (setup.link_gbps * 1e9 / 8)) *
      1e3;
  std::printf(
      "1f1b with %lld KiB activations over a %.1f Gbit/s, %.0f us link (%.2f ms per "
      "send): step %.1f ms vs %.1f ms with an infinitely fast link = %.3fx (target <= "
      "1.1)\n",
      static_cast<long long>(setup.activation_kib), setup.link_gbps, setup.link_latency_us,
      transfer_ms, slow->step_seconds * 1e3, fast->step_seconds * 1e3,
      slow->step_seconds / fast->step_seconds);
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app("Pipeline bubbles and hidden send/recv on a synthetic balanced pipeline");
  sbpflow::Setup setup;
  app.add_option("--stages", setup.stages, "Pipeline ranks")->capture_default_str();
  app.add_option("--micro-batches", setup.micro_batches, "Micro-batches")->capture_default_str();
  app.add_option("--unit-ms", setup.unit_ms, "F of one rank per micro-batch")
      ->capture_default_str();
  app.add_option("--link-gbps", setup.link_gbps, "Throttled link")->capture_default_str();
  app.add_option("--link-latency-us", setup.link_latency_us, "Throttled link latency")
      ->capture_default_str();
  app.add_option("--activation-kib", setup.activation_kib, "Activation per micro-batch")
      ->capture_default_str();
  app.add_option("--steps", setup.steps, "Timed steps")->capture_default_str();
  app.add_option("--trace", setup.trace, "Write a Chrome trace of each run here (overwritten)");
  app.add_option("--only", setup.only, "Run one schedule and stop");
  CLI11_PARSE(app, argc, argv);
  return sbpflow::Run(setup);
}
