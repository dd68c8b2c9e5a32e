#include "graph/shape_inference.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

absl::Status InferGraphShapes(Graph* graph, const OpRegistry& registry, int64_t batch) {
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph->TopologicalOrder());
  for (int index : order) {
    Node& node = graph->mutable_node(index);
    const OpDef* def = registry.Find(node.op);
    if (def == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name, "': op: unknown op '", node.op, "'"));
    }
    std::vector<TensorType> inputs;
    inputs.reserve(node.inputs.size());
    for (const TensorRef& input : node.inputs) {
      const Node& producer = graph->node(input.node);
      if (input.output >= static_cast<int>(producer.outputs.size())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "node '", node.name, "' (", node.op, "): input '", graph->RefName(input), "': node '",
            producer.name, "' has ", producer.outputs.size(), " output(s)"));
      }
      inputs.push_back(producer.outputs[input.output]);
    }
    auto outputs = InferOutputs(*def, node.name, inputs, node.attrs);
    if (!outputs.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", node.name, "' (", node.op, "): ", outputs.status().message()));
    }
    if (node.op == "Placeholder") {
      for (TensorType& output : *outputs) {
        for (int axis = 0; axis < output.shape.rank(); ++axis) {
          if (output.shape.dim(axis) >= 0) continue;
          if (axis != 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("node '", node.name, "' (Placeholder): attr 'shape': only dimension 0 "
                             "(the batch) may be -1, got ",
                             output.shape.ToString()));
          }
          output.shape.mutable_dim(0) = batch;
        }
      }
    }
    for (const TensorType& output : *outputs) {
      if (!output.shape.IsFullyKnown()) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "' (", node.op, "): output shape ",
                         output.shape.ToString(), " is not fully known"));
      }
    }
    node.outputs = *std::move(outputs);
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
