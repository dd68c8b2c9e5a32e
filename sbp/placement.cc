#include "sbp/placement.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"
#include "glog/logging.h"

namespace sbpflow {

absl::StatusOr<std::vector<int64_t>> ParseMesh(absl::string_view text) {
  std::vector<int64_t> mesh;
  for (absl::string_view item : absl::StrSplit(text, 'x')) {
    int64_t extent = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &extent) || extent < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("mesh '", text, "' is not like 4 or 2x2 (positive extents)"));
    }
    mesh.push_back(extent);
  }
  return mesh;
}

absl::StatusOr<Placement> Placement::Create(std::vector<Device> devices, std::vector<int64_t> mesh,
                                            std::vector<std::string> axes) {
  if (devices.empty()) return absl::InvalidArgumentError("a placement needs at least one device");
  if (mesh.empty()) mesh = {static_cast<int64_t>(devices.size())};
  int64_t positions = 1;
  for (int64_t extent : mesh) {
    if (extent < 1) {
      return absl::InvalidArgumentError(absl::StrCat("mesh extents must be >= 1, got ", extent));
    }
    positions *= extent;
  }
  Placement placement;
  placement.mesh_ = std::move(mesh);
  if (positions != static_cast<int64_t>(devices.size())) {
    return absl::InvalidArgumentError(absl::StrCat("mesh ", placement.MeshString(), " has ",
                                                   positions, " positions, got ", devices.size(),
                                                   " devices"));
  }
  if (axes.empty()) {
    for (size_t axis = 0; axis < placement.mesh_.size(); ++axis) {
      axes.push_back(absl::StrCat("d", axis));
    }
  }
  if (axes.size() != placement.mesh_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("mesh ", placement.MeshString(), " has ",
                                                   placement.mesh_.size(), " axes, got ",
                                                   axes.size(), " axis names"));
  }
  std::set<std::string> seen;
  for (const std::string& axis : axes) {
    if (axis.empty() || !seen.insert(axis).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("mesh axis names must be distinct and non-empty, got '",
                       absl::StrJoin(axes, ","), "'"));
    }
  }
  placement.devices_ = std::move(devices);
  placement.axes_ = std::move(axes);
  return placement;
}

absl::StatusOr<Placement> Placement::Parse(absl::string_view devices, absl::string_view mesh,
                                           absl::string_view axes) {
  SBP_ASSIGN_OR_RETURN(std::vector<Device> device_list, ParseDeviceList(devices));
  std::vector<int64_t> mesh_shape;
  if (!mesh.empty()) {
    SBP_ASSIGN_OR_RETURN(mesh_shape, ParseMesh(mesh));
  }
  std::vector<std::string> axis_names;
  if (!axes.empty()) axis_names = absl::StrSplit(axes, ',');
  return Create(std::move(device_list), std::move(mesh_shape), std::move(axis_names));
}

int Placement::AxisIndex(absl::string_view name) const {
  for (size_t axis = 0; axis < axes_.size(); ++axis) {
    if (axes_[axis] == name) return static_cast<int>(axis);
  }
  return -1;
}

std::vector<int64_t> Placement::Coordinate(int rank) const {
  std::vector<int64_t> coordinate(mesh_.size());
  int64_t rest = rank;
  for (int axis = mesh_rank() - 1; axis >= 0; --axis) {
    coordinate[axis] = rest % mesh_[axis];
    rest /= mesh_[axis];
  }
  return coordinate;
}

int Placement::RankOf(const std::vector<int64_t>& coordinate) const {
  int64_t rank = 0;
  for (int axis = 0; axis < mesh_rank(); ++axis) rank = rank * mesh_[axis] + coordinate[axis];
  return static_cast<int>(rank);
}

std::vector<int> Placement::Line(int rank, int axis) const {
  std::vector<int64_t> coordinate = Coordinate(rank);
  std::vector<int> line;
  for (int64_t index = 0; index < mesh_[axis]; ++index) {
    coordinate[axis] = index;
    line.push_back(RankOf(coordinate));
  }
  return line;
}

Placement Placement::Slice(int axis, int64_t index) const {
  Placement slice;
  for (int rank = 0; rank < size(); ++rank) {
    if (Coordinate(rank)[axis] == index) slice.devices_.push_back(devices_[rank]);
  }
  for (int other = 0; other < mesh_rank(); ++other) {
    if (other == axis) continue;
    slice.mesh_.push_back(mesh_[other]);
    slice.axes_.push_back(axes_[other]);
  }
  if (slice.mesh_.empty()) {
    slice.mesh_ = {1};
    slice.axes_ = {axes_[axis]};
  }
  return slice;
}

std::string Placement::MeshString() const { return absl::StrJoin(mesh_, "x"); }

std::string Placement::ToString() const {
  return absl::StrCat(DeviceListToString(devices_), " ", MeshString(), " (",
                      absl::StrJoin(axes_, ","), ")");
}

Box ShardBox(const Shape& shape, const NdSbp& nd_sbp, const Placement& placement, int rank) {
  CHECK_EQ(static_cast<int>(nd_sbp.size()), placement.mesh_rank());
  Box box = FullBox(shape);
  const std::vector<int64_t> coordinate = placement.Coordinate(rank);
  for (int axis = 0; axis < placement.mesh_rank(); ++axis) {
    const Sbp& sbp = nd_sbp[axis];
    if (!sbp.is_split()) continue;
    Interval& interval = box[sbp.axis()];
    const Interval part =
        BalancedPart(interval.size(), placement.mesh()[axis], coordinate[axis]);
    interval = Interval{interval.begin + part.begin, interval.begin + part.end};
  }
  return box;
}

}  // namespace sbpflow
