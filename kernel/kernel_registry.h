// Kernels by (op, device type, dtype). The dtype of a kernel is the dtype of
// the op's output 0, or of input 0 for ops without outputs (KernelDataType).
// Built once (BuildBuiltinKernelRegistry in kernel/cpu/cpu_kernels.h), then
// only read; concurrent reads are safe.
#ifndef SBPFLOW_KERNEL_KERNEL_REGISTRY_H_
#define SBPFLOW_KERNEL_KERNEL_REGISTRY_H_

#include <map>
#include <string>
#include "absl/strings/string_view.h"
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "base/data_type.h"
#include "base/shape.h"
#include "base/device.h"
#include "kernel/kernel.h"

namespace sbpflow {

struct KernelKey {
  std::string op;
  DeviceType device = DeviceType::kCpu;
  DataType dtype = DataType::kFloat32;

  bool operator<(const KernelKey& other) const {
    return std::tie(op, device, dtype) < std::tie(other.op, other.device, other.dtype);
  }
};

DataType KernelDataType(const std::vector<TensorType>& inputs,
                        const std::vector<TensorType>& outputs);

class KernelRegistry {
 public:
  KernelRegistry() = default;
  KernelRegistry(const KernelRegistry&) = delete;
  KernelRegistry& operator=(const KernelRegistry&) = delete;
  KernelRegistry(KernelRegistry&&) = default;
  KernelRegistry& operator=(KernelRegistry&&) = default;

  // AlreadyExists for a duplicate key.
  absl::Status Register(KernelKey key, KernelFn kernel);
  // Null when there is no such kernel.
  const KernelFn* Find(absl::string_view op, DeviceType device, DataType dtype) const;
  std::vector<KernelKey> Keys() const;

 private:
  std::map<KernelKey, KernelFn> kernels_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_KERNEL_REGISTRY_H_
