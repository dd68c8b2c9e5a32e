#include "sbp/boxing/boxing_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "sbp/boxing/strategies.h"

namespace sbpflow {

absl::string_view BoxingKindName(BoxingKind kind) {
  switch (kind) {
    case BoxingKind::kAllReduce:
      return "all_reduce";
    case BoxingKind::kAllGather:
      return "all_gather";
    case BoxingKind::kReduceScatter:
      return "reduce_scatter";
    case BoxingKind::kAllToAll:
      return "all_to_all";
    case BoxingKind::kSendRecv:
      return "send_recv";
    case BoxingKind::kSlice:
      return "slice";
    case BoxingKind::kZeroFill:
      return "zero_fill";
  }
  return "slice";
}

bool IsLocal(BoxingKind kind) {
  return kind == BoxingKind::kSlice || kind == BoxingKind::kZeroFill;
}

CollectiveKind ToCollectiveKind(BoxingKind kind) {
  switch (kind) {
    case BoxingKind::kAllReduce:
      return CollectiveKind::kAllReduce;
    case BoxingKind::kAllGather:
      return CollectiveKind::kAllGather;
    case BoxingKind::kReduceScatter:
      return CollectiveKind::kReduceScatter;
    case BoxingKind::kAllToAll:
      return CollectiveKind::kAllToAll;
    default:
      return CollectiveKind::kSendRecv;
  }
}

std::string Layout::ToString() const {
  return absl::StrCat(NdSbpToString(nd_sbp), " on ", placement.ToString());
}

int64_t BoxingStep::MaxBytesSent() const {
  int64_t most = 0;
  for (int64_t bytes : bytes_sent) most = std::max(most, bytes);
  return most;
}

double StepCost(const BoxingStep& step, const LinkModel& link) {
  if (IsLocal(step.kind)) {
    return static_cast<double>(step.local_bytes) / (link.bytes_per_second * link.local_speedup);
  }
  // Ring steps pay the latency once per hop.
  int64_t hops = 1;
  for (const auto& group : step.groups) {
    const int64_t size = static_cast<int64_t>(group.size());
    switch (step.kind) {
      case BoxingKind::kAllGather:
      case BoxingKind::kReduceScatter:
        hops = std::max(hops, size - 1);
        break;
      case BoxingKind::kAllReduce:
        hops = std::max(hops, 2 * (size - 1));
        break;
      default:
        break;
    }
  }
  return static_cast<double>(hops) * link.latency_seconds +
         static_cast<double>(step.MaxBytesSent()) / link.bytes_per_second;
}

namespace {

absl::Status CheckLayout(const Shape& shape, const Layout& layout, absl::string_view which) {
  absl::Status status = ValidateNdSbp(layout.nd_sbp, shape.rank(), layout.placement.mesh_rank());
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(which, ": ", status.message()));
  }
  return absl::OkStatus();
}

bool HasPartialMax(const NdSbp& nd_sbp) {
  for (const Sbp& sbp : nd_sbp) {
    if (sbp.kind() == Sbp::Kind::kPartialMax) return true;
  }
  return false;
}

}  // namespace

bool CongruentPlacements(const Placement& a, const Placement& b) {
  if (a.mesh() != b.mesh()) return false;
  for (const Device& device : a.devices()) {
    if (std::find(b.devices().begin(), b.devices().end(), device) != b.devices().end()) {
      return false;
    }
  }
  return true;
}

namespace boxing {

BoxingPlan PlanSamePlacement(const BoxingRequest& request) {
  if (request.from == request.to) return BoxingPlan{};
  if (auto axis_plan = PlanAxisByAxis(request)) return *std::move(axis_plan);
  return PlanSliceExchange(request);
}

}  // namespace boxing

absl::StatusOr<BoxingPlan> PlanBoxing(const BoxingRequest& request) {
  SBP_RETURN_IF_ERROR(CheckLayout(request.shape, request.from, "--from"));
  SBP_RETURN_IF_ERROR(CheckLayout(request.shape, request.to, "--to"));
  if (HasPartialMax(request.to.nd_sbp) && request.from != request.to) {
    return absl::InvalidArgumentError(
        absl::StrCat("--to: cannot produce ", NdSbpToString(request.to.nd_sbp),
                     ": P(max) is only an op's output, never a boxing target"));
  }
  BoxingPlan plan;
  if (request.from == request.to) return plan;
  if (HasPartialMax(request.from.nd_sbp)) {
    return absl::InvalidArgumentError(absl::StrCat("--from: boxing from P(max) is not supported (",
                                                   NdSbpToString(request.from.nd_sbp), ")"));
  }
  if (request.from.placement == request.to.placement) {
    plan = boxing::PlanSamePlacement(request);
  } else if (CongruentPlacements(request.from.placement, request.to.placement)) {
    plan = boxing::PlanCongruentMove(request);
  } else {
    plan = boxing::PlanPlacementChange(request);
  }
  plan.cost_seconds = 0;
  for (const BoxingStep& step : plan.steps) plan.cost_seconds += StepCost(step, request.link);
  return plan;
}

}  // namespace sbpflow
