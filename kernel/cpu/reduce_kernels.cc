// SCAFFOLD: to be written (see docs/ops.md).
#include "kernel/cpu/cpu_kernels.h"

namespace sbpflow {

absl::Status RegisterReduceCpuKernels(KernelRegistry& registry) { return absl::OkStatus(); }

}  // namespace sbpflow
