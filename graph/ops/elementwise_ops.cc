// Elementwise arithmetic: the NumPy-broadcasting binary ops Add, Sub, Mul and
// Div, and the unary ops Neg, Scale, Exp, Log, Sqrt and Square. All operands
// of one op share one floating dtype.
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

absl::StatusOr<std::vector<TensorType>> InferBinary(const InferenceContext& context) {
  const TensorType& a = context.inputs[0];
  const TensorType& b = context.inputs[1];
  SBP_RETURN_IF_ERROR(ExpectFloating(a, "a"));
  SBP_RETURN_IF_ERROR(ExpectFloating(b, "b"));
  SBP_RETURN_IF_ERROR(ExpectSameDataType(a, "a", b, "b"));
  absl::StatusOr<Shape> shape = BroadcastShapes(a.shape, b.shape);
  if (!shape.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs 'a' and 'b': ", shape.status().message()));
  }
  return std::vector<TensorType>{{a.dtype, *std::move(shape)}};
}

absl::StatusOr<std::vector<TensorType>> InferUnary(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(ExpectFloating(context.inputs[0], "x"));
  return SameAsFirstInput(context);
}

// Records `grad` (shaped like the broadcast output) summed down to the shape
// of input `position`.
absl::Status SetReducedGrad(GradientContext& context, int position, TensorRef grad) {
  SBP_ASSIGN_OR_RETURN(TensorRef reduced,
                       ReduceToShape(context.builder(), grad, context.input_type(position).shape));
  context.SetInputGrad(position, reduced);
  return absl::OkStatus();
}

absl::Status AddGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  for (int position : {0, 1}) {
    if (context.NeedsInputGrad(position)) {
      SBP_RETURN_IF_ERROR(SetReducedGrad(context, position, dy));
    }
  }
  return absl::OkStatus();
}

absl::Status SubGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  GraphBuilder& builder = context.builder();
  if (context.NeedsInputGrad(0)) SBP_RETURN_IF_ERROR(SetReducedGrad(context, 0, dy));
  if (context.NeedsInputGrad(1)) {
    // Negating after the reduction touches fewer elements.
    SBP_ASSIGN_OR_RETURN(TensorRef reduced,
                         ReduceToShape(builder, dy, context.input_type(1).shape));
    SBP_ASSIGN_OR_RETURN(TensorRef db, builder.Add("Neg", {reduced}, {}, "db"));
    context.SetInputGrad(1, db);
  }
  return absl::OkStatus();
}

absl::Status MulGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  GraphBuilder& builder = context.builder();
  for (int position : {0, 1}) {
    if (!context.NeedsInputGrad(position)) continue;
    SBP_ASSIGN_OR_RETURN(TensorRef product, builder.Add("Mul", {dy, context.input(1 - position)},
                                                        {}, position == 0 ? "da" : "db"));
    SBP_RETURN_IF_ERROR(SetReducedGrad(context, position, product));
  }
  return absl::OkStatus();
}

// y = a / b: da = dy / b, db = -dy a / b² = -(dy / b) y, reusing dy / b.
absl::Status DivGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  GraphBuilder& builder = context.builder();
  SBP_ASSIGN_OR_RETURN(TensorRef dy_over_b, builder.Add("Div", {dy, context.input(1)}, {}, "da"));
  if (context.NeedsInputGrad(0)) SBP_RETURN_IF_ERROR(SetReducedGrad(context, 0, dy_over_b));
  if (context.NeedsInputGrad(1)) {
    SBP_ASSIGN_OR_RETURN(TensorRef product,
                         builder.Add("Mul", {dy_over_b, context.output(0)}, {}, "db"));
    SBP_ASSIGN_OR_RETURN(TensorRef reduced,
                         ReduceToShape(builder, product, context.input_type(1).shape));
    SBP_ASSIGN_OR_RETURN(TensorRef db, builder.Add("Neg", {reduced}, {}, "db"));
    context.SetInputGrad(1, db);
  }
  return absl::OkStatus();
}

absl::Status NegGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(TensorRef dx, context.builder().Add("Neg", {dy}, {}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

absl::Status ScaleGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(double scale, context.attrs().GetFloat("scale"));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       context.builder().Add("Scale", {dy}, AttrMap{{"scale", scale}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

// y = exp(x): dx = dy y.
absl::Status ExpGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       context.builder().Add("Mul", {dy, context.output(0)}, {}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

absl::Status LogGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       context.builder().Add("Div", {dy, context.input(0)}, {}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

// y = √x: dx = dy / (2 y) = 0.5 (dy / y).
absl::Status SqrtGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  GraphBuilder& builder = context.builder();
  SBP_ASSIGN_OR_RETURN(TensorRef quotient,
                       builder.Add("Div", {dy, context.output(0)}, {}, "dy_over_y"));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       builder.Add("Scale", {quotient}, AttrMap{{"scale", 0.5}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

absl::Status SquareGradient(GradientContext& context) {
  SBP_ASSIGN_OR_RETURN(TensorRef dy, context.OutputGradOrZeros(0));
  GraphBuilder& builder = context.builder();
  SBP_ASSIGN_OR_RETURN(TensorRef product, builder.Add("Mul", {dy, context.input(0)}, {}, "dy_x"));
  SBP_ASSIGN_OR_RETURN(TensorRef dx,
                       builder.Add("Scale", {product}, AttrMap{{"scale", 2.0}}, "dx"));
  context.SetInputGrad(0, dx);
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterElementwiseOps(OpRegistry& registry) {
  const std::pair<const char*, GradientFn> binary_ops[] = {
      {"Add", AddGradient}, {"Sub", SubGradient}, {"Mul", MulGradient}, {"Div", DivGradient}};
  for (const auto& [name, gradient] : binary_ops) {
    SBP_RETURN_IF_ERROR(registry.Register(OpDef{
        .name = name,
        .inputs = {{"a"}, {"b"}},
        .infer = InferBinary,
        .gradient = gradient,
    }));
  }
  const std::pair<const char*, GradientFn> unary_ops[] = {{"Neg", NegGradient},
                                                          {"Exp", ExpGradient},
                                                          {"Log", LogGradient},
                                                          {"Sqrt", SqrtGradient},
                                                          {"Square", SquareGradient}};
  for (const auto& [name, gradient] : unary_ops) {
    SBP_RETURN_IF_ERROR(registry.Register(OpDef{
        .name = name,
        .inputs = {{"x"}},
        .infer = InferUnary,
        .gradient = gradient,
    }));
  }
  return registry.Register(OpDef{
      .name = "Scale",
      .inputs = {{"x"}},
      .attrs = {{"scale", AttrType::kFloat, std::nullopt}},
      .infer = InferUnary,
      .gradient = ScaleGradient,
  });
}

}  // namespace sbpflow
