// SCAFFOLD: to be written (see docs/ops.md).
#include "kernel/cpu/cpu_kernels.h"

namespace sbpflow {

absl::Status RegisterOptimizerCpuKernels(KernelRegistry& registry) { return absl::OkStatus(); }

}  // namespace sbpflow
