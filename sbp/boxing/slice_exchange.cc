// Strategy: the general fallback on one placement. Reduce every partial mesh
// axis (all_reduce), exchange slice intersections among all devices in one
// step, then fill zeros where the destination is partial.
#include <algorithm>

#include "sbp/boxing/strategies.h"

namespace sbpflow::boxing {
namespace {

// `layout` with every partial axis made broadcast.
Layout WithoutPartial(Layout layout) {
  for (Sbp& sbp : layout.nd_sbp) {
    if (sbp.is_partial()) sbp = Sbp::Broadcast();
  }
  return layout;
}

// Whether two layouts on one placement give every device the same box.
bool SameBoxes(const Shape& shape, const Layout& a, const Layout& b) {
  for (int rank = 0; rank < a.placement.size(); ++rank) {
    if (LayoutBox(shape, a, rank) != LayoutBox(shape, b, rank)) return false;
  }
  return true;
}

}  // namespace

// Appends the all_reduce steps that remove `from`'s partial axes; returns the
// resulting layout.
Layout ReducePartialAxes(const BoxingRequest& request, const Layout& from, BoxingPlan* plan) {
  Layout current = from;
  for (int axis = 0; axis < current.placement.mesh_rank(); ++axis) {
    if (!current.nd_sbp[axis].is_partial()) continue;
    Layout next = current;
    next.nd_sbp[axis] = Sbp::Broadcast();
    if (current.placement.mesh()[axis] > 1) {
      plan->steps.push_back(MakeStep(BoxingKind::kAllReduce, axis, current, next,
                                     AxisGroups(current.placement, axis), request.shape,
                                     request.dtype));
    }
    current = std::move(next);
  }
  return current;
}

// Appends the zero_fill step that makes `to`'s partial axes partial.
void FillPartialAxes(const BoxingRequest& request, const Layout& broadcast_to, const Layout& to,
                     BoxingPlan* plan) {
  bool fills = false;
  for (int axis = 0; axis < to.placement.mesh_rank(); ++axis) {
    fills = fills || (to.nd_sbp[axis].is_partial() && !broadcast_to.nd_sbp[axis].is_partial() &&
                      to.placement.mesh()[axis] > 1);
  }
  if (!fills) return;
  plan->steps.push_back(MakeStep(BoxingKind::kZeroFill, -1, broadcast_to, to,
                                 {to.placement.devices()}, request.shape, request.dtype));
}

BoxingPlan PlanSliceExchange(const BoxingRequest& request) {
  BoxingPlan plan;
  const Layout reduced = ReducePartialAxes(request, request.from, &plan);
  const Layout target = WithoutPartial(request.to);
  if (!SameBoxes(request.shape, reduced, target)) {
    plan.steps.push_back(MakeStep(BoxingKind::kAllToAll, -1, reduced, target,
                                  {reduced.placement.devices()}, request.shape, request.dtype));
  }
  FillPartialAxes(request, target, request.to, &plan);
  return plan;
}

BoxingPlan PlanPlacementChange(const BoxingRequest& request) {
  BoxingPlan plan;
  const Layout reduced = ReducePartialAxes(request, request.from, &plan);
  const Layout target = WithoutPartial(request.to);
  std::vector<Device> participants = reduced.placement.devices();
  for (const Device& device : target.placement.devices()) {
    bool present = false;
    for (const Device& known : participants) present = present || known == device;
    if (!present) participants.push_back(device);
  }
  // The same devices in another mesh exchange like an all-to-all; different
  // device sets send and receive.
  std::vector<Device> from_devices = reduced.placement.devices();
  std::vector<Device> to_devices = target.placement.devices();
  std::sort(from_devices.begin(), from_devices.end());
  std::sort(to_devices.begin(), to_devices.end());
  const BoxingKind kind = from_devices == to_devices ? BoxingKind::kAllToAll : BoxingKind::kSendRecv;
  plan.steps.push_back(MakeStep(kind, -1, reduced, target, {participants}, request.shape,
                                request.dtype));
  FillPartialAxes(request, target, request.to, &plan);
  return plan;
}

}  // namespace sbpflow::boxing
