// Reverse-mode automatic differentiation over the logical graph.
//
// BuildGradients appends ordinary nodes (role kBackward) that compute the
// gradient of a scalar loss with respect to the requested tensors, so every
// later pass (SBP inference, boxing, pipelining) sees the backward graph as
// plain dataflow.
#ifndef SBPFLOW_GRAPH_AUTODIFF_H_
#define SBPFLOW_GRAPH_AUTODIFF_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/graph_builder.h"
#include "graph/op_registry.h"

namespace sbpflow {

// Handed to an op's GradientFn. It holds copies of the forward node's data, so
// it stays valid while the gradient function appends nodes.
class GradientContext {
 public:
  GradientContext(GraphBuilder* builder, int node_index,
                  std::vector<std::optional<TensorRef>> output_grads);

  GraphBuilder& builder() { return *builder_; }
  int node_index() const { return node_index_; }
  const std::string& node_name() const { return name_; }
  const AttrMap& attrs() const { return attrs_; }

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  TensorRef input(int position) const { return inputs_[position]; }
  const TensorType& input_type(int position) const { return input_types_[position]; }
  int num_outputs() const { return static_cast<int>(output_types_.size()); }
  TensorRef output(int position) const { return TensorRef{node_index_, position}; }
  const TensorType& output_type(int position) const { return output_types_[position]; }

  // Gradient flowing into output `position`; nullopt when none reaches it.
  const std::optional<TensorRef>& output_grad(int position) const {
    return output_grads_[position];
  }
  // The gradient, or a zero constant of the output's type when none reaches it.
  absl::StatusOr<TensorRef> OutputGradOrZeros(int position);

  // Whether autodiff needs a gradient for input `position` (it is floating
  // point and lies between the requested tensors and the loss). Gradient
  // functions may skip work for inputs that are not needed.
  bool NeedsInputGrad(int position) const { return needs_input_grad_[position]; }
  void set_needs_input_grad(std::vector<bool> needs) { needs_input_grad_ = std::move(needs); }

  // Records the gradient of input `position`. Its type must equal the input's.
  void SetInputGrad(int position, TensorRef grad);
  const std::vector<std::optional<TensorRef>>& input_grads() const { return input_grads_; }

 private:
  GraphBuilder* builder_;
  int node_index_;
  std::string name_;
  AttrMap attrs_;
  std::vector<TensorRef> inputs_;
  std::vector<TensorType> input_types_;
  std::vector<TensorType> output_types_;
  std::vector<std::optional<TensorRef>> output_grads_;
  std::vector<bool> needs_input_grad_;
  std::vector<std::optional<TensorRef>> input_grads_;
};

// Appends the backward graph of `loss` (a scalar floating-point tensor) and
// returns, for each tensor in `wrt`, its gradient or nullopt when the loss does
// not depend on it. Gradients of a tensor used several times are summed in a
// fixed order (deterministic). StopGradient blocks propagation.
// Errors: loss not a floating scalar; an op on the path without a gradient;
// a gradient function that returns a wrongly typed gradient.
absl::StatusOr<std::vector<std::optional<TensorRef>>> BuildGradients(
    Graph* graph, const OpRegistry& registry, TensorRef loss, const std::vector<TensorRef>& wrt);

}  // namespace sbpflow

#endif  // SBPFLOW_GRAPH_AUTODIFF_H_
