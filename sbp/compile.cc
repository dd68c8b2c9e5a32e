#include "sbp/compile.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "sbp/lowering.h"

namespace sbpflow {

absl::StatusOr<Placement> JobPlacement(const ParallelOptions& options) {
  auto devices = ParseDeviceList(options.devices);
  if (!devices.ok()) return absl::InvalidArgumentError(absl::StrCat("--devices: ", devices.status().message()));
  std::vector<int64_t> mesh;
  if (!options.mesh.empty()) {
    auto parsed = ParseMesh(options.mesh);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--mesh: ", parsed.status().message()));
    mesh = *parsed;
  } else {
    mesh = {static_cast<int64_t>(devices->size())};
  }
  std::vector<std::string> axes;
  if (!options.axes.empty()) {
    axes = absl::StrSplit(options.axes, ',');
  } else {
    SBP_ASSIGN_OR_RETURN(axes, StrategyAxes(options.strategy.strategy, static_cast<int>(mesh.size())));
  }
  auto placement = Placement::Create(*devices, mesh, axes);
  if (!placement.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--mesh: ", placement.status().message()));
  }
  return *placement;
}

absl::StatusOr<CompiledPlan> CompileGraph(Graph graph, const OpRegistry& ops,
                                          const SbpRuleRegistry& rules,
                                          const ParallelOptions& options,
                                          const std::vector<std::string>& fetches) {
  CompiledPlan compiled;
  SBP_ASSIGN_OR_RETURN(compiled.placement, JobPlacement(options));
  SBP_RETURN_IF_ERROR(ApplyStrategy(&graph, compiled.placement, options.strategy));
  SbpInferenceOptions inference;
  inference.placement = compiled.placement;
  inference.link = options.link;
  SBP_ASSIGN_OR_RETURN(compiled.layouts, InferSbp(graph, ops, rules, inference));
  LoweringOptions lowering;
  lowering.devices = compiled.placement.devices();
  lowering.fetches = fetches;
  lowering.link = options.link;
  SBP_ASSIGN_OR_RETURN(compiled.plan, LowerGraph(graph, compiled.layouts, ops, lowering));
  if (options.bucket_bytes > 0) {
    BucketGradientAllReduces(&compiled.plan,
                             BucketingOptions{options.bucket_bytes, options.overlap});
  }
  compiled.graph = std::move(graph);
  return compiled;
}

void PinVariableLayouts(const CompiledPlan& compiled, Graph* graph) {
  for (int index = 0; index < compiled.graph.num_nodes(); ++index) {
    const Node& node = compiled.graph.node(index);
    if (node.op != "Variable") continue;
    std::optional<int> target = graph->FindNode(node.name);
    if (!target.has_value()) continue;
    graph->mutable_node(*target).output_sbp = {NdSbpToString(compiled.layouts[index].outputs[0])};
  }
}

}  // namespace sbpflow
