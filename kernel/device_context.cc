#include "kernel/device_context.h"

#include "glog/logging.h"

namespace sbpflow {

DeviceContext::DeviceContext(Device device) : device_(device) {
  // CUDA devices get their allocator with the CUDA backend.
  CHECK(device.type == DeviceType::kCpu) << "only CPU devices are built in";
  allocator_ = std::make_unique<CpuAllocator>();
}

std::vector<std::unique_ptr<DeviceContext>> MakeDeviceContexts(const std::vector<Device>& devices) {
  std::vector<std::unique_ptr<DeviceContext>> contexts;
  contexts.reserve(devices.size());
  for (const Device& device : devices) contexts.push_back(std::make_unique<DeviceContext>(device));
  return contexts;
}

}  // namespace sbpflow
