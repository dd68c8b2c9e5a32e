// Description of one collective: who takes part and which logical elements
// each participant contributes and receives. Shared by the physical plan
// (sbp/), which produces it, and the communicators (comm/), which execute it.
#ifndef SBPFLOW_BASE_COLLECTIVE_H_
#define SBPFLOW_BASE_COLLECTIVE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/box.h"
#include "base/data_type.h"
#include "base/shape.h"

namespace sbpflow {

enum class CollectiveKind {
  kAllReduce,
  kAllGather,
  kReduceScatter,
  kAllToAll,
  kBroadcast,
  kSendRecv,  // point-to-point slice exchange between two device sets
};

absl::string_view CollectiveKindName(CollectiveKind kind);

// A collective among `group` (plan device indices, in rank order). Every
// participant's PlanOp carries the same spec except `rank`.
//
// Data movement is described in logical coordinates of the tensor being
// moved: participant r contributes the elements of `input_boxes[r]` and
// receives `output_boxes[r]`. When `reduce` is set, overlapping
// contributions are summed (in rank order, so the result is deterministic);
// otherwise every output element is copied from the participant itself when
// it holds it, else from the lowest-ranked participant that does
// (PlanBoxCopies in base/box.h).
struct CollectiveSpec {
  CollectiveKind kind = CollectiveKind::kAllReduce;
  // Identical for all participants and unique within the plan.
  std::string key;
  std::vector<int> group;
  int rank = 0;
  Shape logical_shape;
  DataType dtype = DataType::kFloat32;
  // Per participant: whether it contributes / receives, and the boxes.
  // Between device sets (send/recv) a participant may do only one of them.
  std::vector<bool> has_input;
  std::vector<bool> has_output;
  std::vector<Box> input_boxes;
  std::vector<Box> output_boxes;
  bool reduce = false;
  // Bytes each participant sends (for reports and link throttling) and the
  // latency hops of the algorithm.
  std::vector<int64_t> bytes_sent;
  int hops = 1;
};

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_COLLECTIVE_H_
