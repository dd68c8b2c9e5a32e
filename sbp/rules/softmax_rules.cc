// Softmax family: any split but the normalized axis; the loss of a batch
// split is a partial sum (its `count` is the logical number of labels).
#include "base/status_macros.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {
namespace {

int SoftmaxAxis(const SbpRuleContext& context) {
  const int rank = context.outputs[0].shape.rank();
  const int64_t axis = context.attrs.GetIntOr("axis", -1).value_or(-1);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::vector<SbpSignature> SoftmaxRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int axis = SoftmaxAxis(context);
  const int num_inputs = static_cast<int>(context.inputs.size());
  for (int split = 0; split < context.outputs[0].shape.rank(); ++split) {
    if (split != axis) signatures.push_back(sbp_rules::Uniform(Sbp::Split(split), num_inputs, 1));
  }
  if (num_inputs == 2) {  // SoftmaxGrad / LogSoftmaxGrad are linear in dy.
    signatures.push_back(SbpSignature{{Sbp::PartialSum(), Sbp::Broadcast()}, {Sbp::PartialSum()}});
  }
  return signatures;
}

std::vector<SbpSignature> CrossEntropyRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int label_rank = context.inputs[1].shape.rank();
  for (int axis = 0; axis < label_rank; ++axis) {
    signatures.push_back(
        SbpSignature{{Sbp::Split(axis), Sbp::Split(axis)}, {Sbp::PartialSum()}});
  }
  return signatures;
}

std::vector<SbpSignature> CrossEntropyGradRule(const SbpRuleContext& context) {
  std::vector<SbpSignature> signatures;
  const int label_rank = context.inputs[2].shape.rank();
  const Sbp b = Sbp::Broadcast();
  for (int axis = 0; axis < label_rank; ++axis) {
    signatures.push_back(
        SbpSignature{{b, Sbp::Split(axis), Sbp::Split(axis)}, {Sbp::Split(axis)}});
  }
  signatures.push_back(SbpSignature{{Sbp::PartialSum(), b, b}, {Sbp::PartialSum()}});
  return signatures;
}

}  // namespace

absl::Status RegisterSoftmaxSbpRules(SbpRuleRegistry& registry) {
  for (const char* op : {"Softmax", "LogSoftmax", "SoftmaxGrad", "LogSoftmaxGrad"}) {
    SBP_RETURN_IF_ERROR(registry.Register(op, SoftmaxRule));
  }
  SBP_RETURN_IF_ERROR(registry.Register("SoftmaxCrossEntropy", CrossEntropyRule));
  return registry.Register("SoftmaxCrossEntropyGrad", CrossEntropyGradRule);
}

}  // namespace sbpflow
