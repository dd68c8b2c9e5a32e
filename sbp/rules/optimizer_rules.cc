// Optimizer updates are element-wise over a variable and its state: they run
// on any split shared by all of them (ZeRO shards them over the data-parallel
// axis); the Adam step counter and the clip factor stay broadcast.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

std::vector<SbpSignature> UpdateRule(const SbpRuleContext& context, int elementwise_inputs) {
  std::vector<SbpSignature> signatures;
  const int num_inputs = static_cast<int>(context.inputs.size());
  for (int axis = 0; axis < context.inputs[0].shape.rank(); ++axis) {
    SbpSignature signature;
    for (int input = 0; input < num_inputs; ++input) {
      signature.inputs.push_back(input < elementwise_inputs ? Sbp::Split(axis)
                                                            : Sbp::Broadcast());
    }
    signatures.push_back(std::move(signature));
  }
  return signatures;
}

std::vector<SbpSignature> BroadcastOnly(const SbpRuleContext&) { return {}; }

}  // namespace

absl::Status RegisterOptimizerSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register(
      "SgdUpdate", [](const SbpRuleContext& context) { return UpdateRule(context, 2); }));
  SBP_RETURN_IF_ERROR(registry.Register(
      "MomentumUpdate", [](const SbpRuleContext& context) { return UpdateRule(context, 3); }));
  SBP_RETURN_IF_ERROR(registry.Register(
      "AdamUpdate", [](const SbpRuleContext& context) { return UpdateRule(context, 4); }));
  SBP_RETURN_IF_ERROR(registry.Register("IncrementStep", BroadcastOnly));
  return registry.Register("ClipFactor", BroadcastOnly);
}

}  // namespace sbpflow
