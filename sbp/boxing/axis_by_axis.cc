// Strategy: change one mesh axis at a time, each step a 1-D collective over
// the lines of that axis. Valid when every step's groups can produce their
// outputs from their own inputs (checked exactly, so uneven splits that do
// not nest are detected and left to the general exchange).
#include "sbp/boxing/strategies.h"

namespace sbpflow::boxing {

std::optional<BoxingKind> AxisStepKind(const Sbp& from, const Sbp& to) {
  if (from.kind() == Sbp::Kind::kPartialMax || to.kind() == Sbp::Kind::kPartialMax) {
    return std::nullopt;
  }
  if (from.is_split() && to.is_split()) return BoxingKind::kAllToAll;
  if (from.is_split() && to.is_broadcast()) return BoxingKind::kAllGather;
  if (from.is_partial() && to.is_broadcast()) return BoxingKind::kAllReduce;
  if (from.is_partial() && to.is_split()) return BoxingKind::kReduceScatter;
  if (from.is_broadcast() && to.is_split()) return BoxingKind::kSlice;
  if (to.is_partial()) return BoxingKind::kZeroFill;  // B->P or S->P
  return std::nullopt;
}

namespace {

bool Contains(const Box& outer, const Box& inner) {
  for (size_t axis = 0; axis < outer.size(); ++axis) {
    if (inner[axis].size() == 0) continue;
    if (inner[axis].begin < outer[axis].begin || inner[axis].end > outer[axis].end) return false;
  }
  return true;
}

// Whether one step of `kind` over the lines of `mesh_axis` turns `from` into
// `to` exactly.
bool StepIsValid(BoxingKind kind, int mesh_axis, const Layout& from, const Layout& to,
                 const Shape& shape) {
  for (const std::vector<Device>& group : AxisGroups(from.placement, mesh_axis)) {
    std::vector<std::optional<Box>> inputs;
    std::vector<std::optional<Box>> outputs;
    for (const Device& device : group) {
      inputs.push_back(DeviceBox(shape, from, device));
      outputs.push_back(DeviceBox(shape, to, device));
    }
    switch (kind) {
      case BoxingKind::kAllGather:
      case BoxingKind::kAllToAll:
        if (!PlanBoxCopies(inputs, outputs).has_value()) return false;
        break;
      case BoxingKind::kAllReduce:
      case BoxingKind::kReduceScatter:
        for (size_t member = 0; member < group.size(); ++member) {
          if (*inputs[member] != *inputs[0] || !Contains(*inputs[member], *outputs[member])) {
            return false;
          }
        }
        break;
      case BoxingKind::kSlice:
        for (size_t member = 0; member < group.size(); ++member) {
          if (!Contains(*inputs[member], *outputs[member])) return false;
        }
        break;
      case BoxingKind::kZeroFill:
        for (size_t member = 0; member < group.size(); ++member) {
          if (!Contains(*outputs[member], *inputs[member])) return false;
        }
        break;
      case BoxingKind::kSendRecv:
        return false;
    }
  }
  return true;
}

std::optional<BoxingPlan> PlanInOrder(const BoxingRequest& request,
                                      const std::vector<int>& axis_order) {
  BoxingPlan plan;
  Layout current = request.from;
  for (int axis : axis_order) {
    const Sbp& from = current.nd_sbp[axis];
    const Sbp& to = request.to.nd_sbp[axis];
    if (from == to) continue;
    if (current.placement.mesh()[axis] == 1) {
      // On one device every layout is the whole tensor: relabel, move nothing.
      current.nd_sbp[axis] = to;
      continue;
    }
    std::optional<BoxingKind> kind = AxisStepKind(from, to);
    if (!kind.has_value()) return std::nullopt;
    Layout next = current;
    next.nd_sbp[axis] = to;
    if (!StepIsValid(*kind, axis, current, next, request.shape)) return std::nullopt;
    plan.steps.push_back(MakeStep(*kind, axis, current, next,
                                  AxisGroups(current.placement, axis), request.shape,
                                  request.dtype));
    current = std::move(next);
  }
  for (const BoxingStep& step : plan.steps) plan.cost_seconds += StepCost(step, request.link);
  return plan;
}

}  // namespace

std::optional<BoxingPlan> PlanAxisByAxis(const BoxingRequest& request) {
  const int rank = request.from.placement.mesh_rank();
  std::vector<int> forward(rank);
  for (int axis = 0; axis < rank; ++axis) forward[axis] = axis;
  std::vector<int> backward(forward.rbegin(), forward.rend());
  std::optional<BoxingPlan> best = PlanInOrder(request, forward);
  if (rank > 1) {
    std::optional<BoxingPlan> other = PlanInOrder(request, backward);
    if (other.has_value() && (!best.has_value() || other->cost_seconds < best->cost_seconds)) {
      best = std::move(other);
    }
  }
  return best;
}

}  // namespace sbpflow::boxing
