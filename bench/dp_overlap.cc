// Data-parallel training with a throttled link: is the gradient all-reduce
// hidden behind the backward pass?
//
// Runs the GPT (hidden 256, 4 layers, batch 8, AdamW; or with --model mlp
// the MLP 784-1024-1024-10, batch 256, SGD) data-parallel over N in-process
// devices, side by side: with an unthrottled link
// (the compute time), with the link throttled to an alpha-beta model and
// bucketed all-reduces overlapping the backward pass, and the same with
// overlap off (collectives start after the backward pass). The
// communication time is the modeled time of the step's collectives on the
// busiest device. Target: overlapped step <= 1.15 x max(compute, comm).
//
// A sweep over link bandwidths shows the compute-bound, balanced and
// communication-bound regimes.
//
// Usage: dp_overlap [--model gpt|mlp] [--devices 2] [--gbps 4,2,1,0.5]
//            [--latency-us 50] [--steps 12] [--bucket-mib 1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "actor/runtime.h"
#include "actor/variable_store.h"
#include "comm/in_process_communicator.h"
#include "graph/models/gpt.h"
#include "graph/models/mlp.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "graph/ops/builtin_ops.h"
#include "graph/optimizers/optimizer.h"
#include "graph/shape_inference.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/device_context.h"
#include "sbp/compile.h"

namespace sbpflow {
namespace {

struct Measurement {
  double step_seconds = 0;
  double modeled_comm_seconds = 0;
};

absl::StatusOr<Measurement> Measure(const Graph& training, const OpRegistry& ops,
                                    const KernelRegistry& kernels, const SbpRuleRegistry& rules,
                                    int devices, std::optional<LinkThrottle> throttle, bool overlap,
                                    int steps, double bucket_mib) {
  ParallelOptions options;
  options.devices = absl::StrCat("cpu:0-", devices - 1);
  options.strategy.strategy = "dp";
  options.overlap = overlap;
  options.bucket_bytes = static_cast<int64_t>(bucket_mib * (1 << 20));
  auto compiled = CompileGraph(training, ops, rules, options);
  if (!compiled.ok()) return compiled.status();
  Measurement result;
  if (throttle.has_value()) {
    std::vector<double> per_device(devices, 0.0);
    for (const PlanOp& op : compiled->plan.ops) {
      if (op.kind != PlanOpKind::kCollective) continue;
      per_device[op.device] += throttle->latency_seconds * op.collective.hops +
                               op.collective.bytes_sent[op.collective.rank] /
                                   throttle->bytes_per_second;
    }
    result.modeled_comm_seconds = *std::max_element(per_device.begin(), per_device.end());
  }
  auto contexts = MakeDeviceContexts(compiled->plan.devices);
  std::vector<DeviceContext*> pointers;
  for (auto& context : contexts) pointers.push_back(context.get());
  InProcessCommunicator communicator(devices, throttle);
  auto variables = VariableStore::Create(compiled->plan, 1, pointers);
  if (!variables.ok()) return variables.status();
  RuntimeOptions runtime_options;
  runtime_options.threads = devices;
  auto runtime = Runtime::Create(std::make_shared<const PhysicalPlan>(compiled->plan), &kernels,
                                 variables->get(), pointers, &communicator, runtime_options);
  if (!runtime.ok()) return runtime.status();
  CpuAllocator allocator;
  std::map<std::string, Tensor> feeds;
  for (const FeedSpec& feed : compiled->plan.feeds) {
    Tensor tensor(&allocator, feed.logical.dtype, feed.logical.shape);
    tensor.SetZero();
    if (feed.logical.dtype == DataType::kFloat32) {
      for (int64_t i = 0; i < tensor.num_elements(); ++i) tensor.data<float>()[i] = (i % 255) / 255.0f;
    }
    feeds[feed.name] = tensor;
  }
  std::vector<double> times;
  for (int step = 0; step < steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    auto outcome = (*runtime)->RunStep(feeds);
    if (!outcome.ok()) return outcome.status();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  times.erase(times.begin(), times.begin() + std::min<int>(2, times.size() - 1));  // warm-up
  std::sort(times.begin(), times.end());
  result.step_seconds = times[times.size() / 2];
  return result;
}

int Run(const std::string& model, int devices, const std::string& gbps_list, double latency_us,
        int steps, double bucket_mib) {
  auto ops = BuildBuiltinOpRegistry();
  auto kernels = BuildBuiltinKernelRegistry();
  auto rules = BuildBuiltinSbpRules();
  absl::StatusOr<Graph> graph;
  std::string description;
  if (model == "gpt") {
    graph = BuildGpt(*ops, GptOptions{.layers = 4, .hidden = 256, .heads = 4, .seq = 128,
                                      .vocab = 256});
    if (!graph.ok() || !InferGraphShapes(&*graph, *ops, 8).ok()) return 1;
    description = "GPT hidden 256, 4 layers, seq 128, batch 8, AdamW";
  } else {
    graph = BuildMlp(*ops, MlpOptions{{784, 1024, 1024, 10}});
    if (!graph.ok() || !InferGraphShapes(&*graph, *ops, 256).ok()) return 1;
    description = "MLP 784-1024-1024-10, batch 256, SGD";
  }
  OptimizerOptions optimizer;
  optimizer.learning_rate = 0.01;
  if (model == "gpt") optimizer.kind = OptimizerOptions::Kind::kAdamW;
  if (!BuildTrainingGraph(&*graph, *ops, optimizer).ok()) return 1;
  auto compute = Measure(*graph, *ops, *kernels, *rules, devices, std::nullopt, true, steps, bucket_mib);
  if (!compute.ok()) {
    std::fprintf(stderr, "%s\n", std::string(compute.status().message()).c_str());
    return 1;
  }
  std::printf("%s, DP over %d devices, link latency %.0f us, buckets of %.1f MiB\n",
              description.c_str(), devices, latency_us, bucket_mib);
  std::printf("compute (unthrottled step): %.1f ms\n", compute->step_seconds * 1e3);
  std::printf("%10s %10s %14s %14s %14s %14s\n", "Gbit/s", "comm_ms", "overlap_ms",
              "ratio", "no_overlap_ms", "ratio");
  for (absl::string_view text : absl::StrSplit(gbps_list, ',')) {
    double gbps = 0;
    if (!absl::SimpleAtod(text, &gbps) || gbps <= 0) return 2;
    const LinkThrottle throttle{latency_us * 1e-6, gbps * 1e9 / 8};
    auto overlapped = Measure(*graph, *ops, *kernels, *rules, devices, throttle, true, steps, bucket_mib);
    auto serial = Measure(*graph, *ops, *kernels, *rules, devices, throttle, false, steps, bucket_mib);
    if (!overlapped.ok() || !serial.ok()) return 1;
    const double comm = overlapped->modeled_comm_seconds;
    const double bound = std::max(compute->step_seconds, comm);
    std::printf("%10.2f %10.1f %14.1f %14.3f %14.1f %14.3f\n", gbps, comm * 1e3,
                overlapped->step_seconds * 1e3, overlapped->step_seconds / bound,
                serial->step_seconds * 1e3, serial->step_seconds / bound);
  }
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app("Data-parallel overlap with a throttled link");
  std::string model = "gpt";
  int devices = 2;
  std::string gbps = "4,2,1,0.5";
  double latency_us = 50;
  int steps = 12;
  double bucket_mib = 1;
  app.add_option("--devices", devices, "Data-parallel devices")->capture_default_str();
  app.add_option("--model", model, "gpt or mlp")->capture_default_str();
  app.add_option("--gbps", gbps, "Link bandwidths to try, Gbit/s")->capture_default_str();
  app.add_option("--latency-us", latency_us, "Link latency")->capture_default_str();
  app.add_option("--steps", steps, "Steps per run (2 warm-up)")->capture_default_str();
  app.add_option("--bucket-mib", bucket_mib, "Gradient bucket size")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (model != "gpt" && model != "mlp") {
    std::fprintf(stderr, "--model must be gpt or mlp\n");
    return 2;
  }
  return sbpflow::Run(model, devices, gbps, latency_us, steps, bucket_mib);
}
