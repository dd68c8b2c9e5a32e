#include "sbp/sbp_inference.h"

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

// Far below any real transfer (the link model's latency alone is ~µs), so
// it only breaks ties.
constexpr double kSourceSplitTieBreakSeconds = 1e-15;

bool IsSource(const Node& node) {
  return node.op == "Placeholder" || node.op == "Variable" || node.op == "Const";
}

absl::Status NodeError(const Node& node, absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat("node '", node.name, "' (", node.op, "): ", message));
}

// The contiguous flat runs (start, length) of `box` in a row-major `shape`.
// Returns false when there are too many to compare cheaply.
bool FlatRuns(const Shape& shape, const Box& box, std::vector<std::pair<int64_t, int64_t>>* runs) {
  const int rank = shape.rank();
  if (BoxNumElements(box) == 0) return true;
  int inner_axis = rank - 1;
  while (inner_axis > 0 && box[inner_axis].begin == 0 &&
         box[inner_axis].end == shape.dim(inner_axis)) {
    --inner_axis;
  }
  if (rank == 0) {
    runs->emplace_back(0, 1);
    return true;
  }
  const std::vector<int64_t> strides = RowMajorStrides(shape);
  const int64_t run_length = box[inner_axis].size() * strides[inner_axis];
  int64_t count = 1;
  for (int axis = 0; axis < inner_axis; ++axis) count *= box[axis].size();
  if (count > (1 << 20)) return false;
  std::vector<int64_t> index(inner_axis);
  for (int axis = 0; axis < inner_axis; ++axis) index[axis] = box[axis].begin;
  for (int64_t run = 0; run < count; ++run) {
    int64_t start = box[inner_axis].begin * strides[inner_axis];
    for (int axis = 0; axis < inner_axis; ++axis) start += index[axis] * strides[axis];
    if (!runs->empty() && runs->back().first + runs->back().second == start) {
      runs->back().second += run_length;
    } else {
      runs->emplace_back(start, run_length);
    }
    for (int axis = inner_axis - 1; axis >= 0; --axis) {
      if (++index[axis] < box[axis].end) break;
      index[axis] = box[axis].begin;
    }
  }
  return true;
}

// Reshape keeps data in place only when every device holds the same flat
// elements before and after.
bool ReshapeKeepsElements(const Shape& in, const NdSbp& in_sbp, const Shape& out,
                          const NdSbp& out_sbp, const Placement& placement) {
  for (int rank = 0; rank < placement.size(); ++rank) {
    std::vector<std::pair<int64_t, int64_t>> in_runs;
    std::vector<std::pair<int64_t, int64_t>> out_runs;
    if (!FlatRuns(in, ShardBox(in, in_sbp, placement, rank), &in_runs) ||
        !FlatRuns(out, ShardBox(out, out_sbp, placement, rank), &out_runs) || in_runs != out_runs) {
      return false;
    }
  }
  return true;
}

// Parses a node's placement annotation.
absl::StatusOr<Placement> AnnotatedPlacement(const Node& node) {
  auto devices = ParseDeviceList(node.placement.devices);
  if (!devices.ok()) {
    return NodeError(node, absl::StrCat("field 'placement.devices': ", devices.status().message()));
  }
  auto placement = Placement::Create(*devices, node.placement.mesh, node.placement.axes);
  if (!placement.ok()) {
    return NodeError(node, absl::StrCat("field 'placement': ", placement.status().message()));
  }
  return *placement;
}

// Candidate N-D signatures: the product of every mesh axis's 1-D list.
std::vector<std::vector<const SbpSignature*>> Product(
    const std::vector<std::vector<SbpSignature>>& per_axis) {
  std::vector<std::vector<const SbpSignature*>> result = {{}};
  for (const std::vector<SbpSignature>& choices : per_axis) {
    std::vector<std::vector<const SbpSignature*>> next;
    for (const auto& prefix : result) {
      for (const SbpSignature& choice : choices) {
        next.push_back(prefix);
        next.back().push_back(&choice);
      }
    }
    result = std::move(next);
  }
  return result;
}

class Inference {
 public:
  Inference(const Graph& graph, const OpRegistry& ops, const SbpRuleRegistry& rules,
            const SbpInferenceOptions& options)
      : graph_(graph), ops_(ops), rules_(rules), options_(options) {}

  absl::StatusOr<std::vector<NodeLayout>> Run() {
    const int count = graph_.num_nodes();
    layouts_.resize(count);
    resolved_.assign(count, false);
    annotations_.resize(count);
    preferred_.assign(count, std::nullopt);
    SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph_.TopologicalOrder());
    for (int index : order) SBP_RETURN_IF_ERROR(Prepare(index));
    for (int index : order) {
      if (!resolved_[index] && !IsSource(graph_.node(index))) {
        SBP_RETURN_IF_ERROR(Decide(index));
      }
    }
    // Sources nobody asked for stay broadcast.
    for (int index : order) {
      if (resolved_[index]) continue;
      NodeLayout& layout = layouts_[index];
      layout.outputs.assign(graph_.node(index).outputs.size(),
                            NdSbp(layout.placement.mesh_rank(), Sbp::Broadcast()));
      resolved_[index] = true;
    }
    return layouts_;
  }

 private:
  // Placement and annotations of one node; annotated sources are resolved.
  absl::Status Prepare(int index) {
    const Node& node = graph_.node(index);
    NodeLayout& layout = layouts_[index];
    if (!node.placement.empty()) {
      SBP_ASSIGN_OR_RETURN(layout.placement, AnnotatedPlacement(node));
    } else if (node.stage.has_value() && !options_.stage_placements.empty()) {
      if (*node.stage >= static_cast<int>(options_.stage_placements.size())) {
        return NodeError(node, absl::StrCat("field 'stage': stage ", *node.stage,
                                            " does not exist (the pipeline has ",
                                            options_.stage_placements.size(), " stages)"));
      }
      layout.placement = options_.stage_placements[*node.stage];
    } else {
      layout.placement = options_.placement;
    }
    std::vector<std::optional<NdSbpPattern>>& annotated = annotations_[index];
    annotated.resize(node.outputs.size());
    for (size_t output = 0; output < node.output_sbp.size(); ++output) {
      if (node.output_sbp[output].empty()) continue;
      auto nd_sbp = ParseNdSbpPattern(node.output_sbp[output]);
      absl::Status status = nd_sbp.status();
      if (status.ok()) {
        status = ValidateNdSbpPattern(*nd_sbp, node.outputs[output].shape.rank(),
                                      layout.placement.mesh_rank());
      }
      if (!status.ok()) {
        return NodeError(node,
                         absl::StrCat("field 'output_sbp[", output, "]': ", status.message()));
      }
      annotated[output] = *nd_sbp;
    }
    if (!node.preferred_sbp.empty() && !node.outputs.empty()) {
      auto preferred = ParseNdSbpPattern(node.preferred_sbp);
      absl::Status status = preferred.status();
      if (status.ok()) {
        status = ValidateNdSbpPattern(*preferred, node.outputs[0].shape.rank(),
                                      layout.placement.mesh_rank());
      }
      // Presets write preferences; one that does not fit is dropped.
      if (status.ok()) preferred_[index] = *preferred;
    }
    if (IsSource(node) && annotated[0].has_value()) {
      // Check the annotation against the op's rules like any other node.
      SBP_RETURN_IF_ERROR(Decide(index));
    }
    return absl::OkStatus();
  }

  const SbpRuleFn* RuleFor(const Node& node) {
    const SbpRuleFn* rule = rules_.Find(node.op);
    return rule;
  }

  // Whether an unresolved source can produce `nd_sbp` on its placement.
  bool SourceAccepts(int source, const NdSbp& nd_sbp) {
    const Node& node = graph_.node(source);
    const Placement& placement = layouts_[source].placement;
    if (static_cast<int>(nd_sbp.size()) != placement.mesh_rank()) return false;
    static const SbpRuleFn kBroadcastOnly = [](const SbpRuleContext&) {
      return std::vector<SbpSignature>{};
    };
    const SbpRuleFn* rule = RuleFor(node);
    const std::vector<TensorType> no_inputs;
    for (int axis = 0; axis < placement.mesh_rank(); ++axis) {
      SbpRuleContext context{no_inputs, node.outputs, node.attrs, placement.mesh()[axis]};
      bool found = false;
      for (const SbpSignature& signature :
           SignaturesFor(rule != nullptr ? *rule : kBroadcastOnly, context)) {
        found = found || signature.outputs[0] == nd_sbp[axis];
      }
      if (!found) return false;
    }
    return true;
  }

  // The cost of boxing `from` into `to`, for choosing signatures. Making a
  // value partial (B or S to P) moves nothing, but it defers a reduction
  // that some consumer pays later; it is charged that reduction (to B on the
  // axes made partial) now, so a free-looking zero-fill never beats a layout
  // that needs no pending sum.
  absl::StatusOr<double> BoxingCost(const TensorType& type, const Layout& from, const Layout& to) {
    if (from == to) return 0.0;
    // Between pipeline stages (congruent placements) only the change of
    // layout counts, as if both sides shared one placement: moving the
    // shards across is not charged. So no layout depends on where the
    // pipeline is cut, and 1F1B's P stages and interleaved's P·V give the
    // same layouts and, with the boxing of such edges (sbp/boxing), the same
    // sums in the same order: the same bits.
    if (from.placement != to.placement && CongruentPlacements(from.placement, to.placement)) {
      return BoxingCost(type, Layout{to.placement, from.nd_sbp}, to);
    }
    auto key =
        std::make_tuple(type.shape.dims(), static_cast<int>(type.dtype), Intern(from), Intern(to));
    auto it = cost_cache_.find(key);
    if (it != cost_cache_.end()) return it->second;
    BoxingRequest request{type.shape, type.dtype, from, to, options_.link};
    SBP_ASSIGN_OR_RETURN(BoxingPlan plan, PlanBoxing(request));
    double cost = plan.cost_seconds;
    Layout reduced = to;
    bool made_partial = false;
    for (size_t axis = 0; axis < to.nd_sbp.size(); ++axis) {
      const bool was_partial = from.placement == to.placement && from.nd_sbp[axis].is_partial();
      if (to.nd_sbp[axis].is_partial() && !was_partial) {
        reduced.nd_sbp[axis] = Sbp::Broadcast();
        made_partial = true;
      }
    }
    if (made_partial) {
      absl::StatusOr<BoxingPlan> reduction =
          PlanBoxing(BoxingRequest{type.shape, type.dtype, to, reduced, options_.link});
      if (reduction.ok()) cost += reduction->cost_seconds;
    }
    cost_cache_[key] = cost;
    return cost;
  }

  int Intern(const Layout& layout) {
    for (size_t i = 0; i < interned_.size(); ++i) {
      if (interned_[i] == layout) return static_cast<int>(i);
    }
    interned_.push_back(layout);
    return static_cast<int>(interned_.size()) - 1;
  }

  absl::Status Decide(int index);

  const Graph& graph_;
  const OpRegistry& ops_;
  const SbpRuleRegistry& rules_;
  const SbpInferenceOptions& options_;
  std::vector<NodeLayout> layouts_;
  std::vector<bool> resolved_;
  // Per node, per output: the annotation, if any.
  std::vector<std::vector<std::optional<NdSbpPattern>>> annotations_;
  // Per node: a preset's preference for output 0, if any.
  std::vector<std::optional<NdSbpPattern>> preferred_;
  std::vector<Layout> interned_;
  std::map<std::tuple<std::vector<int64_t>, int, int, int>, double> cost_cache_;
};

absl::Status Inference::Decide(int index) {
  const Node& node = graph_.node(index);
  NodeLayout& layout = layouts_[index];
  const Placement& placement = layout.placement;
  const int mesh_rank = placement.mesh_rank();
  const int num_inputs = static_cast<int>(node.inputs.size());
  std::vector<TensorType> input_types;
  for (const TensorRef& input : node.inputs) input_types.push_back(graph_.type(input));

  const SbpRuleFn* rule = RuleFor(node);
  if (rule == nullptr) {
    return NodeError(node, "op has no SBP rules");
  }
  std::vector<std::vector<SbpSignature>> per_axis;
  for (int axis = 0; axis < mesh_rank; ++axis) {
    SbpRuleContext context{input_types, node.outputs, node.attrs, placement.mesh()[axis]};
    per_axis.push_back(SignaturesFor(*rule, context));
  }
  const OpDef* def = ops_.Find(node.op);
  CHECK(def != nullptr);
  const std::vector<std::optional<NdSbpPattern>>& annotated = annotations_[index];

  struct Rejection {
    std::string signature;
    std::string reason;
  };
  std::vector<Rejection> rejections;
  double best_cost = 0;
  bool best_kept = false;
  std::optional<std::vector<const SbpSignature*>> best;
  for (const std::vector<const SbpSignature*>& candidate : Product(per_axis)) {
    auto nd = [&](bool input, int position) {
      NdSbp result;
      for (const SbpSignature* signature : candidate) {
        result.push_back(input ? signature->inputs[position] : signature->outputs[position]);
      }
      return result;
    };
    auto describe = [&]() {
      std::vector<std::string> inputs;
      for (int i = 0; i < num_inputs; ++i) inputs.push_back(NdSbpToString(nd(true, i)));
      std::vector<std::string> outputs;
      for (size_t o = 0; o < node.outputs.size(); ++o) {
        outputs.push_back(NdSbpToString(nd(false, static_cast<int>(o))));
      }
      return absl::StrCat("(", absl::StrJoin(inputs, ", "), ") -> ", absl::StrJoin(outputs, ", "));
    };
    std::string reason;
    for (size_t output = 0; output < node.outputs.size() && reason.empty(); ++output) {
      if (annotated[output].has_value() &&
          !PatternMatches(*annotated[output], nd(false, static_cast<int>(output)))) {
        reason = absl::StrCat("output ", output, " is annotated ",
                              NdSbpPatternToString(*annotated[output]));
      }
    }
    if (reason.empty() && node.op == "Reshape" &&
        !ReshapeKeepsElements(input_types[0].shape, nd(true, 0), node.outputs[0].shape,
                              nd(false, 0), placement)) {
      reason = "the reshape would move elements between devices";
    }
    double cost = 0;
    for (int input = 0; input < num_inputs && reason.empty(); ++input) {
      const TensorRef ref = node.inputs[input];
      const NdSbp required = nd(true, input);
      const bool mutated = std::find(def->mutable_inputs.begin(), def->mutable_inputs.end(),
                                     input) != def->mutable_inputs.end();
      if (!resolved_[ref.node]) {
        if (!SourceAccepts(ref.node, required) ||
            (mutated && layouts_[ref.node].placement != placement)) {
          reason = absl::StrCat("input ", input, " ('", graph_.node(ref.node).name,
                                "') cannot be produced as ", NdSbpToString(required));
        }
        // A variable or constant costs nothing to lay out any way, but a
        // replicated one is what data parallelism means and keeps its
        // consumers free: among equal candidates, it stays broadcast.
        // (Placeholders take the split their consumer prefers: that is how
        // unannotated graphs become data parallel.)
        if (graph_.node(ref.node).op != "Placeholder" && !IsAllBroadcast(required)) {
          cost += kSourceSplitTieBreakSeconds;
        }
        continue;
      }
      const NodeLayout& producer = layouts_[ref.node];
      const Layout from{producer.placement, producer.outputs[ref.output]};
      const Layout to{placement, required};
      if (mutated && from != to) {
        reason = absl::StrCat("input ", input, " is updated in place and is ",
                              NdSbpToString(from.nd_sbp));
        continue;
      }
      auto step_cost = BoxingCost(graph_.type(ref), from, to);
      if (!step_cost.ok()) {
        reason = std::string(step_cost.status().message());
        continue;
      }
      cost += *step_cost;
    }
    if (!reason.empty()) {
      rejections.push_back(Rejection{describe(), reason});
      continue;
    }
    // Candidates that keep a preset's preference come first.
    const bool kept = !preferred_[index].has_value() || node.outputs.empty() ||
                      PatternMatches(*preferred_[index], nd(false, 0));
    if (!best.has_value() || (kept && !best_kept) || (kept == best_kept && cost < best_cost)) {
      best = candidate;
      best_cost = cost;
      best_kept = kept;
    }
  }

  if (!best.has_value()) {
    std::vector<std::string> inputs;
    for (const TensorRef& ref : node.inputs) {
      inputs.push_back(resolved_[ref.node] ? NdSbpToString(layouts_[ref.node].outputs[ref.output])
                                           : std::string("?"));
    }
    std::vector<std::string> tried;
    for (size_t i = 0; i < rejections.size() && i < 6; ++i) {
      tried.push_back(absl::StrCat(rejections[i].signature, ": ", rejections[i].reason));
    }
    if (rejections.size() > 6)
      tried.push_back(absl::StrCat("and ", rejections.size() - 6, " more"));
    return NodeError(node,
                     absl::StrCat("no SBP signature fits: inputs (", absl::StrJoin(inputs, ", "),
                                  "); tried ", absl::StrJoin(tried, "; ")));
  }

  layout.inputs.clear();
  for (int input = 0; input < num_inputs; ++input) {
    NdSbp required;
    for (const SbpSignature* signature : *best) required.push_back(signature->inputs[input]);
    layout.inputs.push_back(required);
    const TensorRef ref = node.inputs[input];
    if (!resolved_[ref.node]) {
      // The source takes the layout its first consumer asks for.
      NodeLayout& source = layouts_[ref.node];
      source.outputs.assign(graph_.node(ref.node).outputs.size(), required);
      resolved_[ref.node] = true;
    }
  }
  layout.outputs.clear();
  for (size_t output = 0; output < node.outputs.size(); ++output) {
    NdSbp produced;
    for (const SbpSignature* signature : *best) produced.push_back(signature->outputs[output]);
    layout.outputs.push_back(produced);
  }
  resolved_[index] = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<NodeLayout>> InferSbp(const Graph& graph, const OpRegistry& ops,
                                                 const SbpRuleRegistry& rules,
                                                 const SbpInferenceOptions& options) {
  Inference inference(graph, ops, rules, options);
  return inference.Run();
}

}  // namespace sbpflow
