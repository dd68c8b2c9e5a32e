// The boxing strategies (one per file) and what they share. Internal to
// sbp/boxing.
#ifndef SBPFLOW_SBP_BOXING_STRATEGIES_H_
#define SBPFLOW_SBP_BOXING_STRATEGIES_H_

#include <optional>
#include <vector>

#include "sbp/boxing/boxing_plan.h"

namespace sbpflow::boxing {

// The box device `rank` of `layout` holds.
Box LayoutBox(const Shape& shape, const Layout& layout, int rank);

// The box `device` holds in `layout`, or nullopt when it is not part of the
// layout's placement.
std::optional<Box> DeviceBox(const Shape& shape, const Layout& layout, const Device& device);

// Builds a step over `groups` of devices and fills its device list and
// bytes sent per device.
BoxingStep MakeStep(BoxingKind kind, int mesh_axis, const Layout& from, const Layout& to,
                    std::vector<std::vector<Device>> groups, const Shape& shape, DataType dtype);

// Groups of a step on one mesh axis of `placement`: its lines.
std::vector<std::vector<Device>> AxisGroups(const Placement& placement, int mesh_axis);

// Strategy 1: change one mesh axis at a time (same placement). nullopt when
// some axis step is not a valid collective for these sizes.
std::optional<BoxingPlan> PlanAxisByAxis(const BoxingRequest& request);

// all_reduce steps removing `from`'s partial axes (appended to `plan`); the
// resulting layout.
Layout ReducePartialAxes(const BoxingRequest& request, const Layout& from, BoxingPlan* plan);
// A zero_fill step from `broadcast_to` (`to` with partial axes broadcast) to
// `to`, when they differ.
void FillPartialAxes(const BoxingRequest& request, const Layout& broadcast_to, const Layout& to,
                     BoxingPlan* plan);

// Strategy 2: reduce partial axes, exchange slice intersections among all
// devices, fill zeros for partial destinations (same placement).
BoxingPlan PlanSliceExchange(const BoxingRequest& request);

// Strategy 3: between different placements.
BoxingPlan PlanPlacementChange(const BoxingRequest& request);

// On one placement: strategy 1 where it applies, else strategy 2 (an empty
// plan when `from` equals `to`).
BoxingPlan PlanSamePlacement(const BoxingRequest& request);

// Strategy 4: between congruent placements (CongruentPlacements): the change
// on one placement, before or after moving every shard unchanged to the
// device at its mesh position, whichever is cheaper.
BoxingPlan PlanCongruentMove(const BoxingRequest& request);

// A 1-D step for the change `from` -> `to` on one mesh axis, or nullopt when
// no single step does it (P(max) involved).
std::optional<BoxingKind> AxisStepKind(const Sbp& from, const Sbp& to);

}  // namespace sbpflow::boxing

#endif  // SBPFLOW_SBP_BOXING_STRATEGIES_H_
