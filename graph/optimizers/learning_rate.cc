#include "graph/optimizers/learning_rate.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace sbpflow {

absl::StatusOr<LearningRateSchedule::Kind> ParseLearningRateSchedule(absl::string_view text) {
  if (text == "constant") return LearningRateSchedule::Kind::kConstant;
  if (text == "linear") return LearningRateSchedule::Kind::kLinear;
  if (text == "cosine") return LearningRateSchedule::Kind::kCosine;
  return absl::InvalidArgumentError(absl::StrCat(
      "--lr-schedule: unknown schedule '", text, "' (expected constant, linear or cosine)"));
}

double LearningRateAt(const LearningRateSchedule& schedule, int64_t step) {
  if (step < schedule.warmup_steps) {
    return schedule.base * static_cast<double>(step + 1) /
           static_cast<double>(schedule.warmup_steps);
  }
  const int64_t decay_steps = schedule.total_steps - schedule.warmup_steps;
  const double progress =
      decay_steps > 0 ? static_cast<double>(step - schedule.warmup_steps) / decay_steps : 0.0;
  switch (schedule.kind) {
    case LearningRateSchedule::Kind::kConstant:
      return schedule.base;
    case LearningRateSchedule::Kind::kLinear:
      return schedule.base * (1.0 - progress);
    case LearningRateSchedule::Kind::kCosine:
      return schedule.base * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return schedule.base;
}

}  // namespace sbpflow
