// The registry of every CPU kernel. Each family mirrors an op family in
// graph/ops and lives in its own file in kernel/cpu.
#ifndef SBPFLOW_KERNEL_CPU_CPU_KERNELS_H_
#define SBPFLOW_KERNEL_CPU_CPU_KERNELS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernel/kernel_registry.h"

namespace sbpflow {

// Every built-in CPU kernel, for f32 and f64 (f64 serves gradient checks).
absl::StatusOr<KernelRegistry> BuildBuiltinKernelRegistry();

absl::Status RegisterSourceCpuKernels(KernelRegistry& registry);  // Const
absl::Status RegisterIdentityCpuKernels(KernelRegistry& registry);
absl::Status RegisterElementwiseCpuKernels(KernelRegistry& registry);
absl::Status RegisterActivationCpuKernels(KernelRegistry& registry);
absl::Status RegisterMatMulCpuKernels(KernelRegistry& registry);
absl::Status RegisterReduceCpuKernels(KernelRegistry& registry);
absl::Status RegisterSoftmaxCpuKernels(KernelRegistry& registry);
absl::Status RegisterNormalizationCpuKernels(KernelRegistry& registry);
absl::Status RegisterEmbeddingCpuKernels(KernelRegistry& registry);
absl::Status RegisterShapeCpuKernels(KernelRegistry& registry);
absl::Status RegisterAttentionCpuKernels(KernelRegistry& registry);
absl::Status RegisterOptimizerCpuKernels(KernelRegistry& registry);
// Kernel-only ops inserted by lowering: BoxingSlice, BoxingZeroFill.
absl::Status RegisterBoxingCpuKernels(KernelRegistry& registry);

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_CPU_CPU_KERNELS_H_
