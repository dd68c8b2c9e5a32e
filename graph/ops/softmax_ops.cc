// Softmax, LogSoftmax and the fused softmax cross-entropy loss, with their
// dedicated gradient ops (docs/ops.md, "Softmax and loss").
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// Checks the axis attr against `type` (the input named `input_name`).
absl::Status CheckAxis(const InferenceContext& context, const TensorType& type,
                       absl::string_view input_name) {
  SBP_ASSIGN_OR_RETURN(int64_t axis, context.attrs.GetInt("axis"));
  const int rank = type.shape.rank();
  if (NormalizeAxis(axis, rank) >= 0) return absl::OkStatus();
  if (rank == 0) {
    return absl::InvalidArgumentError(absl::StrCat("attr 'axis' is ", axis, " but input '",
                                                   input_name, "' is a scalar ", type.ToString()));
  }
  return absl::InvalidArgumentError(absl::StrCat("attr 'axis' must be in [", -rank, ", ", rank,
                                                 ") for input '", input_name, "' ", type.ToString(),
                                                 ", got ", axis));
}

absl::StatusOr<std::vector<TensorType>> InferSoftmax(const InferenceContext& context) {
  const TensorType& x = context.inputs[0];
  SBP_RETURN_IF_ERROR(ExpectFloating(x, "x"));
  SBP_RETURN_IF_ERROR(CheckAxis(context, x, "x"));
  return std::vector<TensorType>{x};
}

// SoftmaxGrad and LogSoftmaxGrad: dy and y of one type.
absl::StatusOr<std::vector<TensorType>> InferSoftmaxGrad(const InferenceContext& context) {
  const TensorType& dy = context.inputs[0];
  const TensorType& y = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(y, "y"));
  if (dy != y) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'dy' must be ", y.ToString(), " like input 'y', got ", dy.ToString()));
  }
  SBP_RETURN_IF_ERROR(CheckAxis(context, y, "y"));
  return std::vector<TensorType>{y};
}

absl::Status CheckCount(const InferenceContext& context) {
  SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs.GetInt("count"));
  if (count >= 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("attr 'count' must be >= 0, got ", count));
}

// logits [..., C] floating with C >= 1 and labels [...] integer.
absl::Status CheckLogitsAndLabels(const TensorType& logits, const TensorType& labels) {
  SBP_RETURN_IF_ERROR(ExpectFloating(logits, "logits"));
  if (logits.shape.rank() == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'logits' must have rank >= 1 (classes last), got ", logits.ToString()));
  }
  if (logits.shape.dim(logits.shape.rank() - 1) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("input 'logits' must have at least one class, got ", logits.ToString()));
  }
  SBP_RETURN_IF_ERROR(ExpectInteger(labels, "labels"));
  const std::vector<int64_t>& dims = logits.shape.dims();
  const Shape expected(std::vector<int64_t>(dims.begin(), dims.end() - 1));
  if (labels.shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat("input 'labels' must have shape ",
                                                   expected.ToString(), " to match logits ",
                                                   logits.ToString(), ", got ", labels.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TensorType>> InferSoftmaxCrossEntropy(const InferenceContext& context) {
  const TensorType& logits = context.inputs[0];
  SBP_RETURN_IF_ERROR(CheckLogitsAndLabels(logits, context.inputs[1]));
  SBP_RETURN_IF_ERROR(CheckCount(context));
  return std::vector<TensorType>{{logits.dtype, Shape{}}};
}

absl::StatusOr<std::vector<TensorType>> InferSoftmaxCrossEntropyGrad(
    const InferenceContext& context) {
  const TensorType& dloss = context.inputs[0];
  const TensorType& logits = context.inputs[1];
  SBP_RETURN_IF_ERROR(CheckLogitsAndLabels(logits, context.inputs[2]));
  const TensorType expected{logits.dtype, Shape{}};
  if (dloss != expected) {
    return absl::InvalidArgumentError(absl::StrCat("input 'dloss' must be ", expected.ToString(),
                                                   " (a scalar of the logits' dtype), got ",
                                                   dloss.ToString()));
  }
  SBP_RETURN_IF_ERROR(CheckCount(context));
  return std::vector<TensorType>{logits};
}

absl::Status SoftmaxGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(int64_t axis, context.attrs().GetInt("axis"));
  SBP_ASSIGN_OR_RETURN(TensorRef dx, context.builder().Add("SoftmaxGrad", {dy, context.output(0)},
                                                           AttrMap{{"axis", axis}}));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

absl::Status LogSoftmaxGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(int64_t axis, context.attrs().GetInt("axis"));
  SBP_ASSIGN_OR_RETURN(
      TensorRef dx,
      context.builder().Add("LogSoftmaxGrad", {dy, context.output(0)}, AttrMap{{"axis", axis}}));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

// Labels are integers: only the logits get a gradient.
absl::Status SoftmaxCrossEntropyGradient(GradientContext& context) {
  if (!context.NeedsInputGrad(0)) return absl::OkStatus();
  SBP_ASSIGN_OR_RETURN(TensorRef dloss, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(int64_t count, context.attrs().GetInt("count"));
  SBP_ASSIGN_OR_RETURN(
      TensorRef dlogits,
      context.builder().Add("SoftmaxCrossEntropyGrad", {dloss, context.input(0), context.input(1)},
                            AttrMap{{"count", count}}));
  context.SetInputGrad(0, dlogits);
  return absl::OkStatus();
}

int64_t ElementsOf(const TensorType& type) {
  return type.shape.IsFullyKnown() ? type.shape.NumElements() : 0;
}

// Per element: max, subtract, exp, sum, divide (or log and subtract).
int64_t SoftmaxFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  return 5 * ElementsOf(context.inputs[0]);
}

// Per element: product, sum, subtract, multiply.
int64_t SoftmaxGradFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  return 4 * ElementsOf(context.inputs[0]);
}

int64_t CrossEntropyFlops(const InferenceContext& context, const std::vector<TensorType>& outputs) {
  return 4 * ElementsOf(context.inputs[0]);
}

int64_t CrossEntropyGradFlops(const InferenceContext& context,
                              const std::vector<TensorType>& outputs) {
  return 5 * ElementsOf(context.inputs[1]);
}

}  // namespace

absl::Status RegisterSoftmaxOps(OpRegistry& registry) {
  const AttrSpec axis{"axis", AttrType::kInt, AttrValue(int64_t{-1})};
  const AttrSpec count{"count", AttrType::kInt, AttrValue(int64_t{0})};
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "Softmax",
      .inputs = {{"x"}},
      .attrs = {axis},
      .infer = InferSoftmax,
      .gradient = SoftmaxGradient,
      .flops = SoftmaxFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "LogSoftmax",
      .inputs = {{"x"}},
      .attrs = {axis},
      .infer = InferSoftmax,
      .gradient = LogSoftmaxGradient,
      .flops = SoftmaxFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "SoftmaxCrossEntropy",
      .inputs = {{"logits"}, {"labels"}},
      .attrs = {count},
      .infer = InferSoftmaxCrossEntropy,
      .gradient = SoftmaxCrossEntropyGradient,
      .flops = CrossEntropyFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "SoftmaxGrad",
      .inputs = {{"dy"}, {"y"}},
      .attrs = {axis},
      .infer = InferSoftmaxGrad,
      .flops = SoftmaxGradFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "LogSoftmaxGrad",
      .inputs = {{"dy"}, {"y"}},
      .attrs = {axis},
      .infer = InferSoftmaxGrad,
      .flops = SoftmaxGradFlops,
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "SoftmaxCrossEntropyGrad",
      .inputs = {{"dloss"}, {"logits"}, {"labels"}},
      .attrs = {count},
      .infer = InferSoftmaxCrossEntropyGrad,
      .flops = CrossEntropyGradFlops,
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
