#include "tools/graph_stats.h"

#include "base/status_macros.h"
#include "graph/optimizers/optimizer.h"

namespace sbpflow {
namespace {

int64_t NodeFlops(const Graph& graph, const OpRegistry& registry, const Node& node) {
  const OpDef* def = registry.Find(node.op);
  if (def == nullptr) return 0;
  std::vector<TensorType> inputs;
  for (const TensorRef& input : node.inputs) inputs.push_back(graph.type(input));
  return EstimateFlops(*def, node.name, inputs, node.attrs, node.outputs);
}

int64_t Bytes(const TensorType& type) { return type.shape.NumElements() * DataTypeSize(type.dtype); }

}  // namespace

absl::StatusOr<GraphStats> ComputeGraphStats(const Graph& graph, const OpRegistry& registry,
                                             int64_t batch) {
  GraphStats stats;
  stats.batch = batch;
  for (const Node& node : graph.nodes()) {
    if (node.op == "Variable") {
      SBP_ASSIGN_OR_RETURN(bool trainable, node.attrs.GetBool("trainable"));
      if (trainable) {
        stats.parameters += node.outputs[0].shape.NumElements();
        stats.parameter_bytes += Bytes(node.outputs[0]);
      }
    }
    stats.forward_flops += NodeFlops(graph, registry, node);
  }
  if (!graph.signature().loss.valid()) {
    stats.training_flops = stats.forward_flops;
    return stats;
  }
  Graph training = graph;
  auto info = BuildTrainingGraph(&training, registry, OptimizerOptions{});
  if (!info.ok()) {
    stats.training_flops = stats.forward_flops;
    return stats;
  }
  stats.trainable = true;
  std::vector<bool> kept(training.num_nodes(), false);
  for (const Node& node : training.nodes()) {
    stats.training_flops += NodeFlops(training, registry, node);
    if (node.role != NodeRole::kBackward) continue;
    for (const TensorRef& input : node.inputs) {
      const Node& producer = training.node(input.node);
      if (producer.role == NodeRole::kForward && producer.op != "Variable" &&
          producer.op != "Const") {
        kept[input.node] = true;
      }
    }
  }
  for (int index = 0; index < training.num_nodes(); ++index) {
    const Node& node = training.node(index);
    if (!kept[index] && node.op != "Placeholder") continue;
    for (const TensorType& output : node.outputs) stats.activation_bytes += Bytes(output);
  }
  return stats;
}

}  // namespace sbpflow
