// SBP signature rules: for every op, the layouts of its inputs and outputs
// that compute the right result on one mesh axis.
//
// A rule lists 1-D signatures (one Sbp per input and output) valid for the
// node's logical types and attrs, most preferred first. An N-D signature is
// one 1-D signature per mesh axis (inference combines them). The
// all-broadcast signature is always valid and added by the inference when a
// rule does not list it ("implicit all-broadcast fallback"). Rules are pure
// and thread-safe.
#ifndef SBPFLOW_SBP_SBP_RULES_H_
#define SBPFLOW_SBP_SBP_RULES_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/attr_value.h"
#include "base/shape.h"
#include "sbp/sbp.h"

namespace sbpflow {

struct SbpSignature {
  std::vector<Sbp> inputs;
  std::vector<Sbp> outputs;

  bool operator==(const SbpSignature& other) const {
    return inputs == other.inputs && outputs == other.outputs;
  }
  // "(S(0), B) -> S(0)".
  std::string ToString() const;
};

struct SbpRuleContext {
  const std::vector<TensorType>& inputs;
  const std::vector<TensorType>& outputs;
  const AttrMap& attrs;
  // Devices along the mesh axis being decided (rules whose validity depends
  // on exact sizes, like Reshape, check balanced splits against it).
  int64_t axis_size = 1;
};

using SbpRuleFn = std::function<std::vector<SbpSignature>(const SbpRuleContext&)>;

class SbpRuleRegistry {
 public:
  SbpRuleRegistry() = default;
  SbpRuleRegistry(const SbpRuleRegistry&) = delete;
  SbpRuleRegistry& operator=(const SbpRuleRegistry&) = delete;
  SbpRuleRegistry(SbpRuleRegistry&&) = default;
  SbpRuleRegistry& operator=(SbpRuleRegistry&&) = default;

  // AlreadyExists for a duplicate op.
  absl::Status Register(std::string op, SbpRuleFn rule);
  // Null when the op has no rule.
  const SbpRuleFn* Find(absl::string_view op) const;
  std::vector<std::string> Ops() const;

 private:
  std::map<std::string, SbpRuleFn, std::less<>> rules_;
};

// The rule's signatures plus the all-broadcast one (last, when missing).
std::vector<SbpSignature> SignaturesFor(const SbpRuleFn& rule, const SbpRuleContext& context);

// Every built-in op's rules. Fails only on a duplicate registration.
absl::StatusOr<SbpRuleRegistry> BuildBuiltinSbpRules();

// The families (sbp/rules/<family>_rules.cc), mirroring graph/ops.
absl::Status RegisterSourceSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterElementwiseSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterMatMulSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterReduceSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterSoftmaxSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterNormalizationSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterEmbeddingSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterShapeSbpRules(SbpRuleRegistry& registry);
absl::Status RegisterOptimizerSbpRules(SbpRuleRegistry& registry);

// Building blocks for rules.
namespace sbp_rules {

// Every input and output split along `axis` (for each axis of the output).
std::vector<SbpSignature> SplitEveryAxis(int rank, int num_inputs, int num_outputs);
// One signature with every input and output `sbp`.
SbpSignature Uniform(const Sbp& sbp, int num_inputs, int num_outputs);
// NumPy-broadcast binary op: for each output axis, inputs whose dimension
// matches are split along it and broadcast ones stay B.
std::vector<SbpSignature> BroadcastSplits(const TensorType& a, const TensorType& b,
                                          const TensorType& out);

}  // namespace sbp_rules
}  // namespace sbpflow

#endif  // SBPFLOW_SBP_SBP_RULES_H_
