#include "sbp/compile.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "graph/shape_inference.h"
#include "sbp/lowering.h"
#include "sbp/pipeline.h"
#include "graph/optimizers/optimizer.h"

namespace sbpflow {

absl::StatusOr<std::vector<Placement>> JobPlacements(const ParallelOptions& options) {
  auto devices = ParseDeviceList(options.devices);
  if (!devices.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--devices: ", devices.status().message()));
  }
  if (options.pipeline < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--pipeline must be >= 1, got ", options.pipeline));
  }
  if (devices->size() % options.pipeline != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--pipeline ", options.pipeline,
                                                   " does not divide the ", devices->size(),
                                                   " devices of --devices ", options.devices));
  }
  const int64_t per_rank = static_cast<int64_t>(devices->size()) / options.pipeline;
  std::vector<int64_t> mesh;
  if (!options.mesh.empty()) {
    auto parsed = ParseMesh(options.mesh);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("--mesh: ", parsed.status().message()));
    mesh = *parsed;
  } else {
    mesh = {per_rank};
  }
  std::vector<std::string> axes;
  if (!options.axes.empty()) {
    axes = absl::StrSplit(options.axes, ',');
  } else {
    SBP_ASSIGN_OR_RETURN(axes, StrategyAxes(options.strategy.strategy, static_cast<int>(mesh.size())));
  }
  std::vector<Placement> placements;
  for (int rank = 0; rank < options.pipeline; ++rank) {
    std::vector<Device> group(devices->begin() + rank * per_rank,
                              devices->begin() + (rank + 1) * per_rank);
    auto placement = Placement::Create(group, mesh, axes);
    if (!placement.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--mesh: ", placement.status().message()));
    }
    placements.push_back(*std::move(placement));
  }
  return placements;
}

absl::StatusOr<CompiledPlan> CompileGraph(Graph graph, const OpRegistry& ops,
                                          const SbpRuleRegistry& rules,
                                          const ParallelOptions& options,
                                          const std::vector<std::string>& fetches,
                                          const Graph* full_batch_graph) {
  CompiledPlan compiled;
  SBP_ASSIGN_OR_RETURN(compiled.rank_placements, JobPlacements(options));
  compiled.placement = compiled.rank_placements[0];
  if (options.chunks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--chunks must be >= 1, got ", options.chunks));
  }
  if (options.micro_batches < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--micro-batches must be >= 1, got ", options.micro_batches));
  }
  if (options.micro_batches > 1 && full_batch_graph == nullptr) {
    return absl::InvalidArgumentError("micro-batches need the graph at the whole step's batch");
  }
  const int virtual_stages = options.pipeline * options.chunks;
  Graph& micro_batch = graph;
  if (virtual_stages > 1) SBP_RETURN_IF_ERROR(AssignStages(&micro_batch, ops, virtual_stages));
  SBP_RETURN_IF_ERROR(ApplyStrategy(&micro_batch, compiled.placement, options.strategy));
  SbpInferenceOptions inference;
  inference.placement = compiled.placement;
  if (virtual_stages > 1) {
    for (int stage = 0; stage < virtual_stages; ++stage) {
      inference.stage_placements.push_back(compiled.rank_placements[stage % options.pipeline]);
    }
  }
  inference.link = options.link;
  SBP_ASSIGN_OR_RETURN(compiled.layouts, InferSbp(micro_batch, ops, rules, inference));
  LoweringOptions lowering;
  lowering.devices.clear();
  for (const Placement& placement : compiled.rank_placements) {
    for (const Device& device : placement.devices()) lowering.devices.push_back(device);
  }
  lowering.fetches = fetches;
  lowering.link = options.link;
  lowering.micro_batches = options.micro_batches;
  lowering.full_batch_graph = full_batch_graph;
  lowering.pipeline_ranks = options.pipeline;
  SBP_ASSIGN_OR_RETURN(compiled.plan, LowerGraph(micro_batch, compiled.layouts, ops, lowering));
  if (options.bucket_bytes > 0) {
    BucketGradientAllReduces(&compiled.plan,
                             BucketingOptions{options.bucket_bytes, options.overlap});
  }
  compiled.graph = std::move(micro_batch);
  return compiled;
}

absl::StatusOr<int64_t> GraphBatch(const Graph& graph) {
  const std::string& features = graph.signature().features;
  std::optional<int> node = features.empty() ? std::nullopt : graph.FindNode(features);
  if (!node.has_value() || graph.node(*node).outputs[0].shape.rank() == 0) {
    return absl::InvalidArgumentError("field 'signature.features': micro-batches need the "
                                      "graph's features placeholder to find the batch");
  }
  return graph.node(*node).outputs[0].shape.dim(0);
}

absl::StatusOr<CompiledPlan> CompileTrainingGraph(const Graph& forward, const OpRegistry& ops,
                                                  const SbpRuleRegistry& rules,
                                                  const OptimizerOptions& optimizer,
                                                  const ParallelOptions& options,
                                                  const std::vector<std::string>& fetches) {
  Graph full = forward;
  SBP_RETURN_IF_ERROR(BuildTrainingGraph(&full, ops, optimizer).status());
  if (options.micro_batches <= 1) return CompileGraph(std::move(full), ops, rules, options, fetches);
  SBP_ASSIGN_OR_RETURN(const int64_t batch, GraphBatch(forward));
  if (batch % options.micro_batches != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch ", batch,
                                                   " is not a multiple of --micro-batches ",
                                                   options.micro_batches));
  }
  // The same builders at the micro-batch's size give the same nodes, with
  // every shape-carrying attr (reshapes, broadcasts of gradients) right.
  Graph micro_batch = forward;
  SBP_RETURN_IF_ERROR(InferGraphShapes(&micro_batch, ops, batch / options.micro_batches));
  SBP_RETURN_IF_ERROR(BuildTrainingGraph(&micro_batch, ops, optimizer).status());
  return CompileGraph(std::move(micro_batch), ops, rules, options, fetches, &full);
}

std::string DescribePlacements(const CompiledPlan& compiled) {
  if (compiled.rank_placements.size() <= 1) return compiled.placement.ToString();
  std::vector<std::string> ranks;
  for (const Placement& placement : compiled.rank_placements) ranks.push_back(placement.ToString());
  return absl::StrCat(compiled.rank_placements.size(), " pipeline ranks: ",
                      absl::StrJoin(ranks, " | "));
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
