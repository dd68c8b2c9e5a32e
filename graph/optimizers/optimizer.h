// Turns a forward graph into a training graph: autodiff from the signature's
// loss, optional global-norm gradient clipping, and one update node per
// trainable variable (SGD with momentum/nesterov, Adam, AdamW), all ordinary
// graph nodes with role kOptimizer.
//
// Optimizer state lives in non-trainable Variables named after the variable
// they serve: "<var>.momentum", "<var>.adam_m", "<var>.adam_v", and one
// shared "optimizer.step" (completed Adam updates), so checkpoints can carry
// it like any other variable. The learning rate is the scalar variable
// "optimizer.lr" (initialized to OptimizerOptions::learning_rate); a trainer
// with a schedule writes it before each step.
#ifndef SBPFLOW_GRAPH_OPTIMIZERS_OPTIMIZER_H_
#define SBPFLOW_GRAPH_OPTIMIZERS_OPTIMIZER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"

namespace sbpflow {

inline constexpr absl::string_view kLearningRateVariable = "optimizer.lr";

struct OptimizerOptions {
  enum class Kind { kSgd, kAdam, kAdamW };
  Kind kind = Kind::kSgd;
  double learning_rate = 0.01;
  double momentum = 0.0;  // SGD only
  bool nesterov = false;  // SGD only; needs momentum > 0
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  // Global-norm gradient clipping; 0 = off.
  double clip_norm = 0.0;
};

// Parses "sgd", "adam", "adamw". InvalidArgument naming the flag otherwise.
absl::StatusOr<OptimizerOptions::Kind> ParseOptimizerKind(absl::string_view text);

// Checks that every value is finite ("--lr must be finite, got inf") and in
// range (lr > 0, momentum in [0, 1), ...); errors name the option as a CLI
// flag ("--lr must be > 0, got -1").
absl::Status ValidateOptimizerOptions(const OptimizerOptions& options);

struct TrainingGraphInfo {
  // Trainable variables that receive a gradient, in node order.
  std::vector<int> variables;
  std::vector<TensorRef> gradients;  // (possibly clipped) gradient of each
  std::vector<int> update_nodes;
};

// Appends the backward and optimizer nodes to `graph`, whose signature must
// name a loss. Errors: no loss; no trainable variable reaches the loss; an op
// on the path without a gradient; invalid options.
absl::StatusOr<TrainingGraphInfo> BuildTrainingGraph(Graph* graph, const OpRegistry& registry,
                                                     const OptimizerOptions& options);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_OPTIMIZERS_OPTIMIZER_H_
