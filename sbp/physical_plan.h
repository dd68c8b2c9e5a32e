// The physical plan: what every device runs in one training (or inference)
// step. Produced by lowering (sbp/lowering.h) from the logical graph and its
// SBP layouts; consumed by the actor runtime (actor/runtime.h) and written by
// `sbpflow compile`.
//
// The plan is immutable once built and shared by everything that runs it.
// Ops are listed in a topological order that is the same on every device, so
// any per-device subsequence is a valid issue order.
#ifndef SBPFLOW_SBP_PHYSICAL_PLAN_H_
#define SBPFLOW_SBP_PHYSICAL_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "base/attr_value.h"
#include "base/box.h"
#include "base/collective.h"
#include "base/device.h"
#include "base/shape.h"

namespace sbpflow {

enum class PlanOpKind {
  // Runs the registry kernel named by `type` on the device's compute lane.
  kKernel,
  // Delivers this device's slice (`box`) of feed `feed` for one micro-batch.
  kPlaceholder,
  // Yields this device's shard (`box`) of variable `variable`; the output
  // aliases the persistent tensor, so in-place updates are visible to the
  // next step.
  kVariable,
  // Sums its one input over the micro-batches of a step (in micro-batch
  // order) and emits the total once per step.
  kAccumulate,
  // This device's part of a collective (`collective`); runs on the
  // communication lane.
  kCollective,
};

absl::string_view PlanOpKindName(PlanOpKind kind);

// How often an op fires in one step.
enum class Frequency {
  kPerMicroBatch,
  kPerStep,
};

// Which part of a pipeline instruction an op belongs to (issue order within a
// stage follows the schedule of these phases).
enum class Phase {
  kForward,
  kBackwardInput,   // "B": gradients flowing to activations
  kBackwardWeight,  // "W": gradients flowing only to variables
  kOptimizer,
};

absl::string_view PhaseName(Phase phase);

struct PlanValue {
  int op = -1;
  int output = 0;

  bool operator==(const PlanValue& other) const {
    return op == other.op && output == other.output;
  }
};

struct PlanOp {
  std::string name;
  PlanOpKind kind = PlanOpKind::kKernel;
  // kKernel: the op type (kernel registry key). Otherwise informational.
  std::string type;
  AttrMap attrs;
  int device = 0;  // index into PhysicalPlan::devices
  Frequency frequency = Frequency::kPerMicroBatch;
  std::vector<PlanValue> inputs;
  std::vector<int> control_inputs;
  // Input positions written in place (optimizer updates).
  std::vector<int> mutable_inputs;
  std::vector<TensorType> outputs;  // local shapes
  // Registers per output: how many produced values may be alive at once.
  int registers = 2;

  // kPlaceholder: feed name; kVariable: variable name.
  std::string feed;
  std::string variable;
  // kPlaceholder: this device's box within one micro-batch of the feed;
  // kVariable: this device's box of the logical variable.
  Box box;

  CollectiveSpec collective;  // kCollective only

  // Pipeline position: the rank (whose schedule the op follows) and the
  // model chunk on that rank (interleaved schedules have several).
  int stage = 0;
  int chunk = 0;
  Phase phase = Phase::kForward;

  // The logical node this op implements (or the edge it boxes), for traces.
  std::string logical_node;
};

// How to rebuild a logical tensor from the pieces a step produces.
struct FetchSpec {
  std::string name;
  TensorType logical;  // of one micro-batch
  // One source per piece, with the box it holds of the logical tensor.
  std::vector<PlanValue> sources;
  std::vector<Box> boxes;
  // Pieces are partial sums (add them) rather than disjoint slices.
  bool partial = false;
  // How micro-batches combine: summed (a loss) or concatenated along axis 0.
  bool sum_micro_batches = false;
};

struct FeedSpec {
  std::string name;
  TensorType logical;  // of the whole step (all micro-batches)
};

struct VariableSpec {
  std::string name;
  TensorType logical;
  std::string initializer;
  int64_t seed = 0;
  bool trainable = true;
  // One op per device holding a shard; boxes may overlap (replicas).
  std::vector<int> ops;
};

// One compute instruction of a pipeline rank: run the ops of `phase` of model
// chunk `chunk` for micro-batch `micro_batch`.
struct PipelineInstruction {
  Phase phase = Phase::kForward;
  int micro_batch = 0;
  int chunk = 0;

  bool operator==(const PipelineInstruction& other) const {
    return phase == other.phase && micro_batch == other.micro_batch && chunk == other.chunk;
  }
};

struct PhysicalPlan {
  std::vector<Device> devices;
  std::vector<PlanOp> ops;  // topologically ordered
  int micro_batches = 1;
  // Per pipeline rank (PlanOp::stage), the order in which its devices run
  // their per-micro-batch F, B and W kernels (empty: dataflow order only).
  // When no instruction has phase W, kBackwardWeight ops run with B.
  std::vector<std::vector<PipelineInstruction>> pipeline_schedule;
  std::vector<FeedSpec> feeds;
  std::vector<FetchSpec> fetches;
  std::vector<VariableSpec> variables;
};

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_PHYSICAL_PLAN_H_
