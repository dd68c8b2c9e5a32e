// Evaluation of a model's forward graph over a data set, on the job's
// devices and variables.
#ifndef SBPFLOW_TOOLS_EVALUATION_H_
#define SBPFLOW_TOOLS_EVALUATION_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "tools/job.h"

namespace sbpflow {

struct EvaluationResult {
  int64_t examples = 0;
  // Means over the labels: one per example for a classifier, one per
  // position for a sequence model.
  double loss = 0;
  std::optional<double> accuracy;  // when the graph names logits
};

// Fashion-MNIST: every test example once, in batches of options.batch (the
// last one smaller). Other data sets: `batches` batches of the data set.
// `training` (may be null) pins the variable layouts of the training plan so
// both plans share `variables`.
absl::StatusOr<EvaluationResult> Evaluate(JobContext& context, const JobOptions& options,
                                          const CompiledPlan* training, VariableStore** variables,
                                          std::unique_ptr<VariableStore>* created,
                                          int64_t batches = 8);

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_EVALUATION_H_
