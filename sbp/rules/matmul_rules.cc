// Matrix products: split rows (data parallel), split columns of the right
// operand (column parallel), or split the contraction on both sides to get a
// partial sum (row parallel); partial sums pass through either operand.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

const Sbp kB = Sbp::Broadcast();
const Sbp kP = Sbp::PartialSum();

std::vector<SbpSignature> MatMulRule(const SbpRuleContext& context) {
  const bool transpose_a = context.attrs.GetBoolOr("transpose_a", false).value_or(false);
  const bool transpose_b = context.attrs.GetBoolOr("transpose_b", false).value_or(false);
  const int rank_a = context.inputs[0].shape.rank();
  const int rank_out = context.outputs[0].shape.rank();
  std::vector<SbpSignature> signatures;
  if (!transpose_a) {
    // a [..., K] @ b [K, N] (b [N, K] when transposed).
    const int k_b = transpose_b ? 1 : 0;
    const int n_b = transpose_b ? 0 : 1;
    for (int axis = 0; axis + 1 < rank_a; ++axis) {
      signatures.push_back(SbpSignature{{Sbp::Split(axis), kB}, {Sbp::Split(axis)}});
    }
    signatures.push_back(SbpSignature{{kB, Sbp::Split(n_b)}, {Sbp::Split(rank_out - 1)}});
    signatures.push_back(SbpSignature{{Sbp::Split(rank_a - 1), Sbp::Split(k_b)}, {kP}});
  } else if (rank_a == 2 && transpose_b) {
    // a [K, M]ᵀ @ b [N, K]ᵀ.
    signatures.push_back(SbpSignature{{Sbp::Split(1), kB}, {Sbp::Split(0)}});
    signatures.push_back(SbpSignature{{kB, Sbp::Split(0)}, {Sbp::Split(1)}});
    signatures.push_back(SbpSignature{{Sbp::Split(0), Sbp::Split(1)}, {kP}});
  } else {
    // a [..., M], b [..., N] contracted over every leading axis.
    for (int axis = 0; axis + 1 < rank_a; ++axis) {
      signatures.push_back(SbpSignature{{Sbp::Split(axis), Sbp::Split(axis)}, {kP}});
    }
    signatures.push_back(SbpSignature{{Sbp::Split(rank_a - 1), kB}, {Sbp::Split(0)}});
    signatures.push_back(SbpSignature{{kB, Sbp::Split(rank_a - 1)}, {Sbp::Split(1)}});
  }
  signatures.push_back(SbpSignature{{kP, kB}, {kP}});
  signatures.push_back(SbpSignature{{kB, kP}, {kP}});
  return signatures;
}

std::vector<SbpSignature> BatchMatMulRule(const SbpRuleContext& context) {
  const bool transpose_a = context.attrs.GetBoolOr("transpose_a", false).value_or(false);
  const bool transpose_b = context.attrs.GetBoolOr("transpose_b", false).value_or(false);
  const int rank = context.inputs[0].shape.rank();
  const int m_a = transpose_a ? rank - 1 : rank - 2;
  const int k_a = transpose_a ? rank - 2 : rank - 1;
  const int k_b = transpose_b ? rank - 1 : rank - 2;
  const int n_b = transpose_b ? rank - 2 : rank - 1;
  std::vector<SbpSignature> signatures;
  for (int axis = 0; axis + 2 < rank; ++axis) {
    signatures.push_back(sbp_rules::Uniform(Sbp::Split(axis), 2, 1));
  }
  signatures.push_back(SbpSignature{{Sbp::Split(m_a), kB}, {Sbp::Split(rank - 2)}});
  signatures.push_back(SbpSignature{{kB, Sbp::Split(n_b)}, {Sbp::Split(rank - 1)}});
  signatures.push_back(SbpSignature{{Sbp::Split(k_a), Sbp::Split(k_b)}, {kP}});
  signatures.push_back(SbpSignature{{kP, kB}, {kP}});
  signatures.push_back(SbpSignature{{kB, kP}, {kP}});
  return signatures;
}

}  // namespace

absl::Status RegisterMatMulSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("MatMul", MatMulRule));
  return registry.Register("BatchMatMul", BatchMatMulRule);
}

}  // namespace sbpflow
