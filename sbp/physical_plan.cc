#include "sbp/physical_plan.h"

namespace sbpflow {

absl::string_view PlanOpKindName(PlanOpKind kind) {
  switch (kind) {
    case PlanOpKind::kKernel:
      return "kernel";
    case PlanOpKind::kPlaceholder:
      return "placeholder";
    case PlanOpKind::kVariable:
      return "variable";
    case PlanOpKind::kAccumulate:
      return "accumulate";
    case PlanOpKind::kCollective:
      return "collective";
  }
  return "kernel";
}

absl::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kForward:
      return "F";
    case Phase::kBackwardInput:
      return "B";
    case Phase::kBackwardWeight:
      return "W";
    case Phase::kOptimizer:
      return "optimizer";
  }
  return "F";
}

}  // namespace sbpflow
