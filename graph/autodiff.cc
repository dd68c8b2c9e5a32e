#include "graph/autodiff.h"

#include <map>
#include <set>

#include "glog/logging.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sbpflow {

GradientContext::GradientContext(GraphBuilder* builder, int node_index,
                                 std::vector<std::optional<TensorRef>> output_grads)
    : builder_(builder), node_index_(node_index), output_grads_(std::move(output_grads)) {
  const Node& node = builder->graph().node(node_index);
  name_ = node.name;
  attrs_ = node.attrs;
  inputs_ = node.inputs;
  for (const TensorRef& input : inputs_) input_types_.push_back(builder->graph().type(input));
  output_types_ = node.outputs;
  needs_input_grad_.assign(inputs_.size(), true);
  input_grads_.resize(inputs_.size());
}

absl::StatusOr<TensorRef> GradientContext::OutputGradOrZeros(int position) {
  if (output_grads_[position].has_value()) return *output_grads_[position];
  const TensorType& type = output_types_[position];
  SBP_ASSIGN_OR_RETURN(TensorRef zeros, builder_->Constant(0.0, type.dtype, type.shape, "zeros"));
  output_grads_[position] = zeros;
  return zeros;
}

void GradientContext::SetInputGrad(int position, TensorRef grad) {
  input_grads_[position] = grad;
}

namespace {

class GradientBuilder {
 public:
  GradientBuilder(Graph* graph, const OpRegistry& registry)
      : graph_(graph), registry_(registry), builder_(graph, &registry) {
    builder_.set_role(NodeRole::kBackward);
  }

  absl::StatusOr<std::vector<std::optional<TensorRef>>> Build(TensorRef loss,
                                                              const std::vector<TensorRef>& wrt) {
    const TensorType loss_type = graph_->type(loss);
    if (!IsFloatingPoint(loss_type.dtype) || loss_type.shape.NumElements() != 1) {
      return absl::InvalidArgumentError(absl::StrCat("loss '", graph_->RefName(loss),
                                                     "' must be a floating-point scalar, got ",
                                                     loss_type.ToString()));
    }
    const int original_count = graph_->num_nodes();
    SBP_ASSIGN_OR_RETURN(std::vector<int> order, graph_->TopologicalOrder());
    std::vector<bool> is_wrt_node(original_count, false);
    std::set<TensorRef> wrt_set(wrt.begin(), wrt.end());
    for (const TensorRef& ref : wrt) is_wrt_node[ref.node] = true;

    // depends[n]: some input of n is (transitively) computed from a wrt tensor.
    std::vector<bool> depends(original_count, false);
    for (int index : order) {
      const Node& node = graph_->node(index);
      if (node.op == "StopGradient") continue;
      for (const TensorRef& input : node.inputs) {
        if (wrt_set.contains(input) || depends[input.node]) depends[index] = true;
      }
    }
    // reaches_loss[n]: n is the loss node or an ancestor of it.
    std::vector<bool> reaches_loss(original_count, false);
    reaches_loss[loss.node] = true;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (!reaches_loss[*it]) continue;
      for (const TensorRef& input : graph_->node(*it).inputs) reaches_loss[input.node] = true;
    }

    builder_.set_name_prefix("grad/");
    SBP_ASSIGN_OR_RETURN(TensorRef seed,
                         builder_.Constant(1.0, loss_type.dtype, loss_type.shape, "seed"));
    contributions_[loss].push_back(seed);

    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      const int index = *it;
      if (!reaches_loss[index] || !depends[index]) continue;
      SBP_RETURN_IF_ERROR(Backpropagate(index, wrt_set, depends));
    }

    std::vector<std::optional<TensorRef>> result;
    result.reserve(wrt.size());
    for (const TensorRef& ref : wrt) {
      SBP_ASSIGN_OR_RETURN(std::optional<TensorRef> grad, SumContributions(ref));
      result.push_back(grad);
    }
    return result;
  }

 private:
  absl::Status Backpropagate(int index, const std::set<TensorRef>& wrt_set,
                             const std::vector<bool>& depends) {
    // Copies: adding nodes below may reallocate the node list.
    const std::string op = graph_->node(index).op;
    const std::string name = graph_->node(index).name;
    const std::vector<TensorRef> inputs = graph_->node(index).inputs;
    const int num_outputs = static_cast<int>(graph_->node(index).outputs.size());
    std::vector<std::optional<TensorRef>> output_grads(num_outputs);
    bool any = false;
    for (int output = 0; output < num_outputs; ++output) {
      SBP_ASSIGN_OR_RETURN(output_grads[output], SumContributions(TensorRef{index, output}));
      any = any || output_grads[output].has_value();
    }
    if (!any) return absl::OkStatus();

    std::vector<bool> needs(inputs.size(), false);
    bool any_needed = false;
    for (size_t position = 0; position < inputs.size(); ++position) {
      const TensorRef input = inputs[position];
      needs[position] = IsFloatingPoint(graph_->type(input).dtype) &&
                        (wrt_set.contains(input) || depends[input.node]);
      any_needed = any_needed || needs[position];
    }
    if (!any_needed) return absl::OkStatus();

    const OpDef* def = registry_.Find(op);
    CHECK(def != nullptr) << op;
    if (!def->gradient) {
      return absl::InvalidArgumentError(
          absl::StrCat("node '", name, "' (", op, "): no gradient is defined for this op"));
    }
    builder_.set_name_prefix(absl::StrCat("grad/", name, "/"));
    builder_.set_origin(index);
    GradientContext context(&builder_, index, std::move(output_grads));
    context.set_needs_input_grad(needs);
    absl::Status status = def->gradient(context);
    builder_.set_origin(-1);
    builder_.set_name_prefix("grad/");
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("node '", name, "' (", op,
                                                      "): gradient: ", status.message()));
    }
    for (int position = 0; position < context.num_inputs(); ++position) {
      const std::optional<TensorRef>& grad = context.input_grads()[position];
      if (!grad.has_value() || !needs[position]) continue;
      const TensorType& expected = context.input_type(position);
      const TensorType& actual = graph_->type(*grad);
      if (expected != actual) {
        return absl::InternalError(absl::StrCat("node '", name, "' (", op, "): gradient of input ",
                                                position, " is ", actual.ToString(),
                                                ", expected ", expected.ToString()));
      }
      contributions_[context.input(position)].push_back(*grad);
      graph_->RecordGradientOf(*grad, context.input(position));
    }
    return absl::OkStatus();
  }

  // Sums the gradient contributions of a tensor once (memoized).
  absl::StatusOr<std::optional<TensorRef>> SumContributions(TensorRef ref) {
    auto summed = summed_.find(ref);
    if (summed != summed_.end()) return summed->second;
    std::optional<TensorRef> total;
    auto it = contributions_.find(ref);
    if (it != contributions_.end()) {
      for (const TensorRef& part : it->second) {
        if (!total.has_value()) {
          total = part;
          continue;
        }
        builder_.set_name_prefix(absl::StrCat("grad/", graph_->node(ref.node).name, "/"));
        builder_.set_origin(ref.node);
        SBP_ASSIGN_OR_RETURN(total, builder_.Add("Add", {*total, part}, {}, "accumulate"));
        builder_.set_origin(-1);
      }
    }
    summed_[ref] = total;
    return total;
  }

  Graph* graph_;
  const OpRegistry& registry_;
  GraphBuilder builder_;
  std::map<TensorRef, std::vector<TensorRef>> contributions_;
  std::map<TensorRef, std::optional<TensorRef>> summed_;
};

}  // namespace

absl::StatusOr<std::vector<std::optional<TensorRef>>> BuildGradients(
    Graph* graph, const OpRegistry& registry, TensorRef loss, const std::vector<TensorRef>& wrt) {
  GradientBuilder builder(graph, registry);
  return builder.Build(loss, wrt);
}

}  // namespace sbpflow
