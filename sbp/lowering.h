// Lowering: the logical (training) graph plus the layout of every tensor
// becomes the physical plan each device runs.
//
// Every node becomes one op per device of its placement, with local shapes
// (the device's box of each logical tensor). Every edge whose producer layout
// differs from what the consumer's signature needs gets the boxing plan's
// steps as explicit ops: collectives (one op per participant, on the
// communication lane) and local slice / zero-fill kernels. A boxed value is
// built once per (tensor, target layout) and shared by all consumers.
// Lowering also sets the attrs kernels need from the logical graph
// (ReduceMean and SoftmaxCrossEntropy `count`, from the whole step's shapes,
// so partial results over devices and micro-batches add up to the mean), and
// each op's pipeline position: rank, chunk and phase (F, B, or W for
// backward nodes that only feed weight gradients).
#ifndef SBPFLOW_SBP_LOWERING_H_
#define SBPFLOW_SBP_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "sbp/boxing/boxing_plan.h"
#include "sbp/physical_plan.h"
#include "sbp/sbp_inference.h"

namespace sbpflow {

struct LoweringOptions {
  // The plan's devices; every placement's devices must be among them.
  std::vector<Device> devices = {Device{}};
  // Extra tensors to fetch every step, by name ("node" or "node:1"), besides
  // the signature's loss ("loss") and logits ("logits") when present.
  std::vector<std::string> fetches;
  LinkModel link;
  // Micro-batches per step: `graph`'s shapes are those of one micro-batch;
  // per-micro-batch values feeding per-step ops (gradients into optimizer
  // updates) are summed over the step by accumulate ops first.
  int micro_batches = 1;
  // The same graph with shapes inferred for the whole step; the counts of
  // mean reductions and the feeds' shapes come from it. Null: `graph`.
  const Graph* full_batch_graph = nullptr;
  // Pipeline ranks: a node of stage s runs on rank s % ranks as model chunk
  // s / ranks (interleaved schedules have several chunks per rank).
  int pipeline_ranks = 1;
};

// Errors: InvalidArgument for an unknown fetch name or a placement device not
// in `devices`.
absl::StatusOr<PhysicalPlan> LowerGraph(const Graph& graph, const std::vector<NodeLayout>& layouts,
                                        const OpRegistry& ops, const LoweringOptions& options);

// Lowers onto options.devices[0] alone (every tensor whole).
absl::StatusOr<PhysicalPlan> LowerSingleDevice(const Graph& graph, const OpRegistry& registry,
                                               const LoweringOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_LOWERING_H_
