// Boxing: the steps that turn a tensor laid out as (placement, NdSbp) into
// another layout, each a collective over groups of devices or a local op.
//
// Step kinds, per mesh axis (1-D view): S→B all_gather, P→B all_reduce,
// P→S reduce_scatter, S(i)→S(j) all_to_all, B→S slice (local), B→P and
// S→P zero_fill (local: the data stays where it is, zeros elsewhere). N-D
// layouts change one mesh axis at a time over the lines of that axis; when
// the balanced splits of uneven sizes make a per-axis step impossible, a
// general exchange of slice intersections is used instead. Between
// congruent placements (the same mesh over disjoint devices: pipeline
// ranks), every shard moves as it is to the device at its mesh position and
// the layout changes as on one placement, so the sums are those of the same
// change on one placement, bit for bit. Between other device sets, partial
// sums are reduced inside the source placement, then slices are sent
// (send_recv), then zeros are filled for partial destinations.
#ifndef SBPFLOW_SBP_BOXING_BOXING_PLAN_H_
#define SBPFLOW_SBP_BOXING_BOXING_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/box.h"
#include "base/collective.h"
#include "sbp/placement.h"
#include "sbp/sbp.h"

namespace sbpflow {

enum class BoxingKind {
  kAllReduce,
  kAllGather,
  kReduceScatter,
  kAllToAll,
  kSendRecv,
  kSlice,     // local
  kZeroFill,  // local
};

absl::string_view BoxingKindName(BoxingKind kind);
bool IsLocal(BoxingKind kind);
// The collective kind a communication step uses.
CollectiveKind ToCollectiveKind(BoxingKind kind);

// The alpha-beta model of a link, used for costs and for throttling the
// in-process links in experiments.
struct LinkModel {
  double latency_seconds = 5e-6;
  double bytes_per_second = 10e9;
  // Local copies cost this many times less per byte than the link.
  double local_speedup = 20.0;
};

// A layout: where the tensor lives and how.
struct Layout {
  Placement placement;
  NdSbp nd_sbp;

  bool operator==(const Layout& other) const {
    return placement == other.placement && nd_sbp == other.nd_sbp;
  }
  bool operator!=(const Layout& other) const { return !(*this == other); }
  std::string ToString() const;
};

struct BoxingStep {
  BoxingKind kind = BoxingKind::kAllGather;
  // The mesh axis whose lines form the groups; -1 for a step over all
  // devices involved (general exchange, placement change).
  int mesh_axis = -1;
  // The layouts before and after the step. For a send_recv step they are on
  // different placements.
  Layout from;
  Layout to;
  // Groups of devices exchanging data, each in rank order (devices are
  // indices into `devices` of the plan).
  std::vector<std::vector<Device>> groups;
  // Bytes each device sends in this step (ring algorithms for
  // all_gather/reduce_scatter/all_reduce, direct for all_to_all/send_recv,
  // 0 for local steps), by device in `devices()` order.
  std::vector<Device> devices;
  std::vector<int64_t> bytes_sent;
  // Local steps: the most bytes one device writes.
  int64_t local_bytes = 0;

  int64_t MaxBytesSent() const;
};

struct BoxingRequest {
  Shape shape;
  DataType dtype = DataType::kFloat32;
  Layout from;
  Layout to;
  LinkModel link;
};

struct BoxingPlan {
  std::vector<BoxingStep> steps;
  // Modeled seconds (alpha-beta) of all steps.
  double cost_seconds = 0;
};

// Whether two placements lay the same mesh over disjoint device sets, so
// that rank k of one holds what rank k of the other holds under any NdSbp.
bool CongruentPlacements(const Placement& a, const Placement& b);

// Plans a layout change. Errors (InvalidArgument): an NdSbp that does not fit
// the tensor or mesh; a partial layout whose reduction differs (P(max) to
// P(sum)); a change from or to P(max) other than to B/S.
absl::StatusOr<BoxingPlan> PlanBoxing(const BoxingRequest& request);

// Modeled seconds of one step.
double StepCost(const BoxingStep& step, const LinkModel& link);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_BOXING_BOXING_PLAN_H_
