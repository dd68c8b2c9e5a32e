// Learning-rate schedules: constant, or a linear warm-up followed by a linear
// or cosine decay to zero at the last step (Megatron's decay styles). The
// trainer writes the value into the "optimizer.lr" variable before each step.
#ifndef SBPFLOW_GRAPH_OPTIMIZERS_LEARNING_RATE_H_
#define SBPFLOW_GRAPH_OPTIMIZERS_LEARNING_RATE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sbpflow {

struct LearningRateSchedule {
  enum class Kind { kConstant, kLinear, kCosine };
  Kind kind = Kind::kConstant;
  double base = 0.01;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
};

// "constant", "linear", "cosine". InvalidArgument naming --lr-schedule
// otherwise.
absl::StatusOr<LearningRateSchedule::Kind> ParseLearningRateSchedule(absl::string_view text);

// The learning rate of step `step` (0-based): base·(step+1)/warmup during the
// warm-up, then base times the decay factor of the progress through the
// remaining steps (1 for constant, 1-p for linear, (1+cos πp)/2 for cosine).
double LearningRateAt(const LearningRateSchedule& schedule, int64_t step);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_OPTIMIZERS_LEARNING_RATE_H_
