// Activations (Relu, Gelu in its tanh form, Tanh) and the gradient ops their
// backward passes use (ReluGrad, GeluGrad, TanhGrad). Each gradient op reads
// whichever forward tensor makes the derivative cheapest: the output for Relu
// and Tanh, the input for Gelu.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

absl::StatusOr<std::vector<TensorType>> InferActivation(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(ExpectFloating(context.inputs[0], "x"));
  return SameAsFirstInput(context);
}

// The gradient ops take dy and one saved tensor (x or y) of the same type; no
// broadcasting.
absl::StatusOr<std::vector<TensorType>> InferActivationGrad(absl::string_view saved_name,
                                                            const InferenceContext& context) {
  const TensorType& dy = context.inputs[0];
  const TensorType& saved = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(dy, "dy"));
  if (dy != saved) {
    return absl::InvalidArgumentError(absl::StrCat("inputs 'dy' and '", saved_name,
                                                   "' must have the same type, got ", dy.ToString(),
                                                   " and ", saved.ToString()));
  }
  return std::vector<TensorType>{dy};
}

// Builds dx = GRAD_OP(dy, saved), where saved is the forward output
// (use_output) or input.
GradientFn ActivationGradient(std::string grad_op, bool use_output) {
  return [grad_op = std::move(grad_op), use_output](GradientContext& context) -> absl::Status {
    SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
    const TensorRef saved = use_output ? context.output(0) : context.input(0);
    SBP_ASSIGN_OR_RETURN(TensorRef dx, context.builder().Add(grad_op, {dy, saved}, {}, "dx"));
    context.SetInputGrad(0, dx);
    return absl::OkStatus();
  };
}

}  // namespace

absl::Status RegisterActivationOps(OpRegistry& registry) {
  struct Activation {
    const char* name;
    const char* grad_name;
    // The saved tensor the gradient op reads: "y" (forward output) or "x".
    const char* saved;
  };
  for (const Activation& activation :
       {Activation{"Relu", "ReluGrad", "y"}, Activation{"Gelu", "GeluGrad", "x"},
        Activation{"Tanh", "TanhGrad", "y"}}) {
    const std::string saved = activation.saved;
    SBP_RETURN_IF_ERROR(registry.Register(OpDef{
        .name = activation.name,
        .inputs = {{"x"}},
        .infer = InferActivation,
        .gradient = ActivationGradient(activation.grad_name, saved == "y"),
    }));
    SBP_RETURN_IF_ERROR(registry.Register(OpDef{
        .name = activation.grad_name,
        .inputs = {{"dy"}, {saved}},
        .infer =
            [saved](const InferenceContext& context) {
              return InferActivationGrad(saved, context);
            },
    }));
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
