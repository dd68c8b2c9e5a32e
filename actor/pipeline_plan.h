// Puts a pipeline schedule into a physical plan: each rank's F/B/W
// instruction order (PhysicalPlan::pipeline_schedule, which the runtime's
// pipeline gates follow) and register counts that bound activation memory by
// the schedule's in-flight micro-batches.
#ifndef SBPFLOW_ACTOR_PIPELINE_PLAN_H_
#define SBPFLOW_ACTOR_PIPELINE_PLAN_H_

#include <vector>

#include "absl/status/status.h"
#include "actor/schedule.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

// Per-micro-batch ops of rank r get peak_in_flight[r] + 1 registers (the
// activations a rank keeps for its backward passes never exceed the
// schedule's in-flight count, and one more lets the next micro-batch's
// producer start); collectives between ranks get one register per
// micro-batch, so a send never waits for its receiver's schedule. Errors
// (InvalidArgument): the plan's micro-batches, ranks or chunks disagree with
// the schedule's.
absl::Status AttachPipelineSchedule(const Schedule& schedule, PhysicalPlan* plan);

// The schedule's per-rank peak in-flight micro-batches (default costs).
absl::StatusOr<std::vector<int>> PeakInFlight(const Schedule& schedule);

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_PIPELINE_PLAN_H_
