// Embedding: split the ids (rows follow) or the hidden axis of the table
// (columns follow); the table gradient of split ids is a partial sum.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

const Sbp kB = Sbp::Broadcast();
const Sbp kP = Sbp::PartialSum();

// (table [V, H], ids [...]) -> [..., H].
std::vector<SbpSignature> EmbeddingRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int id_rank = context.inputs[1].shape.rank();
  for (int axis = 0; axis < id_rank; ++axis) {
    signatures.push_back(SbpSignature{{kB, Sbp::Split(axis)}, {Sbp::Split(axis)}});
  }
  signatures.push_back(SbpSignature{{Sbp::Split(1), kB}, {Sbp::Split(id_rank)}});
  return signatures;
}

// (dy [..., H], ids [...]) -> [V, H].
std::vector<SbpSignature> EmbeddingGradRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int id_rank = context.inputs[1].shape.rank();
  for (int axis = 0; axis < id_rank; ++axis) {
    signatures.push_back(SbpSignature{{Sbp::Split(axis), Sbp::Split(axis)}, {kP}});
  }
  signatures.push_back(SbpSignature{{Sbp::Split(id_rank), kB}, {Sbp::Split(1)}});
  signatures.push_back(SbpSignature{{kP, kB}, {kP}});
  return signatures;
}

}  // namespace

absl::Status RegisterEmbeddingSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("Embedding", EmbeddingRule));
  return registry.Register("EmbeddingGrad", EmbeddingGradRule);
}

}  // namespace sbpflow
