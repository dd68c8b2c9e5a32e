// SBP inference: gives every node a placement and every tensor an NdSbp.
//
// Annotated outputs (Node::output_sbp, set by users or by presets) are kept;
// a preset's preference (Node::preferred_sbp) is kept when some signature
// fits it and ignored otherwise.
// Every other node, in topological order, takes the signature with the
// lowest boxing cost (alpha-beta model) from its inputs' layouts; ties go to
// the rule's first signature, so results are deterministic. A source node
// without an annotation (placeholder, variable, constant) takes the layout
// its first consumer asks for, so unannotated graphs fall into the rules'
// preferred (data-parallel) layouts. An input a node writes in place must
// already have the layout the signature needs (no copy may be updated).
// An edge between congruent placements (pipeline stages, see
// CongruentPlacements) costs only its change of layout, as if both ends
// shared one placement, so layouts do not depend on where a pipeline is cut.
#ifndef SBPFLOW_SBP_SBP_INFERENCE_H_
#define SBPFLOW_SBP_SBP_INFERENCE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "sbp/boxing/boxing_plan.h"
#include "sbp/placement.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {

struct NodeLayout {
  Placement placement;
  // The layout of every output, and the layout the chosen signature needs of
  // every input (boxing bridges producer layout -> required layout).
  std::vector<NdSbp> outputs;
  std::vector<NdSbp> inputs;
};

struct SbpInferenceOptions {
  // Nodes without a placement annotation (and without a pipeline-stage
  // placement) run here.
  Placement placement;
  // Per pipeline stage, its placement (empty = no pipeline).
  std::vector<Placement> stage_placements;
  LinkModel link;
};

// Errors (InvalidArgument, naming the node and field): a placement
// annotation that does not parse or does not fit; an output_sbp that does not
// parse or does not fit the tensor or mesh; annotations that no signature of
// the op satisfies ("node 'mm' (MatMul): no SBP signature fits: inputs
// (S(0), S(0)), output annotated S(1); tried (S(0), B) -> S(0): output must
// be S(1); ...").
absl::StatusOr<std::vector<NodeLayout>> InferSbp(const Graph& graph, const OpRegistry& ops,
                                                 const SbpRuleRegistry& rules,
                                                 const SbpInferenceOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_SBP_INFERENCE_H_
