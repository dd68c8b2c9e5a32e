#include "kernel/kernel_registry.h"

#include "absl/strings/str_cat.h"

namespace sbpflow {

DataType KernelDataType(const std::vector<TensorType>& inputs,
                        const std::vector<TensorType>& outputs) {
  if (!outputs.empty()) return outputs[0].dtype;
  if (!inputs.empty()) return inputs[0].dtype;
  return DataType::kFloat32;
}

absl::Status KernelRegistry::Register(KernelKey key, KernelFn kernel) {
  std::string description =
      absl::StrCat(key.op, " on ", DeviceTypeName(key.device), " for ", DataTypeName(key.dtype));
  auto [it, inserted] = kernels_.emplace(std::move(key), std::move(kernel));
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat("kernel ", description, " twice"));
  return absl::OkStatus();
}

const KernelFn* KernelRegistry::Find(absl::string_view op, DeviceType device,
                                     DataType dtype) const {
  auto it = kernels_.find(KernelKey{std::string(op), device, dtype});
  return it == kernels_.end() ? nullptr : &it->second;
}

std::vector<KernelKey> KernelRegistry::Keys() const {
  std::vector<KernelKey> keys;
  for (const auto& [key, kernel] : kernels_) keys.push_back(key);
  return keys;
}

}  // namespace sbpflow
