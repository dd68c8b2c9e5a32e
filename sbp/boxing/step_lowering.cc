#include "sbp/boxing/step_lowering.h"

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

std::vector<int64_t> FlattenBox(const Box& box) {
  std::vector<int64_t> flat;
  for (const Interval& interval : box) {
    flat.push_back(interval.begin);
    flat.push_back(interval.end);
  }
  return flat;
}

int RankIn(const Placement& placement, const Device& device) {
  for (int rank = 0; rank < placement.size(); ++rank) {
    if (placement.devices()[rank] == device) return rank;
  }
  return -1;
}

}  // namespace

std::vector<LocalStepOp> LocalStepOps(const BoxingStep& step, const Shape& shape) {
  CHECK(IsLocal(step.kind));
  std::vector<LocalStepOp> ops;
  for (int rank = 0; rank < step.to.placement.size(); ++rank) {
    LocalStepOp op;
    op.device = step.to.placement.devices()[rank];
    const int from_rank = RankIn(step.from.placement, op.device);
    CHECK_GE(from_rank, 0);
    op.input_box = ShardBox(shape, step.from.nd_sbp, step.from.placement, from_rank);
    op.output_box = ShardBox(shape, step.to.nd_sbp, step.to.placement, rank);
    op.type = step.kind == BoxingKind::kSlice ? "BoxingSlice" : "BoxingZeroFill";
    op.attrs.Set("input_box", FlattenBox(op.input_box));
    op.attrs.Set("output_box", FlattenBox(op.output_box));
    if (step.kind == BoxingKind::kZeroFill) {
      // A device keeps its data unless a broadcast axis became partial and it
      // is not the first along that axis (the sum must count it once).
      const std::vector<int64_t> coordinate = step.to.placement.Coordinate(rank);
      bool keep = true;
      for (int axis = 0; axis < step.to.placement.mesh_rank(); ++axis) {
        if (step.to.nd_sbp[axis].is_partial() && step.from.nd_sbp[axis].is_broadcast() &&
            coordinate[axis] != 0) {
          keep = false;
        }
      }
      op.attrs.Set("keep", keep);
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

std::vector<std::vector<CollectiveSpec>> CollectiveStepSpecs(
    const BoxingStep& step, const Shape& shape, DataType dtype, const std::string& key,
    const std::function<int(const Device&)>& device_index) {
  CHECK(!IsLocal(step.kind));
  std::vector<std::vector<CollectiveSpec>> result;
  for (size_t group_index = 0; group_index < step.groups.size(); ++group_index) {
    const std::vector<Device>& group = step.groups[group_index];
    const int size = static_cast<int>(group.size());
    CollectiveSpec spec;
    spec.kind = ToCollectiveKind(step.kind);
    spec.key = absl::StrCat(key, "/", group_index);
    spec.logical_shape = shape;
    spec.dtype = dtype;
    spec.reduce = step.kind == BoxingKind::kAllReduce || step.kind == BoxingKind::kReduceScatter;
    spec.hops = step.kind == BoxingKind::kAllReduce ? 2 * (size - 1)
                : step.kind == BoxingKind::kAllGather || step.kind == BoxingKind::kReduceScatter
                    ? size - 1
                    : 1;
    for (const Device& device : group) {
      spec.group.push_back(device_index(device));
      const int from_rank = RankIn(step.from.placement, device);
      const int to_rank = RankIn(step.to.placement, device);
      spec.has_input.push_back(from_rank >= 0);
      spec.has_output.push_back(to_rank >= 0);
      spec.input_boxes.push_back(
          from_rank >= 0 ? ShardBox(shape, step.from.nd_sbp, step.from.placement, from_rank)
                         : Box());
      spec.output_boxes.push_back(
          to_rank >= 0 ? ShardBox(shape, step.to.nd_sbp, step.to.placement, to_rank) : Box());
      int64_t bytes = 0;
      for (size_t listed = 0; listed < step.devices.size(); ++listed) {
        if (step.devices[listed] == device) bytes = step.bytes_sent[listed];
      }
      spec.bytes_sent.push_back(bytes);
    }
    std::vector<CollectiveSpec> members;
    for (int member = 0; member < size; ++member) {
      members.push_back(spec);
      members.back().rank = member;
    }
    result.push_back(std::move(members));
  }
  return result;
}

}  // namespace sbpflow
