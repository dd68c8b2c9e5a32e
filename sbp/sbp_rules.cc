#include "sbp/sbp_rules.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace sbpflow {

std::string SbpSignature::ToString() const {
  auto join = [](const std::vector<Sbp>& list) {
    std::string text = absl::StrJoin(list, ", ", [](std::string* out, const Sbp& sbp) {
      out->append(sbp.ToString());
    });
    return list.size() == 1 ? text : absl::StrCat("(", text, ")");
  };
  return absl::StrCat(join(inputs), " -> ", join(outputs));
}

absl::Status SbpRuleRegistry::Register(std::string op, SbpRuleFn rule) {
  std::string name = op;
  if (!rules_.emplace(std::move(op), std::move(rule)).second) {
    return absl::AlreadyExistsError(absl::StrCat("SBP rule for ", name, " registered twice"));
  }
  return absl::OkStatus();
}

const SbpRuleFn* SbpRuleRegistry::Find(absl::string_view op) const {
  auto it = rules_.find(op);
  return it == rules_.end() ? nullptr : &it->second;
}

std::vector<std::string> SbpRuleRegistry::Ops() const {
  std::vector<std::string> ops;
  for (const auto& [op, rule] : rules_) ops.push_back(op);
  return ops;
}

std::vector<SbpSignature> SignaturesFor(const SbpRuleFn& rule, const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures = rule(context);
  const SbpSignature broadcast = sbp_rules::Uniform(
      Sbp::Broadcast(), static_cast<int>(context.inputs.size()),
      static_cast<int>(context.outputs.size()));
  bool has_broadcast = false;
  for (const SbpSignature& signature : signatures) has_broadcast |= signature == broadcast;
  if (!has_broadcast) signatures.push_back(broadcast);
  return signatures;
}

absl::StatusOr<SbpRuleRegistry> BuildBuiltinSbpRules() {
  SbpRuleRegistry registry;
  for (auto* register_family :
       {&RegisterSourceSbpRules, &RegisterElementwiseSbpRules, &RegisterMatMulSbpRules,
        &RegisterReduceSbpRules, &RegisterSoftmaxSbpRules, &RegisterNormalizationSbpRules,
        &RegisterEmbeddingSbpRules, &RegisterShapeSbpRules, &RegisterOptimizerSbpRules}) {
    SBP_RETURN_IF_ERROR(register_family(registry));
  }
  return registry;
}

namespace sbp_rules {

SbpSignature Uniform(const Sbp& sbp, int num_inputs, int num_outputs) {
  return SbpSignature{std::vector<Sbp>(num_inputs, sbp), std::vector<Sbp>(num_outputs, sbp)};
}

std::vector<SbpSignature> SplitEveryAxis(int rank, int num_inputs, int num_outputs) {
  std::vector<SbpSignature> signatures;
  for (int axis = 0; axis < rank; ++axis) {
    signatures.push_back(Uniform(Sbp::Split(axis), num_inputs, num_outputs));
  }
  return signatures;
}

std::vector<SbpSignature> BroadcastSplits(const TensorType& a, const TensorType& b,
                                          const TensorType& out) {
  std::vector<SbpSignature> signatures;
  const int rank = out.shape.rank();
  for (int axis = 0; axis < rank; ++axis) {
    SbpSignature signature;
    bool any_split = false;
    for (const TensorType* input : {&a, &b}) {
      const int input_axis = axis - (rank - input->shape.rank());
      if (input_axis >= 0 && input->shape.dim(input_axis) == out.shape.dim(axis)) {
        signature.inputs.push_back(Sbp::Split(input_axis));
        any_split = true;
      } else {
        signature.inputs.push_back(Sbp::Broadcast());
      }
    }
    if (!any_split) continue;
    signature.outputs.push_back(Sbp::Split(axis));
    signatures.push_back(std::move(signature));
  }
  return signatures;
}

}  // namespace sbp_rules
}  // namespace sbpflow
