// Bucketed data-parallel gradient all-reduce (a pass over the physical plan).
//
// Gradient all-reduces (all_reduce collectives whose results feed optimizer
// updates) over the same group of devices are packed, in the order the
// backward pass produces the gradients, into buckets of about
// `bucket_bytes`: per device a PackFlat kernel concatenates the bucket's
// partial gradients, one all_reduce sums the flat buffer, and UnpackFlat
// splits it back. A bucket starts as soon as its last gradient exists, so the
// first buckets overlap the rest of the backward pass; fewer, larger
// collectives pay the link latency less often.
#ifndef SBPFLOW_SBP_BUCKETING_H_
#define SBPFLOW_SBP_BUCKETING_H_

#include <cstdint>

#include "absl/status/status.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

struct BucketingOptions {
  int64_t bucket_bytes = 4 << 20;
  // Start every gradient collective only after the whole backward pass of
  // the device is done (control edges), i.e. no overlap; for comparisons.
  bool overlap = true;
};

// Rewrites `plan` in place; keeps it topologically ordered. Returns the
// number of buckets made.
int BucketGradientAllReduces(PhysicalPlan* plan, const BucketingOptions& options);

// Reorders ops so every op follows its inputs and control inputs, keeping the
// current order where it already does; remaps every reference. Requires an
// acyclic plan.
void SortPlanTopologically(PhysicalPlan* plan);
// The same, preferring ops with smaller `keys` (one per op) among those
// ready, instead of the current order.
void SortPlanTopologically(PhysicalPlan* plan, const std::vector<double>& keys);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_BUCKETING_H_
