#include "tests/testing/gradient_check.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/autodiff.h"
#include "graph/graph_builder.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {

absl::Status CheckOpGradient(const OpRegistry& ops, const KernelRegistry& kernels,
                             const std::string& op, const AttrMap& attrs,
                             const std::vector<Tensor>& inputs,
                             const GradientCheckOptions& options) {
  const OpDef* def = ops.Find(op);
  if (def == nullptr) return absl::NotFoundError(absl::StrCat("unknown op ", op));
  if (!def->gradient) return absl::FailedPreconditionError(absl::StrCat(op, " has no gradient"));

  Graph graph;
  GraphBuilder builder(&graph, &ops);
  std::vector<TensorRef> placeholders;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = absl::StrCat("x", i);
    SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode(name, "Placeholder", {},
                                                        AttrMap{{"shape", inputs[i].shape()},
                                                                {"dtype", inputs[i].dtype()}}));
    placeholders.push_back(TensorRef{node, 0});
    feeds[name] = inputs[i];
  }
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode("op", op, placeholders, attrs));
  const std::vector<TensorType> output_types = graph.node(node).outputs;

  std::vector<int> checked = options.outputs;
  if (checked.empty()) {
    for (size_t k = 0; k < output_types.size(); ++k) {
      if (IsFloatingPoint(output_types[k].dtype)) checked.push_back(static_cast<int>(k));
    }
  }
  CpuAllocator allocator;
  std::vector<std::optional<TensorRef>> output_grads(output_types.size());
  std::map<int, Tensor> weights;
  for (int k : checked) {
    const std::string name = absl::StrCat("w", k);
    SBP_ASSIGN_OR_RETURN(int weight, builder.AddNamedNode(name, "Placeholder", {},
                                                          AttrMap{{"shape", output_types[k].shape},
                                                                  {"dtype", output_types[k].dtype}}));
    output_grads[k] = TensorRef{weight, 0};
    weights[k] = RandomTensor(&allocator, output_types[k], 1000 + k);
    feeds[name] = weights[k];
  }

  builder.set_role(NodeRole::kBackward);
  builder.set_name_prefix("grad/");
  GradientContext context(&builder, node, output_grads);
  std::vector<bool> needs;
  for (const Tensor& input : inputs) needs.push_back(IsFloatingPoint(input.dtype()));
  context.set_needs_input_grad(needs);
  SBP_RETURN_IF_ERROR(def->gradient(context));

  std::vector<TensorRef> grad_fetches;
  std::vector<int> grad_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!needs[i]) continue;
    const std::optional<TensorRef>& grad = context.input_grads()[i];
    if (!grad.has_value()) {
      return absl::InternalError(absl::StrCat(op, ": no gradient for floating input ", i));
    }
    if (graph.type(*grad) != inputs[i].type()) {
      return absl::InternalError(absl::StrCat(op, ": gradient of input ", i, " is ",
                                              graph.type(*grad).ToString(), ", expected ",
                                              inputs[i].type().ToString()));
    }
    grad_fetches.push_back(*grad);
    grad_inputs.push_back(static_cast<int>(i));
  }

  ReferenceExecutor executor(&graph, &ops, &kernels);
  std::map<std::string, Tensor> variables;
  SBP_ASSIGN_OR_RETURN(std::vector<Tensor> analytic, executor.Run(feeds, grad_fetches, &variables));

  std::vector<TensorRef> output_fetches;
  for (int k : checked) output_fetches.push_back(TensorRef{node, k});
  auto objective = [&](const std::map<std::string, Tensor>& perturbed) -> absl::StatusOr<double> {
    SBP_ASSIGN_OR_RETURN(std::vector<Tensor> outputs,
                         executor.Run(perturbed, output_fetches, &variables));
    double total = 0;
    for (size_t j = 0; j < checked.size(); ++j) {
      const Tensor& out = outputs[j];
      const Tensor& weight = weights[checked[j]];
      for (int64_t e = 0; e < out.num_elements(); ++e) {
        total += out.data<double>()[e] * weight.data<double>()[e];
      }
    }
    return total;
  };

  for (size_t g = 0; g < grad_inputs.size(); ++g) {
    const int i = grad_inputs[g];
    if (inputs[i].dtype() != DataType::kFloat64) {
      return absl::InvalidArgumentError("gradient checks need f64 inputs");
    }
    for (int64_t e = 0; e < inputs[i].num_elements(); ++e) {
      std::map<std::string, Tensor> perturbed = feeds;
      Tensor copy = inputs[i].Clone(&allocator);
      perturbed[absl::StrCat("x", i)] = copy;
      const double original = copy.data<double>()[e];
      copy.data<double>()[e] = original + options.epsilon;
      SBP_ASSIGN_OR_RETURN(double plus, objective(perturbed));
      copy.data<double>()[e] = original - options.epsilon;
      SBP_ASSIGN_OR_RETURN(double minus, objective(perturbed));
      const double numeric = (plus - minus) / (2 * options.epsilon);
      const double exact = analytic[g].data<double>()[e];
      if (std::abs(numeric - exact) >
          options.absolute_tolerance + options.relative_tolerance * std::abs(numeric)) {
        return absl::InternalError(absl::StrCat(op, ": d/d input ", i, "[", e, "]: analytic ",
                                                exact, ", numeric ", numeric));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace sbpflow::testing
