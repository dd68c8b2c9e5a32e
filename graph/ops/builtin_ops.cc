#include "graph/ops/builtin_ops.h"

#include "base/status_macros.h"

namespace sbpflow {

absl::StatusOr<OpRegistry> BuildBuiltinOpRegistry() {
  OpRegistry registry;
  for (auto* register_family :
       {&RegisterSourceOps, &RegisterIdentityOps, &RegisterElementwiseOps, &RegisterActivationOps,
        &RegisterMatMulOps, &RegisterReduceOps, &RegisterSoftmaxOps, &RegisterNormalizationOps,
        &RegisterEmbeddingOps, &RegisterShapeOps, &RegisterAttentionOps, &RegisterOptimizerOps}) {
    SBP_RETURN_IF_ERROR(register_family(registry));
  }
  return registry;
}

}  // namespace sbpflow
