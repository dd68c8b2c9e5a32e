#include "tests/parallel/parallel_testing.h"

#include <cmath>

#include "actor/pipeline_plan.h"
#include "actor/runtime.h"
#include "actor/schedule.h"
#include "actor/variable_store.h"
#include "base/initializer.h"
#include "base/status_macros.h"
#include "comm/in_process_communicator.h"
#include "gtest/gtest.h"
#include "kernel/device_context.h"
#include "sbp/sbp_rules.h"

namespace sbpflow::testing {

absl::StatusOr<TrainResult> TrainSteps(const Graph& forward, const OpRegistry& ops,
                                       const KernelRegistry& kernels, const TrainSetup& setup,
                                       const std::vector<std::map<std::string, Tensor>>& feeds) {
  SBP_ASSIGN_OR_RETURN(SbpRuleRegistry rules, BuildBuiltinSbpRules());
  SBP_ASSIGN_OR_RETURN(CompiledPlan compiled, CompileTrainingGraph(forward, ops, rules,
                                                                   setup.optimizer,
                                                                   setup.parallel));
  if (!setup.schedule.empty()) {
    SBP_ASSIGN_OR_RETURN(ScheduleKind kind, ParseScheduleKind(setup.schedule));
    SBP_ASSIGN_OR_RETURN(Schedule schedule,
                         GenerateSchedule(ScheduleRequest{kind, setup.parallel.pipeline,
                                                          setup.parallel.micro_batches,
                                                          setup.parallel.chunks}));
    SBP_RETURN_IF_ERROR(AttachPipelineSchedule(schedule, &compiled.plan));
  }
  auto devices = MakeDeviceContexts(compiled.plan.devices);
  std::vector<DeviceContext*> device_pointers;
  for (auto& device : devices) device_pointers.push_back(device.get());
  InProcessCommunicator communicator(static_cast<int>(devices.size()));
  SBP_ASSIGN_OR_RETURN(auto variables,
                       VariableStore::Create(compiled.plan, setup.seed, device_pointers));
  RuntimeOptions options;
  options.threads = setup.threads;
  // A stuck schedule should fail the test quickly rather than time it out.
  options.watchdog_timeout = absl::Seconds(20);
  SBP_ASSIGN_OR_RETURN(auto runtime,
                       Runtime::Create(std::make_shared<const PhysicalPlan>(compiled.plan),
                                       &kernels, variables.get(), device_pointers, &communicator,
                                       options));
  TrainResult result;
  for (const PlanOp& op : compiled.plan.ops) {
    if (op.kind == PlanOpKind::kCollective && op.collective.rank == 0) ++result.collectives[op.type];
  }
  for (const auto& batch : feeds) {
    SBP_ASSIGN_OR_RETURN(StepResult step, runtime->RunStep(batch));
    result.losses.push_back(step.fetches.at("loss").data<float>()[0]);
  }
  for (DeviceContext* device : device_pointers) {
    result.peak_bytes.push_back(device->allocator()->peak_bytes());
  }
  CpuAllocator allocator;
  for (const VariableSpec& spec : variables->variables()) {
    SBP_ASSIGN_OR_RETURN(Tensor value, variables->ReadLogical(spec.name, &allocator));
    if (value.dtype() != DataType::kFloat32) continue;
    result.variables[spec.name] = value.ToVector<float>();
  }
  return result;
}

std::vector<std::map<std::string, Tensor>> RandomBatches(const Graph& graph, int steps,
                                                         int64_t vocabulary, int64_t classes,
                                                         Allocator* allocator) {
  std::vector<std::map<std::string, Tensor>> batches;
  for (int step = 0; step < steps; ++step) {
    std::map<std::string, Tensor> batch;
    for (const std::string& name : {graph.signature().features, graph.signature().labels}) {
      const TensorType& type = graph.node(*graph.FindNode(name)).outputs[0];
      const bool labels = name == graph.signature().labels;
      Tensor tensor(allocator, type.dtype, type.shape);
      const uint64_t key = MixBits(static_cast<uint64_t>(step), labels ? 2 : 1);
      for (int64_t i = 0; i < tensor.num_elements(); ++i) {
        const double uniform = UniformFromCounter(key, i);
        if (type.dtype == DataType::kFloat32) {
          tensor.data<float>()[i] = static_cast<float>(uniform);
        } else {
          tensor.data<int32_t>()[i] =
              static_cast<int32_t>(uniform * static_cast<double>(labels ? classes : vocabulary));
        }
      }
      batch[name] = tensor;
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

::testing::AssertionResult AllClose(const TrainResult& actual, const TrainResult& expected,
                                    double rtol, double atol) {
  auto close = [&](double a, double b) { return std::abs(a - b) <= rtol * std::abs(b) + atol; };
  if (actual.losses.size() != expected.losses.size()) {
    return ::testing::AssertionFailure() << "different step counts";
  }
  for (size_t step = 0; step < expected.losses.size(); ++step) {
    if (!close(actual.losses[step], expected.losses[step])) {
      return ::testing::AssertionFailure() << "loss of step " << step + 1 << ": "
                                           << actual.losses[step] << " vs "
                                           << expected.losses[step];
    }
  }
  for (const auto& [name, values] : expected.variables) {
    auto it = actual.variables.find(name);
    if (it == actual.variables.end()) {
      return ::testing::AssertionFailure() << "variable " << name << " is missing";
    }
    for (size_t i = 0; i < values.size(); ++i) {
      if (!close(it->second[i], values[i])) {
        return ::testing::AssertionFailure() << name << "[" << i << "]: " << it->second[i]
                                             << " vs " << values[i];
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sbpflow::testing
