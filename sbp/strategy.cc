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

bool IsSource(const Node& node) {
  return node.op == "Placeholder" || node.op == "Variable" || node.op == "Const";
}

// Per node, per mesh axis: the preset Sbp of output 0 (nullopt = no
// opinion). `Require` marks what a user annotation may not contradict.
class Annotations {
 public:
  Annotations(const Graph& graph, int mesh_rank)
      : mesh_rank_(mesh_rank), sbp_(graph.num_nodes()), required_(graph.num_nodes()) {}

  void Set(int node, int axis, Sbp sbp) {
    if (sbp_[node].empty()) sbp_[node].resize(mesh_rank_);
    sbp_[node][axis] = sbp;
  }

  void Require(int node, int axis, Sbp sbp, std::string why) {
    Set(node, axis, sbp);
    if (required_[node].empty()) required_[node].resize(mesh_rank_);
    required_[node][axis] = std::move(why);
  }

  // Writes every node with an opinion and no user annotation: sources get
  // an annotation with B on the axes without an opinion (a preset's
  // variable is whole there), other nodes a preference with "*" there
  // (inference chooses). A user annotation wins, unless it contradicts a
  // required axis: then the error names the node and field.
  absl::Status Apply(Graph* graph, const Placement& placement) const {
    for (int node = 0; node < graph->num_nodes(); ++node) {
      if (sbp_[node].empty()) continue;
      Node& target = graph->mutable_node(node);
      if (!target.output_sbp.empty() && !target.output_sbp[0].empty()) {
        SBP_RETURN_IF_ERROR(CheckUserAnnotation(target, node, placement));
        continue;
      }
      NdSbpPattern pattern;
      for (const std::optional<Sbp>& sbp : sbp_[node]) {
        pattern.push_back(sbp.has_value() || !IsSource(target) ? sbp : Sbp::Broadcast());
      }
      // Sources can take any layout; for computed values the preset's
      // layout is a preference, so an op whose rules cannot produce it
      // (a reduction over the batch, say) still gets a layout.
      if (IsSource(target)) {
        target.output_sbp.assign(1, NdSbpPatternToString(pattern));
      } else {
        target.preferred_sbp = NdSbpPatternToString(pattern);
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckUserAnnotation(const Node& target, int node, const Placement& placement) const {
    if (required_[node].empty()) return absl::OkStatus();
    // Unparsable or misshapen annotations are inference's to report.
    absl::StatusOr<NdSbpPattern> user = ParseNdSbpPattern(target.output_sbp[0]);
    if (!user.ok() || static_cast<int>(user->size()) != mesh_rank_) return absl::OkStatus();
    for (int axis = 0; axis < mesh_rank_; ++axis) {
      if (required_[node][axis].empty() || !(*user)[axis].has_value() ||
          *(*user)[axis] == *sbp_[node][axis]) {
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "node '", target.name, "' (", target.op, "): field 'output_sbp[0]': ",
          target.output_sbp[0], " conflicts with ", required_[node][axis], ", which makes it ",
          sbp_[node][axis]->ToString(), " over mesh axis ", placement.axes()[axis]));
    }
    return absl::OkStatus();
  }

  int mesh_rank_;
  std::vector<std::vector<std::optional<Sbp>>> sbp_;
  std::vector<std::vector<std::string>> required_;
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
      "Add",       "Sub",         "Mul",     "Div",        "Relu",     "Gelu",
      "Tanh",      "Neg",         "Exp",     "Scale",      "Identity", "Reshape",
      "Transpose", "BatchMatMul", "Softmax", "CausalMask", "Split"};
  return kOps.contains(op);
}

// Megatron's layout on the tp axis: weights split by columns or rows, the
// activations of column-parallel layers left to inference (their split
// follows the columns through reshapes, transposes and attention), the
// output of a row-parallel MatMul partial, and every other forward
// activation whole, as between Megatron's blocks. The backward pass
// mirrors it: the gradient of a whole activation is whole, except the
// input gradient of a column-parallel MatMul, which is partial (Megatron's
// all-reduce in backward); the gradient of a partial output is whole.
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
  std::vector<bool> column_parallel(graph.num_nodes(), false);
  std::vector<std::optional<Sbp>> forward(graph.num_nodes());  // output 0 on tp
  auto set = [&](int index, Sbp sbp) {
    annotations->Set(index, axis, sbp);
    forward[index] = sbp;
  };
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.role != NodeRole::kForward) continue;
    if (IsWeightMatMul(graph, node)) {
      const int weight = node.inputs[1].node;
      if (column_derived[node.inputs[0].node]) {
        annotations->Set(weight, axis, Sbp::Split(0));
        set(index, Sbp::PartialSum());
      } else if (!head[index]) {
        annotations->Set(weight, axis, Sbp::Split(1));
        column_derived[index] = true;
        column_parallel[index] = true;
      } else {
        set(index, Sbp::Broadcast());
      }
      continue;
    }
    bool derived = false;
    if (Propagates(node.op)) {
      for (const TensorRef& input : node.inputs) derived = derived || column_derived[input.node];
    }
    column_derived[index] = derived;
    if (!derived && !IsSource(node) && !node.outputs.empty() && node.outputs[0].shape.rank() > 0) {
      set(index, Sbp::Broadcast());
    }
    // The bias of a column-parallel layer is split like its columns.
    if (derived && node.op == "Add" && IsWeight(graph, node.inputs[1], 1) &&
        column_derived[node.inputs[0].node]) {
      annotations->Set(node.inputs[1].node, axis, Sbp::Split(0));
    }
  }
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.role != NodeRole::kBackward || node.outputs.empty() ||
        node.outputs[0].shape.rank() == 0) {
      continue;
    }
    const std::optional<TensorRef> of = graph.GradientOf(TensorRef{index, 0});
    if (!of.has_value() || of->output != 0 || !forward[of->node].has_value()) continue;
    if (forward[of->node]->is_partial()) {
      annotations->Set(index, axis, Sbp::Broadcast());
    } else if (node.origin >= 0 && column_parallel[node.origin] &&
               graph.node(node.origin).inputs[0] == *of) {
      annotations->Set(index, axis, Sbp::PartialSum());
    } else {
      annotations->Set(index, axis, Sbp::Broadcast());
    }
  }
  return absl::OkStatus();
}

// Data parallelism on the dp axis: every forward activation computed from
// the data inputs that keeps their batch dimension first is split along it,
// and so is its gradient, so weights are used whole there (gathered once
// when ZeRO shards them) and only weight gradients are reduced.
void AnnotateDataParallel(const Graph& graph, const std::vector<int>& order,
                          const std::vector<int>& data_inputs, int axis, Annotations* annotations) {
  if (data_inputs.empty()) return;
  const Shape& first = graph.node(data_inputs[0]).outputs[0].shape;
  if (first.rank() == 0) return;
  const int64_t batch = first.dim(0);
  std::vector<bool> from_data(graph.num_nodes(), false);
  for (int input : data_inputs) from_data[input] = true;
  std::vector<bool> split(graph.num_nodes(), false);
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.role != NodeRole::kForward || IsSource(node)) continue;
    for (const TensorRef& input : node.inputs)
      from_data[index] = from_data[index] || from_data[input.node];
    if (from_data[index] && !node.outputs.empty() && node.outputs[0].shape.rank() > 0 &&
        node.outputs[0].shape.dim(0) == batch) {
      annotations->Set(index, axis, Sbp::Split(0));
      split[index] = true;
    } else if (!from_data[index] && !node.outputs.empty() && node.outputs[0].shape.rank() > 0) {
      // Computed from parameters alone (e.g. position embeddings): whole,
      // like the parameters under data parallelism.
      annotations->Set(index, axis, Sbp::Broadcast());
    }
  }
  // The gradient of a split activation is split the same way.
  for (int index : order) {
    const Node& node = graph.node(index);
    if (node.role != NodeRole::kBackward || node.outputs.empty()) continue;
    const std::optional<TensorRef> of = graph.GradientOf(TensorRef{index, 0});
    if (of.has_value() && of->output == 0 && split[of->node] &&
        node.outputs[0].shape == graph.node(of->node).outputs[0].shape) {
      annotations->Set(index, axis, Sbp::Split(0));
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> StrategyAxes(absl::string_view strategy, int mesh_rank) {
  std::vector<std::string> components = Components(strategy);
  std::set<std::string> seen;
  for (const std::string& component : components) {
    if (component != "dp" && component != "tp") {
      return absl::InvalidArgumentError(absl::StrCat("--strategy: unknown component '", component,
                                                     "' (expected dp, tp or dp,tp)"));
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
    return absl::InvalidArgumentError(absl::StrCat("--strategy ", strategy, " names ",
                                                   components.size(), " mesh axes, the mesh has ",
                                                   mesh_rank, " (use --axes to name them)"));
  }
  return components;
}

absl::Status ApplyStrategy(Graph* graph, const Placement& placement,
                           const StrategyOptions& options) {
  if (options.zero != 0 && options.zero != 1) {
    return absl::InvalidArgumentError(absl::StrCat("--zero must be 0 or 1, got ", options.zero));
  }
  Annotations annotations(*graph, placement.mesh_rank());
  int dp_axis = -1;
  int tp_axis = -1;
  for (const std::string& component : Components(options.strategy)) {
    const int axis = placement.AxisIndex(component);
    if (axis < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--strategy ", options.strategy, ": the mesh has no axis named '", component,
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
  std::vector<int> data_inputs;
  for (const std::string& name : {signature.features, signature.labels}) {
    if (name.empty()) continue;
    std::optional<int> node = graph->FindNode(name);
    if (node.has_value()) data_inputs.push_back(*node);
  }
  if (dp_axis >= 0 || tp_axis >= 0) {
    for (int node : data_inputs) {
      for (int axis = 0; axis < placement.mesh_rank(); ++axis) {
        if (axis == dp_axis) {
          annotations.Require(node, axis, Sbp::Split(0), "--strategy dp");
        } else {
          annotations.Set(node, axis, Sbp::Broadcast());
        }
      }
    }
  }
  SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph->TopologicalOrder());
  if (dp_axis >= 0) AnnotateDataParallel(*graph, order, data_inputs, dp_axis, &annotations);
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
      annotations.Require(index, dp_axis, Sbp::Split(0), "--zero 1");
    }
  }
  return annotations.Apply(graph, placement);
}

}  // namespace sbpflow
