#include "actor/pipeline_gate.h"

#include "absl/strings/str_cat.h"

namespace sbpflow {
namespace {

bool IsGated(const PlanOp& op) {
  return op.kind == PlanOpKind::kKernel && op.frequency == Frequency::kPerMicroBatch &&
         op.phase != Phase::kOptimizer;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PipelineGates>> PipelineGates::Create(const PhysicalPlan& plan) {
  if (plan.pipeline_schedule.empty()) return std::unique_ptr<PipelineGates>();
  std::unique_ptr<PipelineGates> gates(new PipelineGates());
  const int num_ops = static_cast<int>(plan.ops.size());
  gates->num_devices_ = static_cast<int>(plan.devices.size());
  gates->devices_ = std::make_unique<DeviceGate[]>(gates->num_devices_);
  gates->group_of_.assign(num_ops, -1);
  gates->device_of_.assign(num_ops, -1);
  // Without W instructions, weight-gradient kernels run with B.
  bool has_weight = false;
  for (const auto& rank : plan.pipeline_schedule) {
    for (const PipelineInstruction& instruction : rank) {
      has_weight = has_weight || instruction.phase == Phase::kBackwardWeight;
    }
  }
  std::vector<int> device_rank(gates->num_devices_, -1);
  for (int op_index = 0; op_index < num_ops; ++op_index) {
    const PlanOp& op = plan.ops[op_index];
    if (!IsGated(op)) continue;
    if (op.stage < 0 || op.stage >= static_cast<int>(plan.pipeline_schedule.size())) {
      return absl::InvalidArgumentError(absl::StrCat("op '", op.name, "': pipeline rank ",
                                                     op.stage, " has no schedule"));
    }
    if (device_rank[op.device] >= 0 && device_rank[op.device] != op.stage) {
      return absl::InvalidArgumentError(absl::StrCat(
          "op '", op.name, "': device ", plan.devices[op.device].ToString(),
          " runs ops of pipeline ranks ", device_rank[op.device], " and ", op.stage));
    }
    device_rank[op.device] = op.stage;
    const Phase phase =
        op.phase == Phase::kBackwardWeight && !has_weight ? Phase::kBackwardInput : op.phase;
    DeviceGate& device = gates->devices_[op.device];
    int group = -1;
    for (size_t index = 0; index < device.groups.size(); ++index) {
      if (device.groups[index].phase == phase && device.groups[index].chunk == op.chunk) {
        group = static_cast<int>(index);
      }
    }
    if (group < 0) {
      group = static_cast<int>(device.groups.size());
      device.groups.push_back(Group{phase, op.chunk, {}});
    }
    device.groups[group].ops.push_back(op_index);
    gates->group_of_[op_index] = group;
    gates->device_of_[op_index] = op.device;
  }
  for (int device_index = 0; device_index < gates->num_devices_; ++device_index) {
    DeviceGate& device = gates->devices_[device_index];
    if (device_rank[device_index] < 0) continue;
    device.rank = device_rank[device_index];
    device.instructions = plan.pipeline_schedule[device.rank];
    std::map<std::pair<int, int>, int> seen;  // (group, micro-batch) -> count
    for (const PipelineInstruction& instruction : device.instructions) {
      for (size_t group = 0; group < device.groups.size(); ++group) {
        if (device.groups[group].phase == instruction.phase &&
            device.groups[group].chunk == instruction.chunk) {
          device.steps.emplace_back(static_cast<int>(group), instruction.micro_batch);
          ++seen[{static_cast<int>(group), instruction.micro_batch}];
        }
      }
    }
    for (size_t group = 0; group < device.groups.size(); ++group) {
      for (int micro_batch = 0; micro_batch < plan.micro_batches; ++micro_batch) {
        const int count = seen[{static_cast<int>(group), micro_batch}];
        if (count != 1) {
          return absl::InvalidArgumentError(absl::StrCat(
              "rank ", device.rank, " has ", count, " instructions for ",
              PhaseName(device.groups[group].phase), " of micro-batch ", micro_batch, ", chunk ",
              device.groups[group].chunk, " (expected 1)"));
        }
      }
    }
  }
  return gates;
}

bool PipelineGates::MayFire(int op, int micro_batch) {
  DeviceGate& device = devices_[device_of_[op]];
  std::lock_guard<SpinLock> lock(device.mutex);
  if (device.cursor >= device.steps.size()) return false;
  const auto& [group, step_micro_batch] = device.steps[device.cursor];
  return group == group_of_[op] && step_micro_batch == micro_batch;
}

std::vector<int> PipelineGates::Finished(int op, int micro_batch) {
  DeviceGate& device = devices_[device_of_[op]];
  std::lock_guard<SpinLock> lock(device.mutex);
  const auto& [group, step_micro_batch] = device.steps[device.cursor];
  (void)step_micro_batch;
  if (++device.fired < static_cast<int>(device.groups[group].ops.size())) return {};
  device.fired = 0;
  ++device.cursor;
  if (device.cursor >= device.steps.size()) return {};
  return device.groups[device.steps[device.cursor].first].ops;
}

void PipelineGates::Reset() {
  for (int index = 0; index < num_devices_; ++index) {
    DeviceGate& device = devices_[index];
    std::lock_guard<SpinLock> lock(device.mutex);
    device.cursor = 0;
    device.fired = 0;
  }
}

std::string PipelineGates::Describe(int op) {
  DeviceGate& device = devices_[device_of_[op]];
  std::lock_guard<SpinLock> lock(device.mutex);
  if (device.cursor >= device.steps.size()) {
    return absl::StrCat("rank ", device.rank, " has run its whole schedule");
  }
  const auto& [group, micro_batch] = device.steps[device.cursor];
  return absl::StrCat("rank ", device.rank, " is at instruction ", device.cursor + 1, " of ",
                      device.steps.size(), ": ", PhaseName(device.groups[group].phase),
                      " micro-batch ", micro_batch, " chunk ", device.groups[group].chunk, ", ",
                      device.fired, " of ", device.groups[group].ops.size(), " ops done");
}

}  // namespace sbpflow
