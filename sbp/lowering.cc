#include "sbp/lowering.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/graph_proto.h"

namespace sbpflow {

absl::StatusOr<PhysicalPlan> LowerSingleDevice(const Graph& graph, const OpRegistry& registry,
                                               const LoweringOptions& options) {
  if (options.devices.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "single-device lowering got ", options.devices.size(), " devices"));
  }
  PhysicalPlan plan;
  plan.devices = options.devices;
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph.TopologicalOrder());
  std::vector<int> op_of_node(graph.num_nodes(), -1);
  for (int index : order) {
    const Node& node = graph.node(index);
    PlanOp op;
    op.name = node.name;
    op.type = node.op;
    op.logical_node = node.name;
    op.attrs = node.attrs;
    op.outputs = node.outputs;
    op.frequency = Frequency::kPerMicroBatch;
    op.phase = node.role == NodeRole::kOptimizer ? Phase::kOptimizer
               : node.role == NodeRole::kBackward ? Phase::kBackwardInput
                                                  : Phase::kForward;
    for (const TensorRef& input : node.inputs) {
      op.inputs.push_back(PlanValue{op_of_node[input.node], input.output});
    }
    for (int control : node.control_inputs) op.control_inputs.push_back(op_of_node[control]);
    if (node.op == "Placeholder") {
      op.kind = PlanOpKind::kPlaceholder;
      op.feed = node.name;
      op.box = FullBox(node.outputs[0].shape);
      plan.feeds.push_back(FeedSpec{node.name, node.outputs[0]});
    } else if (node.op == "Variable") {
      op.kind = PlanOpKind::kVariable;
      op.frequency = Frequency::kPerStep;
      op.variable = node.name;
      op.box = FullBox(node.outputs[0].shape);
      VariableSpec spec;
      spec.name = node.name;
      spec.logical = node.outputs[0];
      SBP_ASSIGN_OR_RETURN(spec.initializer, node.attrs.GetString("initializer"));
      SBP_ASSIGN_OR_RETURN(spec.seed, node.attrs.GetInt("seed"));
      SBP_ASSIGN_OR_RETURN(spec.trainable, node.attrs.GetBool("trainable"));
      spec.ops.push_back(static_cast<int>(plan.ops.size()));
      plan.variables.push_back(std::move(spec));
    } else {
      op.kind = PlanOpKind::kKernel;
      if (node.role == NodeRole::kOptimizer) op.frequency = Frequency::kPerStep;
      const OpDef* def = registry.Find(node.op);
      if (def == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("node '", node.name, "': unknown op '", node.op, "'"));
      }
      op.mutable_inputs = def->mutable_inputs;
    }
    op_of_node[index] = static_cast<int>(plan.ops.size());
    plan.ops.push_back(std::move(op));
  }

  auto add_fetch = [&](const std::string& name, TensorRef ref, bool sum_micro_batches) {
    FetchSpec fetch;
    fetch.name = name;
    fetch.logical = graph.type(ref);
    fetch.sources.push_back(PlanValue{op_of_node[ref.node], ref.output});
    fetch.boxes.push_back(FullBox(fetch.logical.shape));
    fetch.sum_micro_batches = sum_micro_batches;
    plan.fetches.push_back(std::move(fetch));
  };
  const GraphSignature& signature = graph.signature();
  if (signature.loss.valid()) add_fetch("loss", signature.loss, true);
  if (signature.logits.valid()) add_fetch("logits", signature.logits, false);
  for (const std::string& name : options.fetches) {
    auto ref = ParseTensorRef(graph, name);
    if (!ref.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("fetch ", ref.status().message()));
    }
    add_fetch(name, *ref, false);
  }
  return plan;
}

}  // namespace sbpflow
