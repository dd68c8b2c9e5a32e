// Static figures of a model graph for `sbpflow inspect`: parameters, FLOPs of
// one training step, and the activation memory kept for the backward pass.
#ifndef SBPFLOW_TOOLS_GRAPH_STATS_H_
#define SBPFLOW_TOOLS_GRAPH_STATS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

struct GraphStats {
  int64_t batch = 0;
  // Trainable variables.
  int64_t parameters = 0;
  int64_t parameter_bytes = 0;
  // One forward pass; one training step (forward, backward, SGD update).
  int64_t forward_flops = 0;
  int64_t training_flops = 0;
  // Bytes of forward outputs that backward nodes read (what a training step
  // keeps alive between its forward and backward passes), plus the inputs.
  int64_t activation_bytes = 0;
  bool trainable = false;  // the graph names a loss reached by a variable
};

// `graph` is a forward graph whose shapes are inferred at `batch`.
absl::StatusOr<GraphStats> ComputeGraphStats(const Graph& graph, const OpRegistry& registry,
                                             int64_t batch);

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_GRAPH_STATS_H_
