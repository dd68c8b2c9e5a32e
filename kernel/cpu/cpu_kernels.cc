#include "kernel/cpu/cpu_kernels.h"

#include "base/status_macros.h"

namespace sbpflow {

absl::StatusOr<KernelRegistry> BuildBuiltinKernelRegistry() {
  KernelRegistry registry;
  for (auto* register_family :
       {&RegisterSourceCpuKernels, &RegisterIdentityCpuKernels, &RegisterElementwiseCpuKernels,
        &RegisterActivationCpuKernels, &RegisterMatMulCpuKernels, &RegisterReduceCpuKernels,
        &RegisterSoftmaxCpuKernels, &RegisterNormalizationCpuKernels,
        &RegisterEmbeddingCpuKernels, &RegisterShapeCpuKernels, &RegisterAttentionCpuKernels,
        &RegisterOptimizerCpuKernels, &RegisterBoxingCpuKernels}) {
    SBP_RETURN_IF_ERROR(register_family(registry));
  }
  return registry;
}

}  // namespace sbpflow
