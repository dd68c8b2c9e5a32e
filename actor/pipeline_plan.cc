#include "actor/pipeline_plan.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

absl::StatusOr<std::vector<int>> PeakInFlight(const Schedule& schedule) {
  InstructionCosts costs;
  if (schedule.kind == ScheduleKind::kZbH1) costs.backward = 1;
  SBP_ASSIGN_OR_RETURN(Simulation simulation, SimulateSchedule(schedule, costs));
  return simulation.peak_in_flight;
}

absl::Status AttachPipelineSchedule(const Schedule& schedule, PhysicalPlan* plan) {
  if (schedule.micro_batches != plan->micro_batches) {
    return absl::InvalidArgumentError(absl::StrCat("the schedule has ", schedule.micro_batches,
                                                   " micro-batches, the plan ",
                                                   plan->micro_batches));
  }
  int ranks = 1;
  int chunks = 1;
  for (const PlanOp& op : plan->ops) {
    ranks = std::max(ranks, op.stage + 1);
    chunks = std::max(chunks, op.chunk + 1);
  }
  if (ranks > schedule.stages || chunks > schedule.chunks) {
    return absl::InvalidArgumentError(absl::StrCat("the plan has ", ranks, " pipeline rank(s) of ",
                                                   chunks, " chunk(s), the schedule ",
                                                   schedule.stages, " of ", schedule.chunks));
  }
  plan->pipeline_schedule.assign(schedule.stages, {});
  for (int rank = 0; rank < schedule.stages; ++rank) {
    for (const Instruction& instruction : schedule.ranks[rank]) {
      Phase phase;
      switch (instruction.op) {
        case Instruction::Op::kForward:
          phase = Phase::kForward;
          break;
        case Instruction::Op::kBackward:
          phase = Phase::kBackwardInput;
          break;
        case Instruction::Op::kWeight:
          phase = Phase::kBackwardWeight;
          break;
        default:
          continue;  // sends and receives follow the data
      }
      plan->pipeline_schedule[rank].push_back(
          PipelineInstruction{phase, instruction.micro_batch, instruction.chunk});
    }
  }
  SBP_ASSIGN_OR_RETURN(std::vector<int> peak, PeakInFlight(schedule));
  std::vector<int> device_rank(plan->devices.size(), 0);
  for (const PlanOp& op : plan->ops) device_rank[op.device] = op.stage;
  for (PlanOp& op : plan->ops) {
    if (op.frequency != Frequency::kPerMicroBatch) continue;
    bool crosses_ranks = false;
    if (op.kind == PlanOpKind::kCollective) {
      std::set<int> ranks_in_group;
      for (int device : op.collective.group) ranks_in_group.insert(device_rank[device]);
      crosses_ranks = ranks_in_group.size() > 1;
    }
    op.registers = crosses_ranks ? std::max(op.registers, plan->micro_batches)
                                 : std::max(op.registers, peak[op.stage] + 1);
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
