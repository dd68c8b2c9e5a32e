// Finite-difference checks of op gradients, in double precision.
//
// CheckOpGradient builds placeholders -> op, calls the op's gradient function
// with random output gradients W_k, and compares the resulting input
// gradients against central differences of sum_k <W_k, output_k>.
#ifndef SBPFLOW_TESTS_TESTING_GRADIENT_CHECK_H_
#define SBPFLOW_TESTS_TESTING_GRADIENT_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/attr_value.h"
#include "graph/op_registry.h"
#include "kernel/kernel_registry.h"
#include "kernel/tensor.h"

namespace sbpflow::testing {

struct GradientCheckOptions {
  double epsilon = 1e-6;
  double relative_tolerance = 1e-5;
  double absolute_tolerance = 1e-7;
  // Outputs that take part in the checked sum (empty = all floating outputs).
  std::vector<int> outputs;
};

// `inputs` are the op's input values (f64 for the differentiable ones; integer
// inputs are held fixed). Returns OK when every floating input's analytic
// gradient matches, otherwise an error naming the input, element and values.
absl::Status CheckOpGradient(const OpRegistry& ops, const KernelRegistry& kernels,
                             const std::string& op, const AttrMap& attrs,
                             const std::vector<Tensor>& inputs,
                             const GradientCheckOptions& options = {});

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_TESTING_GRADIENT_CHECK_H_
