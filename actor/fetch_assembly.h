// Rebuilding fetched logical tensors from the pieces a step produced.
//
// A FetchSpec names one source value per piece (device shard) together with
// the box of the logical micro-batch tensor it holds. The runtime snapshots
// every source value when it is produced; after the step these functions
// assemble each micro-batch and combine the micro-batches. Everything runs in
// a fixed order (sources in spec order, micro-batches in order), so the
// result is bit-identical whatever order the pieces were produced in.
#ifndef SBPFLOW_ACTOR_FETCH_ASSEMBLY_H_
#define SBPFLOW_ACTOR_FETCH_ASSEMBLY_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernel/allocator.h"
#include "kernel/tensor.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

// Host memory for fetched values. It lives for the whole process, so fetched
// tensors may outlive the runtime that produced them.
Allocator* FetchAllocator();

// Checks that `spec` can be assembled from sources of types `source_types`
// over `micro_batches` values per source (1 for per-step sources).
// InvalidArgument naming the fetch: sources and boxes differ in number, a box
// outside the logical shape or not matching its source's shape, a dtype
// mismatch, a sum over bool, or concatenating scalars.
absl::Status CheckFetch(const FetchSpec& spec, const std::vector<TensorType>& source_types,
                        int micro_batches);

// Assembles the fetch. `pieces[m][s]` is source s's value for micro-batch m;
// there must be at least one micro-batch, and the spec must have passed
// CheckFetch. Disjoint pieces are copied into their boxes (elements no piece
// holds are zero; for overlapping boxes the lowest-indexed source wins);
// partial pieces are added in source order. Micro-batches are then summed in
// order (`sum_micro_batches`, the first one copied) or concatenated along
// axis 0.
Tensor AssembleFetch(const FetchSpec& spec, const std::vector<std::vector<Tensor>>& pieces,
                     Allocator* allocator);

// target += source, elementwise, for tensors of the same type (not bool).
void AddInto(const Tensor& source, const Tensor& target);

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_FETCH_ASSEMBLY_H_
