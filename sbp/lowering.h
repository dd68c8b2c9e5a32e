// Lowering: the logical (training) graph plus the layout of every tensor
// becomes the physical plan each device runs.
#ifndef SBPFLOW_SBP_LOWERING_H_
#define SBPFLOW_SBP_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

struct LoweringOptions {
  std::vector<Device> devices = {Device{}};
  // Extra tensors to fetch every step, by name ("node" or "node:1"), besides
  // the signature's loss ("loss") and logits ("logits") when present.
  std::vector<std::string> fetches;
};

// Lowers a graph whose shapes are inferred for one step's batch onto one
// device. Every node becomes one plan op; Placeholders become feeds, Variables
// become variable shards, optimizer nodes run once per step.
// Errors: InvalidArgument for an unknown fetch name or more than one device
// (multi-device lowering goes through SBP inference).
absl::StatusOr<PhysicalPlan> LowerSingleDevice(const Graph& graph, const OpRegistry& registry,
                                               const LoweringOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_LOWERING_H_
