// CPU kernels of Embedding (row gather) and EmbeddingGrad (row scatter-add).
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "kernel/cpu/cpu_kernels.h"
#include "kernel/cpu/kernel_util.h"

namespace sbpflow {
namespace {

// Calls body(n, id) for every id in order; stops with InvalidArgument at the
// first id outside [0, vocab).
template <typename Index, typename Body>
absl::Status ForEachIdOf(const Tensor& ids, int64_t vocab, Body body) {
  const Index* values = ids.data<Index>();
  for (int64_t n = 0; n < ids.num_elements(); ++n) {
    const int64_t id = values[n];
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("id ", id, " at index ", n, " is outside [0, ", vocab, ")"));
    }
    body(n, id);
  }
  return absl::OkStatus();
}

template <typename Body>
absl::Status ForEachId(const Tensor& ids, int64_t vocab, Body body) {
  if (ids.dtype() == DataType::kInt32) return ForEachIdOf<int32_t>(ids, vocab, body);
  return ForEachIdOf<int64_t>(ids, vocab, body);
}

// out[n, :] = table[ids[n], :].
template <typename T>
struct EmbeddingKernel {
  static absl::Status Compute(KernelContext& context) {
    const Tensor& table_tensor = context.input(0);
    const int64_t vocab = table_tensor.shape().dim(0);
    const int64_t width = table_tensor.shape().dim(1);
    const T* table = table_tensor.data<T>();
    T* out = context.output(0).data<T>();
    return ForEachId(context.input(1), vocab, [&](int64_t n, int64_t id) {
      if (width > 0) std::memcpy(out + n * width, table + id * width, width * sizeof(T));
    });
  }
};

// dtable = 0; dtable[ids[n], :] += dy[n, :] for n in index order, so repeated
// ids always sum in the same order.
template <typename T>
struct EmbeddingGradKernel {
  static absl::Status Compute(KernelContext& context) {
    Tensor& dtable_tensor = context.output(0);
    const int64_t vocab = dtable_tensor.shape().dim(0);
    const int64_t width = dtable_tensor.shape().dim(1);
    dtable_tensor.SetZero();
    const T* dy = context.input(0).data<T>();
    T* dtable = dtable_tensor.data<T>();
    return ForEachId(context.input(1), vocab, [&](int64_t n, int64_t id) {
      const T* source = dy + n * width;
      T* target = dtable + id * width;
      for (int64_t h = 0; h < width; ++h) target[h] += source[h];
    });
  }
};

}  // namespace

absl::Status RegisterEmbeddingCpuKernels(KernelRegistry& registry) {
  SBP_RETURN_IF_ERROR(RegisterFloatingCpuKernels<EmbeddingKernel>(registry, "Embedding"));
  return RegisterFloatingCpuKernels<EmbeddingGradKernel>(registry, "EmbeddingGrad");
}

}  // namespace sbpflow
