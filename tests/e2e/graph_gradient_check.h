// Finite-difference checks of the gradients of a whole training graph, in
// double precision: the graph-level counterpart of
// tests/testing/gradient_check.h (which checks one op at a time).
//
// What is checked is what training uses: BuildTrainingGraph's gradient of
// the signature's loss with respect to every trainable variable (autodiff
// through every op, gradient accumulation over fan-out), against central
// differences of the loss computed by the reference executor.
#ifndef SBPFLOW_TESTS_E2E_GRAPH_GRADIENT_CHECK_H_
#define SBPFLOW_TESTS_E2E_GRAPH_GRADIENT_CHECK_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "kernel/kernel_registry.h"
#include "kernel/tensor.h"

namespace sbpflow::testing {

// The same graph with every f32 tensor made f64: the dtype attrs of its
// sources (Placeholder, Variable, Const) are rewritten, then the graph is
// validated again with shape inference at `batch`. Errors: those of
// GraphFromProto.
absl::StatusOr<Graph> ConvertToFloat64(const Graph& graph, const OpRegistry& ops, int64_t batch);

struct GraphGradientCheckOptions {
  double epsilon = 1e-6;
  double relative_tolerance = 1e-5;
  double absolute_tolerance = 1e-8;
  // Variables start uniform in [-value_scale, value_scale] (seeded by
  // `seed` and their position) rather than from their initializers, so no
  // check happens at a special point such as all-zero biases or unit
  // LayerNorm gains.
  double value_scale = 0.5;
  uint64_t seed = 1;
};

struct GraphGradientReport {
  int variables = 0;     // trainable variables checked
  int64_t elements = 0;  // elements checked over all of them
  double max_error = 0;  // largest |analytic - numeric|
};

// `forward` is an f64 graph whose signature names a loss; `feeds` holds a
// value for each of its placeholders. Returns the report when every element
// of every trainable variable's gradient matches, otherwise InternalError
// naming the variable, the element and both values. Errors of autodiff and
// of the executor are returned as they are.
absl::StatusOr<GraphGradientReport> CheckGraphGradients(
    const Graph& forward, const OpRegistry& ops, const KernelRegistry& kernels,
    const std::map<std::string, Tensor>& feeds, const GraphGradientCheckOptions& options = {});

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_E2E_GRAPH_GRADIENT_CHECK_H_
