// Measures the actor runtime's overhead per activation: a chain of Identity
// ops on a scalar does almost no work per firing, so wall time divided by
// activations is the cost of the runtime itself (messages, register
// bookkeeping, allocation, scheduling).
//
// Usage: actor_overhead [--ops N] [--steps S] [--threads T,...]
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "actor/runtime.h"
#include "actor/variable_store.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/device_context.h"

namespace sbpflow {
namespace {

PhysicalPlan IdentityChain(int ops) {
  const TensorType scalar{DataType::kFloat32, Shape{}};
  PhysicalPlan plan;
  plan.devices = {Device{}};
  PlanOp input;
  input.name = "x";
  input.kind = PlanOpKind::kPlaceholder;
  input.type = "Placeholder";
  input.feed = "x";
  input.outputs = {scalar};
  plan.ops.push_back(input);
  for (int index = 1; index <= ops; ++index) {
    PlanOp op;
    op.name = "identity_" + std::to_string(index);
    op.type = "Identity";
    op.inputs = {PlanValue{index - 1, 0}};
    op.outputs = {scalar};
    plan.ops.push_back(op);
  }
  plan.feeds.push_back(FeedSpec{"x", scalar});
  FetchSpec fetch;
  fetch.name = "y";
  fetch.logical = scalar;
  fetch.sources = {PlanValue{ops, 0}};
  fetch.boxes = {Box{}};
  plan.fetches.push_back(fetch);
  return plan;
}

int Run(int ops, int steps, const std::vector<int>& thread_counts) {
  auto kernels = BuildBuiltinKernelRegistry();
  if (!kernels.ok()) {
    std::fprintf(stderr, "%s\n", std::string(kernels.status().message()).c_str());
    return 1;
  }
  auto plan = std::make_shared<const PhysicalPlan>(IdentityChain(ops));
  auto contexts = MakeDeviceContexts(plan->devices);
  std::vector<DeviceContext*> devices = {contexts[0].get()};
  auto variables = VariableStore::Create(*plan, 0, devices);
  if (!variables.ok()) return 1;
  CpuAllocator allocator;
  const Tensor x = Tensor::FromVector(&allocator, Shape{}, std::vector<float>{1.0f});
  std::printf("chain of %d Identity ops on a scalar, %d steps\n", ops, steps);
  for (int threads : thread_counts) {
    RuntimeOptions options;
    options.threads = threads;
    auto runtime = Runtime::Create(plan, &*kernels, variables->get(), devices, nullptr, options);
    if (!runtime.ok()) {
      std::fprintf(stderr, "%s\n", std::string(runtime.status().message()).c_str());
      return 1;
    }
    // Warm up threads and allocator.
    for (int step = 0; step < 5; ++step) {
      if (!(*runtime)->RunStep({{"x", x}}).ok()) return 1;
    }
    const int64_t before = (*runtime)->activations();
    const auto start = std::chrono::steady_clock::now();
    for (int step = 0; step < steps; ++step) {
      auto result = (*runtime)->RunStep({{"x", x}});
      if (!result.ok()) {
        std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
        return 1;
      }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const int64_t activations = (*runtime)->activations() - before;
    std::printf("threads %d: %lld activations in %.3f s: %.3f us per activation\n", threads,
                static_cast<long long>(activations), seconds,
                seconds * 1e6 / static_cast<double>(activations));
  }
  return 0;
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app{"Actor runtime overhead per activation"};
  int ops = 1000;
  int steps = 200;
  std::vector<int> threads = {1, 2, 4};
  app.add_option("--ops", ops, "Identity ops in the chain")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "measured steps")->check(CLI::PositiveNumber);
  app.add_option("--threads", threads, "thread counts to measure")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  return sbpflow::Run(ops, steps, threads);
}
