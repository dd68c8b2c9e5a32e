// Pipeline partitioning of a training graph: which (virtual) stage every node
// runs on, and which backward nodes compute weight gradients only.
//
// Stages come from the graph's `stage` annotations when the forward compute
// nodes carry them; otherwise forward nodes are grouped into layers (the
// name before the first '/' or '.': "layer0", "block3", "embed", "loss") and
// consecutive layers are cut into `stages` groups that minimize the most
// expensive stage's estimated cost (forward + backward FLOPs, then
// parameter and activation bytes to break ties). Uneven layer counts are
// fine; no stage is left empty and every layer lands on exactly one stage.
// Then: sources (variables, placeholders, constants) join the stage of their
// first consumer, backward nodes the stage of the forward node whose gradient
// made them (Node::origin), optimizer nodes the stage of their variable.
#ifndef SBPFLOW_SBP_PIPELINE_H_
#define SBPFLOW_SBP_PIPELINE_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

// Sets Node::stage on every node of `graph` (a training graph) to a value in
// [0, stages). Errors (InvalidArgument): fewer layers than stages ("the
// pipeline has 4 stages (--pipeline x --chunks) but the graph has only 3
// layers (layer0, layer1, loss)");
// a stage annotation outside [0, stages); annotations on only some forward
// compute nodes.
absl::Status AssignStages(Graph* graph, const OpRegistry& ops, int stages);

// For each node: whether it is a backward node whose results only reach
// optimizer nodes or other such nodes on its own stage (a weight-gradient
// computation, "W" in zero-bubble schedules); every other backward node
// ("B") produces gradients that earlier layers or stages wait for.
std::vector<bool> WeightGradientNodes(const Graph& graph);

// The per-stage estimated costs after AssignStages, for reports and tests.
struct StageCost {
  int64_t flops = 0;
  int64_t bytes = 0;
};
std::vector<StageCost> StageCosts(const Graph& graph, const OpRegistry& ops, int stages);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_PIPELINE_H_
