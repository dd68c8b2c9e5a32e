// Data-parallel training with a throttled link: is the gradient all-reduce
// hidden behind the backward pass?
//
// Runs the MLP 784-1024-1024-10 (batch 256, SGD) data-parallel over N
// in-process devices three times, side by side: with an unthrottled link
// (the compute time), with the link throttled to an alpha-beta model and
// bucketed all-reduces overlapping the backward pass, and the same with
// overlap off (collectives start after the backward pass). The
// communication time is the modeled time of the step's collectives on the
// busiest device. Target: overlapped step <= 1.15 x max(compute, comm).
//
// Usage: dp_overlap [--devices 2] [--gbps 1] [--latency-us 50] [--steps 12]
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
#include "graph/models/mlp.h"
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

int Run(int devices, double gbps, double latency_us, int steps, double bucket_mib) {
  auto ops = BuildBuiltinOpRegistry();
  auto kernels = BuildBuiltinKernelRegistry();
  auto rules = BuildBuiltinSbpRules();
  auto graph = BuildMlp(*ops, MlpOptions{{784, 1024, 1024, 10}});
  if (!graph.ok() || !InferGraphShapes(&*graph, *ops, 256).ok()) return 1;
  OptimizerOptions sgd;
  sgd.learning_rate = 0.01;
  if (!BuildTrainingGraph(&*graph, *ops, sgd).ok()) return 1;
  const LinkThrottle throttle{latency_us * 1e-6, gbps * 1e9 / 8};
  auto compute = Measure(*graph, *ops, *kernels, *rules, devices, std::nullopt, true, steps, bucket_mib);
  auto overlapped = Measure(*graph, *ops, *kernels, *rules, devices, throttle, true, steps, bucket_mib);
  auto serial = Measure(*graph, *ops, *kernels, *rules, devices, throttle, false, steps, bucket_mib);
  if (!compute.ok() || !overlapped.ok() || !serial.ok()) {
    std::fprintf(stderr, "failed\n");
    return 1;
  }
  const double comm = overlapped->modeled_comm_seconds;
  const double bound = std::max(compute->step_seconds, comm);
  std::printf("MLP 784-1024-1024-10, batch 256, DP over %d devices, link %.2f Gbit/s %.0f us\n",
              devices, gbps, latency_us);
  std::printf("compute (unthrottled step)   %8.1f ms\n", compute->step_seconds * 1e3);
  std::printf("communication (modeled)      %8.1f ms\n", comm * 1e3);
  std::printf("step, overlap on             %8.1f ms = %.3f x max(compute, comm)\n",
              overlapped->step_seconds * 1e3, overlapped->step_seconds / bound);
  std::printf("step, overlap off            %8.1f ms = %.3f x max(compute, comm)\n",
              serial->step_seconds * 1e3, serial->step_seconds / bound);
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app("Data-parallel overlap with a throttled link");
  int devices = 2;
  double gbps = 1.0;
  double latency_us = 50;
  int steps = 12;
  double bucket_mib = 1;
  app.add_option("--devices", devices, "Data-parallel devices")->capture_default_str();
  app.add_option("--gbps", gbps, "Link bandwidth, Gbit/s")->capture_default_str();
  app.add_option("--latency-us", latency_us, "Link latency")->capture_default_str();
  app.add_option("--steps", steps, "Steps per run (2 warm-up)")->capture_default_str();
  app.add_option("--bucket-mib", bucket_mib, "Gradient bucket size")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return sbpflow::Run(devices, gbps, latency_us, steps, bucket_mib);
}
