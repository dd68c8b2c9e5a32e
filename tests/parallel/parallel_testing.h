// Runs a few training steps of a forward graph under given parallel options
// and returns what equivalence tests compare: the loss of every step and the
// final value of every variable.
#ifndef SBPFLOW_TESTS_PARALLEL_PARALLEL_TESTING_H_
#define SBPFLOW_TESTS_PARALLEL_PARALLEL_TESTING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/optimizers/optimizer.h"
#include "kernel/kernel_registry.h"
#include "kernel/tensor.h"
#include "sbp/compile.h"

namespace sbpflow::testing {

struct TrainResult {
  std::vector<float> losses;
  std::map<std::string, std::vector<float>> variables;
  // Collective ops in the plan, by kind name.
  std::map<std::string, int> collectives;
  // Measured peak bytes per plan device over all steps.
  std::vector<int64_t> peak_bytes;
};

struct TrainSetup {
  OptimizerOptions optimizer;
  ParallelOptions parallel;
  // "" = no schedule (pure gradient accumulation when micro-batches > 1),
  // else a schedule kind for parallel.pipeline ranks.
  std::string schedule;
  int threads = 2;
  uint64_t seed = 7;
};

// `feeds`: one map (placeholder name -> logical batch tensor) per step.
absl::StatusOr<TrainResult> TrainSteps(const Graph& forward, const OpRegistry& ops,
                                       const KernelRegistry& kernels, const TrainSetup& setup,
                                       const std::vector<std::map<std::string, Tensor>>& feeds);

// Random batches for a graph's features and labels placeholders (float
// features uniform in [0, 1), integer ones below `vocabulary`, labels below
// `classes`).
std::vector<std::map<std::string, Tensor>> RandomBatches(const Graph& graph, int steps,
                                                         int64_t vocabulary, int64_t classes,
                                                         Allocator* allocator);

// Checks |a - b| <= rtol·|b| + atol element-wise; the failure names the
// variable and element.
::testing::AssertionResult AllClose(const TrainResult& actual, const TrainResult& expected,
                                    double rtol, double atol);

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_PARALLEL_PARALLEL_TESTING_H_
