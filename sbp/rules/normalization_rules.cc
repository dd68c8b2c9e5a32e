// LayerNorm normalizes the last axis, so any other axis may be split; the
// parameter gradients of a split batch are partial sums.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

const Sbp kB = Sbp::Broadcast();
const Sbp kP = Sbp::PartialSum();

std::vector<SbpSignature> LayerNormRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int rank = context.inputs[0].shape.rank();
  for (int axis = 0; axis + 1 < rank; ++axis) {
    const Sbp s = Sbp::Split(axis);
    signatures.push_back(SbpSignature{{s, kB, kB}, {s, s, s}});
  }
  return signatures;
}

// (dy, x, gamma, mean, rstd) -> (dx, dgamma, dbeta).
std::vector<SbpSignature> LayerNormGradRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int rank = context.inputs[0].shape.rank();
  for (int axis = 0; axis + 1 < rank; ++axis) {
    const Sbp s = Sbp::Split(axis);
    signatures.push_back(SbpSignature{{s, s, kB, s, s}, {s, kP, kP}});
  }
  signatures.push_back(SbpSignature{{kP, kB, kB, kB, kB}, {kP, kP, kP}});
  return signatures;
}

}  // namespace

absl::Status RegisterNormalizationSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("LayerNorm", LayerNormRule));
  return registry.Register("LayerNormGrad", LayerNormGradRule);
}

}  // namespace sbpflow
