// Shape ops: splits follow the axis they move to. Reshape keeps a split only
// where every device's slice is the same set of elements before and after,
// checked exactly for the balanced split sizes (uneven splits included).
#include "base/box.h"
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

const Sbp kP = Sbp::PartialSum();

// Splitting `in` along in_axis and `out` along out_axis over `parts` devices
// gives every device the same flat elements.
bool SplitsAlign(const Shape& in, int in_axis, const Shape& out, int out_axis, int64_t parts) {
  if (in.NumElements(0, in_axis) != out.NumElements(0, out_axis)) return false;
  const int64_t in_inner = in.NumElements(in_axis + 1, in.rank());
  const int64_t out_inner = out.NumElements(out_axis + 1, out.rank());
  if (in.dim(in_axis) * in_inner != out.dim(out_axis) * out_inner) return false;
  for (int64_t part = 0; part < parts; ++part) {
    const Interval a = BalancedPart(in.dim(in_axis), parts, part);
    const Interval b = BalancedPart(out.dim(out_axis), parts, part);
    if (a.begin * in_inner != b.begin * out_inner || a.end * in_inner != b.end * out_inner) {
      return false;
    }
  }
  return true;
}

std::vector<SbpSignature> ReshapeRule(const SbpRuleContext& context) {
  const Shape& in = context.inputs[0].shape;
  const Shape& out = context.outputs[0].shape;
  std::vector<SbpSignature> signatures;
  for (int in_axis = 0; in_axis < in.rank(); ++in_axis) {
    for (int out_axis = 0; out_axis < out.rank(); ++out_axis) {
      if (SplitsAlign(in, in_axis, out, out_axis, context.axis_size)) {
        signatures.push_back(SbpSignature{{Sbp::Split(in_axis)}, {Sbp::Split(out_axis)}});
      }
    }
  }
  signatures.push_back(sbp_rules::Uniform(kP, 1, 1));
  return signatures;
}

std::vector<SbpSignature> TransposeRule(const SbpRuleContext& context) {
  std::vector<int64_t> perm = context.attrs.GetIntList("perm").value_or(std::vector<int64_t>{});
  const int rank = context.outputs[0].shape.rank();
  std::vector<SbpSignature> signatures;
  for (int axis = 0; axis < static_cast<int>(perm.size()); ++axis) {
    const int source = static_cast<int>(perm[axis] < 0 ? perm[axis] + rank : perm[axis]);
    signatures.push_back(SbpSignature{{Sbp::Split(source)}, {Sbp::Split(axis)}});
  }
  signatures.push_back(sbp_rules::Uniform(kP, 1, 1));
  return signatures;
}

int NormalizedAxisAttr(const SbpRuleContext& context, int rank) {
  const int64_t axis = context.attrs.GetIntOr("axis", 0).value_or(0);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<SbpSignature> ConcatRule(const SbpRuleContext& context) {
  const int rank = context.outputs[0].shape.rank();
  const int axis = NormalizedAxisAttr(context, rank);
  const int num_inputs = static_cast<int>(context.inputs.size());
  std::vector<SbpSignature> signatures;
  for (int split = 0; split < rank; ++split) {
    if (split != axis) signatures.push_back(sbp_rules::Uniform(Sbp::Split(split), num_inputs, 1));
  }
  signatures.push_back(sbp_rules::Uniform(kP, num_inputs, 1));
  return signatures;
}

std::vector<SbpSignature> SplitRule(const SbpRuleContext& context) {
  const int rank = context.inputs[0].shape.rank();
  const int axis = NormalizedAxisAttr(context, rank);
  const int num_outputs = static_cast<int>(context.outputs.size());
  std::vector<SbpSignature> signatures;
  for (int split = 0; split < rank; ++split) {
    if (split != axis) signatures.push_back(sbp_rules::Uniform(Sbp::Split(split), 1, num_outputs));
  }
  signatures.push_back(sbp_rules::Uniform(kP, 1, num_outputs));
  return signatures;
}

}  // namespace

absl::Status RegisterShapeSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("Reshape", ReshapeRule));
  SBP_RETURN_IF_ERROR(registry.Register("Transpose", TransposeRule));
  SBP_RETURN_IF_ERROR(registry.Register("Concat", ConcatRule));
  return registry.Register("Split", SplitRule);
}

}  // namespace sbpflow
