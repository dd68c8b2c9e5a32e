// CPU kernel of CausalMask.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// For every [T, T] matrix: row q keeps keys 0..q and sets keys q+1..T-1 to
// `value`.
template <typename T>
struct CausalMaskKernel {
  static absl::Status Compute(KernelContext& context) {
    SBP_ASSIGN_OR_RETURN(double attr, context.attrs().GetFloat("value"));
    const T value = static_cast<T>(attr);
    const Tensor& input = context.input(0);
    const int64_t size = input.shape().dim(input.shape().rank() - 1);
    if (size == 0) return absl::OkStatus();
    const int64_t matrices = input.num_elements() / (size * size);
    const T* x = input.data<T>();
    T* y = context.output(0).data<T>();
    for (int64_t row = 0; row < matrices * size; ++row) {
      const int64_t query = row % size;
      const T* x_row = x + row * size;
      T* y_row = y + row * size;
      std::memcpy(y_row, x_row, (query + 1) * sizeof(T));
      std::fill(y_row + query + 1, y_row + size, value);
    }
    return absl::OkStatus();
  }
};

}  // namespace

absl::Status RegisterAttentionCpuKernels(KernelRegistry& registry) {
  return RegisterFloatingCpuKernels<CausalMaskKernel>(registry, "CausalMask");
}

}  // namespace sbpflow
