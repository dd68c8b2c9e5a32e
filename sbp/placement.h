// A placement: an ordered device list laid out row-major over a mesh with
// named axes. Device rank r (its index in the list) sits at the mesh
// coordinate whose row-major index is r: on a 2x2 mesh rank 0 is (0,0),
// rank 1 is (0,1), rank 2 is (1,0), rank 3 is (1,1).
#ifndef SBPFLOW_SBP_PLACEMENT_H_
#define SBPFLOW_SBP_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/box.h"
#include "base/device.h"
#include "base/shape.h"
#include "sbp/sbp.h"

namespace sbpflow {

class Placement {
 public:
  Placement() = default;

  // Errors (InvalidArgument): no devices; a mesh extent < 1; the mesh's
  // product differs from the device count ("mesh 2x2 has 4 positions, got 3
  // devices"); axis names not one per mesh axis, empty or repeated.
  static absl::StatusOr<Placement> Create(std::vector<Device> devices, std::vector<int64_t> mesh,
                                          std::vector<std::string> axes);

  // From CLI/proto text: devices "cpu:0-3", mesh "2x2" (empty = 1-D over all
  // devices), axes "dp,tp" (empty = "d0,d1,...").
  static absl::StatusOr<Placement> Parse(absl::string_view devices, absl::string_view mesh,
                                         absl::string_view axes);

  const std::vector<Device>& devices() const { return devices_; }
  const std::vector<int64_t>& mesh() const { return mesh_; }
  const std::vector<std::string>& axes() const { return axes_; }
  int mesh_rank() const { return static_cast<int>(mesh_.size()); }
  int size() const { return static_cast<int>(devices_.size()); }

  // Index of a named axis, or -1.
  int AxisIndex(absl::string_view name) const;

  std::vector<int64_t> Coordinate(int rank) const;
  int RankOf(const std::vector<int64_t>& coordinate) const;

  // The ranks along mesh axis `axis` through `rank` (same other
  // coordinates), in coordinate order.
  std::vector<int> Line(int rank, int axis) const;

  // A placement over a subset: the devices whose coordinate on `axis` is
  // `index`, keeping the other axes.
  Placement Slice(int axis, int64_t index) const;

  // "cpu:0-3 2x2 (dp,tp)".
  std::string ToString() const;
  // "2x2".
  std::string MeshString() const;

  bool operator==(const Placement& other) const {
    return devices_ == other.devices_ && mesh_ == other.mesh_;
  }
  bool operator!=(const Placement& other) const { return !(*this == other); }

 private:
  std::vector<Device> devices_;
  std::vector<int64_t> mesh_;
  std::vector<std::string> axes_;
};

// Parses "2x2", "4", "2x2x2". Errors name the text.
absl::StatusOr<std::vector<int64_t>> ParseMesh(absl::string_view text);

// The box of a logical tensor of `shape` that device `rank` holds under
// `nd_sbp`: splits apply mesh axis by mesh axis in order, each splitting the
// current box's dimension in a balanced way (base/box.h BalancedPart).
// Requires a valid NdSbp for this placement and rank.
Box ShardBox(const Shape& shape, const NdSbp& nd_sbp, const Placement& placement, int rank);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_PLACEMENT_H_
