// From a training graph and the job's parallel options to a physical plan:
// presets (sbp/strategy.h), SBP inference, lowering. Used by `sbpflow
// compile` and `sbpflow train`.
#ifndef SBPFLOW_SBP_COMPILE_H_
#define SBPFLOW_SBP_COMPILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/optimizers/optimizer.h"
#include "sbp/boxing/boxing_plan.h"
#include "sbp/bucketing.h"
#include "sbp/physical_plan.h"
#include "sbp/placement.h"
#include "sbp/sbp_inference.h"
#include "sbp/sbp_rules.h"
#include "sbp/strategy.h"

namespace sbpflow {

struct ParallelOptions {
  // "--devices cpu:0-3", "--mesh 2x2" (empty: 1-D), "--axes dp,tp" (empty:
  // named after the strategy).
  std::string devices = "cpu:0";
  std::string mesh;
  std::string axes;
  StrategyOptions strategy;
  LinkModel link;
  // Gradient all-reduce buckets (sbp/bucketing.h); 0 = no bucketing.
  int64_t bucket_bytes = 4 << 20;
  bool overlap = true;
  // Pipeline: ranks (the devices split into this many equal groups, each a
  // `mesh` of its own), model chunks per rank (interleaved schedules), and
  // micro-batches per step.
  int pipeline = 1;
  int chunks = 1;
  int micro_batches = 1;
};

// The placement of every pipeline rank (one when there is no pipeline).
// Errors name the flag: "--mesh: mesh 2x2 has 4 positions, got 3 devices",
// "--pipeline 3 does not divide the 8 devices of --devices cpu:0-7".
absl::StatusOr<std::vector<Placement>> JobPlacements(const ParallelOptions& options);

struct CompiledPlan {
  PhysicalPlan plan;
  // Pipeline rank 0's placement (the job's when there is no pipeline), and
  // every rank's.
  Placement placement;
  std::vector<Placement> rank_placements;
  // The annotated graph that was lowered and its layouts (for reports and
  // for pinning the layouts of a second plan over the same variables).
  Graph graph;
  std::vector<NodeLayout> layouts;
};

// Compiles `graph` (its shapes those of one micro-batch): stage assignment
// when pipelined, presets, SBP inference, lowering, gradient bucketing.
// With micro-batches, `full_batch_graph` is the same graph at the whole
// step's batch (counts of means and feed shapes come from it). `fetches` are
// extra tensors to fetch (see LoweringOptions). Errors: those of each pass.
absl::StatusOr<CompiledPlan> CompileGraph(Graph graph, const OpRegistry& ops,
                                          const SbpRuleRegistry& rules,
                                          const ParallelOptions& options,
                                          const std::vector<std::string>& fetches = {},
                                          const Graph* full_batch_graph = nullptr);

// Builds the training graph of `forward` (inferred at the step's batch) with
// `optimizer`, at the micro-batch's size and at the step's, and compiles it.
// Errors: a batch that is not a multiple of --micro-batches, and those of
// BuildTrainingGraph and CompileGraph.
absl::StatusOr<CompiledPlan> CompileTrainingGraph(const Graph& forward, const OpRegistry& ops,
                                                  const SbpRuleRegistry& rules,
                                                  const OptimizerOptions& optimizer,
                                                  const ParallelOptions& options,
                                                  const std::vector<std::string>& fetches = {});

// "cpu:0-3 2x2 (dp,tp)", or with a pipeline "2 pipeline ranks: cpu:0-3 2x2
// (dp,tp) | cpu:4-7 2x2 (dp,tp)".
std::string DescribePlacements(const CompiledPlan& compiled);

// Copies the layouts of `compiled`'s variables into `graph`'s Variable nodes
// of the same names as annotations, so a plan compiled from `graph` uses the
// same shards (an evaluation plan sharing a training job's variables).
void PinVariableLayouts(const CompiledPlan& compiled, Graph* graph);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_COMPILE_H_
