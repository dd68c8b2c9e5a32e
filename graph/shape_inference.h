// Whole-graph shape and dtype inference.
#ifndef SBPFLOW_GRAPH_SHAPE_INFERENCE_H_
#define SBPFLOW_GRAPH_SHAPE_INFERENCE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

// Infers every node's outputs in topological order, filling default attrs.
// Placeholders may leave dimension 0 unknown (-1); it is bound to `batch`.
// Errors (InvalidArgument, "node 'x' (Op): ..."): unknown op, arity, attrs,
// cycles, an unknown dimension other than a placeholder's first, or any
// op's inference error. On error the graph's types are unspecified.
absl::Status InferGraphShapes(Graph* graph, const OpRegistry& registry, int64_t batch);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_SHAPE_INFERENCE_H_
