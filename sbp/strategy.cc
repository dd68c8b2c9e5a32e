#include "sbp/strategy.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

std::vector<std::string> Components(absl::string_view strategy) {
  std::vector<std::string> components;
  for (absl::string_view item : absl::StrSplit(strategy, ',', absl::SkipWhitespace())) {
    components.emplace_back(absl::StripAsciiWhitespace(item));
  }
  return components;
}

// Per node, per mesh axis: the preset Sbp (nullopt = no opinion).
class Annotations {
 public:
  Annotations(const Graph& graph, int mesh_rank)
      : mesh_rank_(mesh_rank), sbp_(graph.num_nodes()) {}

  void Set(int node, int axis, Sbp sbp) {
    if (sbp_[node].empty()) sbp_[node].resize(mesh_rank_);
    sbp_[node][axis] = sbp;
  }

  // Writes every node with an opinion and no user annotation.
  void Apply(Graph* graph) const {
    for (int node = 0; node < graph->num_nodes(); ++node) {
      if (sbp_[node].empty()) continue;
      Node& target = graph->mutable_node(node);
      if (!target.output_sbp.empty() && !target.output_sbp[0].empty()) continue;
      NdSbp nd_sbp;
      for (const std::optional<Sbp>& sbp : sbp_[node]) nd_sbp.push_back(sbp.value_or(Sbp::Broadcast()));
      target.output_sbp.assign(1, NdSbpToString(nd_sbp));
    }
  }

 private:
  int mesh_rank_;
  std::vector<std::vector<std::optional<Sbp>>> sbp_;
};

bool IsWeight(const Graph& graph, TensorRef ref, int rank) {
  const Node& node = graph.node(ref.node);
  return node.op == "Variable" && node.outputs[0].shape.rank() == rank &&
         node.attrs.GetBoolOr("trainable", true).value_or(true);
}

bool IsWeightMatMul(const Graph& graph, const Node& node) {
  return node.op == "MatMul" && !node.attrs.GetBoolOr("transpose_a", false).value_or(false) &&
         !node.attrs.GetBoolOr("transpose_b", false).value_or(false) &&
         IsWeight(graph, node.inputs[1], 2);
}

// Ops through which "comes from a column-parallel MatMul" propagates.
bool Propagates(const std::string& op) {
  static const std::set<std::string> kOps = {
      "Add",  "Sub",     "Mul",       "Div",         "Relu",       "Gelu",     "Tanh",
      "Neg",  "Exp",     "Scale",     "Identity",    "Reshape",    "Transpose", "BatchMatMul",
      "Softmax", "CausalMask", "Split"};
  return kOps.contains(op);
}

absl::Status AnnotateTensorParallel(const Graph& graph, int axis, Annotations* annotations) {
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph.TopologicalOrder());
  // MatMuls whose output reaches the loss without another weight MatMul.
  std::vector<bool> head(graph.num_nodes(), false);
  if (graph.signature().loss.valid()) {
    std::vector<bool> visited(graph.num_nodes(), false);
    std::vector<int> stack = {graph.signature().loss.node};
    while (!stack.empty()) {
      const int index = stack.back();
      stack.pop_back();
      if (visited[index]) continue;
      visited[index] = true;
      const Node& node = graph.node(index);
      if (IsWeightMatMul(graph, node)) {
        head[index] = true;
        continue;
      }
      for (const TensorRef& input : node.inputs) stack.push_back(input.node);
    }
  }
  std::vector<bool> column_derived(graph.num_nodes(), false);
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.role != NodeRole::kForward) continue;
    if (IsWeightMatMul(graph, node)) {
      const int weight = node.inputs[1].node;
      if (column_derived[node.inputs[0].node]) {
        annotations->Set(weight, axis, Sbp::Split(0));
      } else if (!head[index]) {
        annotations->Set(weight, axis, Sbp::Split(1));
        column_derived[index] = true;
      }
      continue;
    }
    if (!Propagates(node.op)) continue;
    bool derived = false;
    for (const TensorRef& input : node.inputs) derived = derived || column_derived[input.node];
    column_derived[index] = derived;
    // The bias of a column-parallel layer is split like its columns.
    if (derived && node.op == "Add" && IsWeight(graph, node.inputs[1], 1) &&
        column_derived[node.inputs[0].node]) {
      annotations->Set(node.inputs[1].node, axis, Sbp::Split(0));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> StrategyAxes(absl::string_view strategy, int mesh_rank) {
  std::vector<std::string> components = Components(strategy);
  std::set<std::string> seen;
  for (const std::string& component : components) {
    if (component != "dp" && component != "tp") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--strategy: unknown component '", component, "' (expected dp, tp or dp,tp)"));
    }
    if (!seen.insert(component).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--strategy: '", component, "' is given twice"));
    }
  }
  if (components.empty()) {
    std::vector<std::string> axes;
    for (int axis = 0; axis < mesh_rank; ++axis) axes.push_back(absl::StrCat("d", axis));
    return axes;
  }
  if (static_cast<int>(components.size()) != mesh_rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--strategy ", strategy, " names ", components.size(), " mesh axes, the mesh has ",
        mesh_rank, " (use --axes to name them)"));
  }
  return components;
}

absl::Status ApplyStrategy(Graph* graph, const Placement& placement,
                           const StrategyOptions& options) {
  if (options.zero != 0 && options.zero != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--zero must be 0 or 1, got ", options.zero));
  }
  Annotations annotations(*graph, placement.mesh_rank());
  int dp_axis = -1;
  int tp_axis = -1;
  for (const std::string& component : Components(options.strategy)) {
    const int axis = placement.AxisIndex(component);
    if (axis < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--strategy ", options.strategy, ": the mesh has no axis named '", component,
          "' (axes: ", absl::StrJoin(placement.axes(), ","), ")"));
    }
    (component == "dp" ? dp_axis : tp_axis) = axis;
  }
  if (options.zero == 1 && dp_axis < 0) {
    dp_axis = placement.AxisIndex("dp");
    if (dp_axis < 0) {
      return absl::InvalidArgumentError("--zero 1 needs a data-parallel mesh axis (--strategy dp)");
    }
  }
  const GraphSignature& signature = graph->signature();
  if (dp_axis >= 0 || tp_axis >= 0) {
    for (const std::string& name : {signature.features, signature.labels}) {
      if (name.empty()) continue;
      std::optional<int> node = graph->FindNode(name);
      if (!node.has_value()) continue;
      for (int axis = 0; axis < placement.mesh_rank(); ++axis) {
        annotations.Set(*node, axis, axis == dp_axis ? Sbp::Split(0) : Sbp::Broadcast());
      }
    }
  }
  if (tp_axis >= 0) SBP_RETURN_IF_ERROR(AnnotateTensorParallel(*graph, tp_axis, &annotations));
  if (options.zero == 1) {
    // Trainable variables; their optimizer state takes their layout through
    // inference (the update writes both in place, so they must agree).
    for (int index = 0; index < graph->num_nodes(); ++index) {
      const Node& node = graph->node(index);
      if (node.op != "Variable" || node.outputs[0].shape.rank() == 0 ||
          !node.attrs.GetBoolOr("trainable", true).value_or(true)) {
        continue;
      }
      annotations.Set(index, dp_axis, Sbp::Split(0));
    }
  }
  annotations.Apply(graph);
  return absl::OkStatus();
}

}  // namespace sbpflow
