// Sources: placeholders and variables may be split along any axis (each
// device reads or initializes its slice); constants when they hold a single
// repeated value.
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

std::vector<SbpSignature> AnySplit(const SbpRuleContext& context) {
  return sbp_rules::SplitEveryAxis(context.outputs[0].shape.rank(), 0, 1);
}

std::vector<SbpSignature> ConstRule(const SbpRuleContext& context) {
  auto values = context.attrs.GetFloatList("value");
  if (!values.ok() || values->size() != 1) return {};
  return AnySplit(context);
}

}  // namespace

absl::Status RegisterSourceSbpRules(SbpRuleRegistry& registry) {
  SBP_RETURN_IF_ERROR(registry.Register("Placeholder", AnySplit));
  SBP_RETURN_IF_ERROR(registry.Register("Variable", AnySplit));
  return registry.Register("Const", ConstRule);
}

}  // namespace sbpflow
