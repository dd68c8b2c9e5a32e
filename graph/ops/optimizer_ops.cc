// Optimizer update ops: they write their variable and state inputs in place
// and have no outputs, plus ClipFactor for global-norm clipping (docs/ops.md,
// "Optimizer ops"). The semantics follow torch.optim.SGD, torch.optim.Adam /
// AdamW and torch.nn.utils.clip_grad_norm_.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "graph/ops/builtin_ops.h"
#include "graph/ops/op_util.h"

namespace sbpflow {
namespace {

// `var` floating; every input in `like_var` has exactly var's type.
absl::Status CheckVarAndState(const InferenceContext& context,
                              const std::vector<std::pair<int, absl::string_view>>& like_var) {
  const TensorType& var = context.inputs[0];
  SBP_RETURN_IF_ERROR(ExpectFloating(var, "var"));
  for (const auto& [position, name] : like_var) {
    const TensorType& type = context.inputs[position];
    if (type != var) {
      return absl::InvalidArgumentError(absl::StrCat("input '", name, "' must be ", var.ToString(),
                                                     " like input 'var', got ", type.ToString()));
    }
  }
  return absl::OkStatus();
}

absl::Status ExpectFloatingScalar(const TensorType& type, absl::string_view name) {
  if (IsFloatingPoint(type.dtype) && type.shape.rank() == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("input '", name, "' must be a floating-point scalar, got ", type.ToString()));
}

// The float attr `name`, which must be >= 0 (PyTorch rejects negative
// momenta and weight decays).
absl::StatusOr<double> NonNegativeAttr(const InferenceContext& context, absl::string_view name) {
  SBP_ASSIGN_OR_RETURN(double value, context.attrs.GetFloat(name));
  if (value >= 0) return value;
  return absl::InvalidArgumentError(absl::StrCat("attr '", name, "' must be >= 0, got ", value));
}

// Betas lie in [0, 1) as in torch.optim.Adam.
absl::Status CheckBeta(const InferenceContext& context, absl::string_view name) {
  SBP_ASSIGN_OR_RETURN(double value, context.attrs.GetFloat(name));
  if (value >= 0 && value < 1) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("attr '", name, "' must be in [0, 1), got ", value));
}

absl::StatusOr<std::vector<TensorType>> InferSgdUpdate(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(CheckVarAndState(context, {{1, "grad"}}));
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(context.inputs[2], "lr"));
  SBP_RETURN_IF_ERROR(NonNegativeAttr(context, "weight_decay").status());
  return std::vector<TensorType>{};
}

absl::StatusOr<std::vector<TensorType>> InferMomentumUpdate(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(CheckVarAndState(context, {{1, "grad"}, {2, "velocity"}}));
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(context.inputs[3], "lr"));
  SBP_ASSIGN_OR_RETURN(double momentum, NonNegativeAttr(context, "momentum"));
  SBP_RETURN_IF_ERROR(NonNegativeAttr(context, "weight_decay").status());
  SBP_ASSIGN_OR_RETURN(bool nesterov, context.attrs.GetBool("nesterov"));
  if (nesterov && momentum <= 0) {
    return absl::InvalidArgumentError("attr 'nesterov' requires attr 'momentum' > 0");
  }
  return std::vector<TensorType>{};
}

// `step` may be f32 or f64 whatever var's dtype: it only holds small integers.
// The learning rate is an input (a scalar variable the trainer sets each step,
// so schedules need no new plan), of any floating dtype.
absl::StatusOr<std::vector<TensorType>> InferAdamUpdate(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(CheckVarAndState(context, {{1, "grad"}, {2, "m"}, {3, "v"}}));
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(context.inputs[4], "step"));
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(context.inputs[5], "lr"));
  SBP_RETURN_IF_ERROR(CheckBeta(context, "beta1"));
  SBP_RETURN_IF_ERROR(CheckBeta(context, "beta2"));
  SBP_RETURN_IF_ERROR(NonNegativeAttr(context, "epsilon").status());
  SBP_RETURN_IF_ERROR(NonNegativeAttr(context, "weight_decay").status());
  SBP_RETURN_IF_ERROR(context.attrs.GetBool("decoupled").status());
  return std::vector<TensorType>{};
}

absl::StatusOr<std::vector<TensorType>> InferIncrementStep(const InferenceContext& context) {
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(context.inputs[0], "step"));
  return std::vector<TensorType>{};
}

absl::StatusOr<std::vector<TensorType>> InferClipFactor(const InferenceContext& context) {
  const TensorType& sum_squares = context.inputs[0];
  SBP_RETURN_IF_ERROR(ExpectFloatingScalar(sum_squares, "sum_squares"));
  SBP_ASSIGN_OR_RETURN(double clip_norm, context.attrs.GetFloat("clip_norm"));
  if (!(clip_norm > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("attr 'clip_norm' must be > 0, got ", clip_norm));
  }
  return std::vector<TensorType>{sum_squares};
}

// FLOPs per element of var.
FlopsFn PerVarElement(int64_t per_element) {
  return [per_element](const InferenceContext& context, const std::vector<TensorType>&) {
    const Shape& shape = context.inputs[0].shape;
    return shape.IsFullyKnown() ? per_element * shape.NumElements() : int64_t{0};
  };
}

AttrSpec Required(std::string name, AttrType type) { return {std::move(name), type, std::nullopt}; }

AttrSpec FloatAttr(std::string name, double value) {
  return {std::move(name), AttrType::kFloat, AttrValue(value)};
}

AttrSpec BoolAttr(std::string name, bool value) {
  return {std::move(name), AttrType::kBool, AttrValue(value)};
}

}  // namespace

absl::Status RegisterOptimizerOps(OpRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "SgdUpdate",
      .inputs = {{"var"}, {"grad"}, {"lr"}},
      .attrs = {FloatAttr("weight_decay", 0)},
      .infer = InferSgdUpdate,
      .flops = PerVarElement(3),
      .mutable_inputs = {0},
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "MomentumUpdate",
      .inputs = {{"var"}, {"grad"}, {"velocity"}, {"lr"}},
      .attrs = {Required("momentum", AttrType::kFloat),
                BoolAttr("nesterov", false), FloatAttr("weight_decay", 0)},
      .infer = InferMomentumUpdate,
      .flops = PerVarElement(6),
      .mutable_inputs = {0, 2},
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "AdamUpdate",
      .inputs = {{"var"}, {"grad"}, {"m"}, {"v"}, {"step"}, {"lr"}},
      .attrs = {FloatAttr("beta1", 0.9),
                FloatAttr("beta2", 0.999), FloatAttr("epsilon", 1e-8), FloatAttr("weight_decay", 0),
                BoolAttr("decoupled", false)},
      .infer = InferAdamUpdate,
      .flops = PerVarElement(12),
      .mutable_inputs = {0, 2, 3},
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "IncrementStep",
      .inputs = {{"step"}},
      .infer = InferIncrementStep,
      .flops = PerVarElement(1),
      .mutable_inputs = {0},
  }));
  SBP_RETURN_IF_ERROR(registry.Register(OpDef{
      .name = "ClipFactor",
      .inputs = {{"sum_squares"}},
      .attrs = {Required("clip_norm", AttrType::kFloat)},
      .infer = InferClipFactor,
      .flops = PerVarElement(4),
  }));
  return absl::OkStatus();
}

}  // namespace sbpflow
