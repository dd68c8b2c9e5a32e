// Const: fills its output from the `value` attr (one value broadcasts).
#include <vector>

#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

template <typename T>
struct ConstKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(std::vector<double> values, context.attrs().GetFloatList("value"));
    Tensor& out = context.output(0);
    T* data = out.data<T>();
    const int64_t count = out.num_elements();
    for (int64_t i = 0; i < count; ++i) {
      data[i] = static_cast<T>(values.size() == 1 ? values[0] : values[i]);
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterSourceCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR((RegisterFloatingCpuKernels<ConstKernel>(registry, "Const")));
  SBP_RETURN_IF_ERROR(registry.Register(KernelKey{"Const", DeviceType::kCpu, DataType::kInt32},
                                        ConstKernel<int32_t>::Compute));
  return registry.Register(KernelKey{"Const", DeviceType::kCpu, DataType::kInt64},
                           ConstKernel<int64_t>::Compute);
}

}  // namespace sbpflow
