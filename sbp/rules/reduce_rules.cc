// Reductions: a split of a kept axis stays a split; a split of a reduced axis
// becomes a partial sum (lowering sets ReduceMean's `count` to the logical
// count, so partial means add up to the mean).
#include <set>

#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

std::vector<SbpSignature> ReduceRule(const SbpRuleContext& context) {
  const int rank = context.inputs[0].shape.rank();
  std::vector<int64_t> axes = context.attrs.GetIntList("axes").value_or(std::vector<int64_t>{});
  const bool keep_dims = context.attrs.GetBoolOr("keep_dims", false).value_or(false);
  std::set<int> reduced;
  for (int64_t axis : axes) reduced.insert(static_cast<int>(axis < 0 ? axis + rank : axis));
  if (axes.empty()) {
    for (int axis = 0; axis < rank; ++axis) reduced.insert(axis);
  }
  std::vector<SbpSignature> signatures;
  int output_axis = 0;
  for (int axis = 0; axis < rank; ++axis) {
    if (reduced.contains(axis)) {
      signatures.push_back(SbpSignature{{Sbp::Split(axis)}, {Sbp::PartialSum()}});
      if (keep_dims) ++output_axis;
    } else {
      signatures.push_back(SbpSignature{{Sbp::Split(axis)}, {Sbp::Split(output_axis)}});
      ++output_axis;
    }
  }
  signatures.push_back(sbp_rules::Uniform(Sbp::PartialSum(), 1, 1));
  return signatures;
}

std::vector<SbpSignature> BroadcastToRule(const SbpRuleContext& context) {
  const Shape& in = context.inputs[0].shape;
  const Shape& out = context.outputs[0].shape;
  std::vector<SbpSignature> signatures;
  for (int axis = 0; axis < out.rank(); ++axis) {
    const int in_axis = axis - (out.rank() - in.rank());
    if (in_axis >= 0 && in.dim(in_axis) == out.dim(axis)) {
      signatures.push_back(SbpSignature{{Sbp::Split(in_axis)}, {Sbp::Split(axis)}});
    }
  }
  signatures.push_back(sbp_rules::Uniform(Sbp::PartialSum(), 1, 1));
  return signatures;
}

}  // namespace

absl::Status RegisterReduceSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("ReduceSum", ReduceRule));
  SBP_RETURN_IF_ERROR(registry.Register("ReduceMean", ReduceRule));
  return registry.Register("BroadcastTo", BroadcastToRule);
}

}  // namespace sbpflow
