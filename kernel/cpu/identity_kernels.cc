// Identity and StopGradient copy their input.
#include <cstring>

#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"

namespace sbpflow {
namespace {

absl::Status CopyKernel(KernelContext& context) {
  const Tensor& in = context.input(0);
  if (in.num_bytes() > 0) std::memcpy(context.output(0).raw_data(), in.raw_data(), in.num_bytes());
  return absl::OkStatus();
}

}  // namespace

absl::Status RegisterIdentityCpuKernels(KernelRegistry& registry) {
  for (const char* op : {"Identity", "StopGradient"}) {
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                           DataType::kInt64, DataType::kBool}) {
      SBP_RETURN_IF_ERROR(registry.Register(KernelKey{op, DeviceType::kCpu, dtype}, CopyKernel));
    }
  }
  return absl::OkStatus();
}

}  // namespace sbpflow
