// Shared by the strategies: device boxes, copy planning and step building
// (groups, devices, bytes sent).
#include <set>

#include "glog/logging.h"
#include "sbp/boxing/strategies.h"

namespace sbpflow::boxing {

Box LayoutBox(const Shape& shape, const Layout& layout, int rank) {
  return ShardBox(shape, layout.nd_sbp, layout.placement, rank);
}

std::optional<Box> DeviceBox(const Shape& shape, const Layout& layout, const Device& device) {
  const std::vector<Device>& devices = layout.placement.devices();
  for (int rank = 0; rank < static_cast<int>(devices.size()); ++rank) {
    if (devices[rank] == device) return LayoutBox(shape, layout, rank);
  }
  return std::nullopt;
}

std::vector<std::vector<Device>> AxisGroups(const Placement& placement, int mesh_axis) {
  std::vector<std::vector<Device>> groups;
  std::set<int> seen;
  for (int rank = 0; rank < placement.size(); ++rank) {
    if (seen.contains(rank)) continue;
    std::vector<Device> group;
    for (int member : placement.Line(rank, mesh_axis)) {
      seen.insert(member);
      group.push_back(placement.devices()[member]);
    }
    groups.push_back(std::move(group));
  }
  return groups;
}

namespace {

int64_t Elements(const std::optional<Box>& box) { return box.has_value() ? BoxNumElements(*box) : 0; }

}  // namespace

BoxingStep MakeStep(BoxingKind kind, int mesh_axis, const Layout& from, const Layout& to,
                    std::vector<std::vector<Device>> groups, const Shape& shape, DataType dtype) {
  BoxingStep step;
  step.kind = kind;
  step.mesh_axis = mesh_axis;
  step.from = from;
  step.to = to;
  const int64_t element_size = DataTypeSize(dtype);
  std::set<Device> listed;
  for (const auto& group : groups) {
    const int n = static_cast<int>(group.size());
    std::vector<std::optional<Box>> inputs(n);
    std::vector<std::optional<Box>> outputs(n);
    for (int member = 0; member < n; ++member) {
      inputs[member] = DeviceBox(shape, from, group[member]);
      outputs[member] = DeviceBox(shape, to, group[member]);
    }
    std::vector<int64_t> sent(n, 0);
    switch (kind) {
      case BoxingKind::kAllGather: {
        int64_t total = 0;
        for (int m = 0; m < n; ++m) total += Elements(inputs[m]);
        for (int m = 0; m < n; ++m) sent[m] = total - Elements(inputs[(m + 1) % n]);
        break;
      }
      case BoxingKind::kReduceScatter: {
        int64_t total = 0;
        for (int m = 0; m < n; ++m) total += Elements(outputs[m]);
        for (int m = 0; m < n; ++m) sent[m] = total - Elements(outputs[m]);
        break;
      }
      case BoxingKind::kAllReduce: {
        const int64_t total = Elements(inputs[0]);
        for (int m = 0; m < n; ++m) {
          sent[m] = (total - BalancedPart(total, n, m).size()) +
                    (total - BalancedPart(total, n, (m + 1) % n).size());
        }
        break;
      }
      case BoxingKind::kAllToAll:
      case BoxingKind::kSendRecv: {
        auto copies = PlanBoxCopies(inputs, outputs);
        CHECK(copies.has_value());
        for (int target = 0; target < n; ++target) {
          for (const BoxCopy& copy : (*copies)[target]) {
            if (copy.source != target) sent[copy.source] += BoxNumElements(copy.region);
          }
        }
        break;
      }
      case BoxingKind::kSlice:
      case BoxingKind::kZeroFill:
        for (int m = 0; m < n; ++m) {
          step.local_bytes = std::max(step.local_bytes, Elements(outputs[m]) * element_size);
        }
        break;
    }
    for (int member = 0; member < n; ++member) {
      if (listed.insert(group[member]).second) {
        step.devices.push_back(group[member]);
        step.bytes_sent.push_back(sent[member] * element_size);
      }
    }
  }
  step.groups = std::move(groups);
  return step;
}

}  // namespace sbpflow::boxing
