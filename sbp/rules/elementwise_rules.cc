// Element-wise ops: split along any axis (broadcast inputs stay B); partial
// sums pass through ops linear in them.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

using sbp_rules::SplitEveryAxis;
using sbp_rules::Uniform;

// f(x) with f linear: S(i) and P pass through.
std::vector<SbpSignature> LinearUnary(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures = SplitEveryAxis(context.outputs[0].shape.rank(), 1, 1);
  signatures.push_back(Uniform(Sbp::PartialSum(), 1, 1));
  return signatures;
}

std::vector<SbpSignature> NonlinearUnary(const SbpRuleContext& context) {
  return SplitEveryAxis(context.outputs[0].shape.rank(), 1, 1);
}

// g(dy, z) linear in dy (activation gradients): S(i) on both, or P dy with B z.
std::vector<SbpSignature> LinearInFirst(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures = SplitEveryAxis(context.outputs[0].shape.rank(), 2, 1);
  signatures.push_back(SbpSignature{{Sbp::PartialSum(), Sbp::Broadcast()}, {Sbp::PartialSum()}});
  return signatures;
}

std::vector<SbpSignature> Binary(const SbpRuleContext& context, bool partial_both,
                                 bool partial_first, bool partial_second) {
  std::vector<SbpSignature> signatures =
      sbp_rules::BroadcastSplits(context.inputs[0], context.inputs[1], context.outputs[0]);
  const Sbp p = Sbp::PartialSum();
  const Sbp b = Sbp::Broadcast();
  if (partial_both) signatures.push_back(SbpSignature{{p, p}, {p}});
  if (partial_first) signatures.push_back(SbpSignature{{p, b}, {p}});
  if (partial_second) signatures.push_back(SbpSignature{{b, p}, {p}});
  return signatures;
}

}  // namespace

absl::Status RegisterElementwiseSbpRules(SbpRuleRegistry& registry) {
  for (const char* op : {"Identity", "StopGradient", "Neg", "Scale"}) {
    SBP_RETURN_IF_ERROR(registry.Register(op, LinearUnary));
  }
  for (const char* op : {"Relu", "Gelu", "Tanh", "Exp", "Log", "Sqrt", "Square"}) {
    SBP_RETURN_IF_ERROR(registry.Register(op, NonlinearUnary));
  }
  for (const char* op : {"ReluGrad", "GeluGrad", "TanhGrad"}) {
    SBP_RETURN_IF_ERROR(registry.Register(op, LinearInFirst));
  }
  SBP_RETURN_IF_ERROR(registry.Register("Add", [](const SbpRuleContext& context) {
    return Binary(context, /*partial_both=*/true, false, false);
  }));
  SBP_RETURN_IF_ERROR(registry.Register("Sub", [](const SbpRuleContext& context) {
    return Binary(context, /*partial_both=*/true, false, false);
  }));
  SBP_RETURN_IF_ERROR(registry.Register("Mul", [](const SbpRuleContext& context) {
    return Binary(context, false, /*partial_first=*/true, /*partial_second=*/true);
  }));
  SBP_RETURN_IF_ERROR(registry.Register("Div", [](const SbpRuleContext& context) {
    return Binary(context, false, /*partial_first=*/true, false);
  }));
  // Masking keeps splits of the batch (leading) axes; the masked value is not
  // linear, so no partial.
  return registry.Register("CausalMask", [](const SbpRuleContext& context) {
    return SplitEveryAxis(context.outputs[0].shape.rank() - 2, 1, 1);
  });
}

}  // namespace sbpflow
