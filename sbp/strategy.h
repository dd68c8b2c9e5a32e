// Layout presets: `--strategy dp|tp|dp,tp` and `--zero 1` written as SBP
// annotations (Node::output_sbp, axes a preset has no opinion on left open
// as "*") before inference, for the forward and the backward pass.
//
// - dp: the data inputs (signature features and labels) are split along the
//   batch over the "dp" mesh axis, and so is every forward activation
//   computed from them whose first dimension is the batch, and its gradient
//   (Graph::GradientOf); activations of parameters alone are whole. Weights
//   are thus used whole and only their gradients are reduced.
// - tp: Megatron's layout on the "tp" axis, found from the graph's structure:
//   a MatMul by a weight variable whose input comes (through element-wise,
//   reshape, transpose, attention and split ops) from a column-parallel
//   MatMul is row-parallel (weight S(0), output P); any other weight MatMul
//   is column-parallel (weight S(1), its bias S(0)), except a final
//   projection that reaches the loss without another weight MatMul (kept
//   whole). Every other forward activation is whole (B); column-parallel
//   activations are left to inference. For the GPT builder this splits Q/K/V
//   and the MLP's first layer by columns (heads split), the attention output
//   and the MLP's second layer by rows. Backward mirrors it: the input
//   gradient of a column-parallel MatMul is P, other gradients of whole
//   activations B, gradients of P outputs B. Data inputs are broadcast over
//   tp.
// - zero 1: trainable variables and their optimizer state are split along
//   dimension 0 over "dp"; gradients are then reduce-scattered, each device
//   updates its shard, and parameters are all-gathered where they are used.
//   Their optimizer state follows the variables' layouts through inference.
//
// Annotations already in the graph win over presets, except where they
// contradict a preset's requirement (data inputs S(0) over dp under dp,
// variables S(0) over dp under zero 1): InvalidArgument naming the node.
#ifndef SBPFLOW_SBP_STRATEGY_H_
#define SBPFLOW_SBP_STRATEGY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "sbp/placement.h"

namespace sbpflow {

struct StrategyOptions {
  // "", "dp", "tp", "dp,tp" (any order).
  std::string strategy;
  int zero = 0;
};

// The mesh axis names a strategy implies when --axes is not given: "dp,tp"
// names axis 0 "dp" and axis 1 "tp". Errors: unknown strategy component,
// a repeated one, or a component count different from the mesh rank.
absl::StatusOr<std::vector<std::string>> StrategyAxes(absl::string_view strategy, int mesh_rank);

// Writes the preset annotations into `graph` (a training graph) for
// `placement`. Errors (InvalidArgument): the strategy names an axis the mesh
// does not have; --zero other than 0 or 1; --zero 1 without a dp axis.
absl::Status ApplyStrategy(Graph* graph, const Placement& placement,
                           const StrategyOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_STRATEGY_H_
