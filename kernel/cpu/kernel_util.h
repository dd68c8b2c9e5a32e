// Helpers for writing CPU kernels.
#ifndef SBPFLOW_KERNEL_CPU_KERNEL_UTIL_H_
#define SBPFLOW_KERNEL_CPU_KERNEL_UTIL_H_

#include "absl/status/status.h"
#include "base/data_type.h"
#include "kernel/kernel.h"
#include "kernel/kernel_registry.h"

namespace sbpflow {

// Registers `Kernel<float>` and `Kernel<double>` under `op` for the CPU.
template <template <typename> class Kernel>
absl::Status RegisterFloatingCpuKernels(KernelRegistry& registry, absl::string_view op) {
  absl::Status status = registry.Register(
      KernelKey{std::string(op), DeviceType::kCpu, DataType::kFloat32}, Kernel<float>::Compute);
  if (!status.ok()) return status;
  return registry.Register(KernelKey{std::string(op), DeviceType::kCpu, DataType::kFloat64},
                           Kernel<double>::Compute);
}

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_CPU_KERNEL_UTIL_H_
