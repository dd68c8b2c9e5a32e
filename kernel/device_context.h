// The per-device resources kernels and the runtime share: the device's
// identity and its memory allocator (which measures the device's peak
// memory). One DeviceContext per plan device, owned by whoever runs the plan.
#ifndef SBPFLOW_KERNEL_DEVICE_CONTEXT_H_
#define SBPFLOW_KERNEL_DEVICE_CONTEXT_H_

#include <memory>
#include <vector>

#include "base/device.h"
#include "kernel/allocator.h"

namespace sbpflow {

class DeviceContext {
 public:
  explicit DeviceContext(Device device);

  const Device& device() const { return device_; }
  Allocator* allocator() const { return allocator_.get(); }

 private:
  Device device_;
  std::unique_ptr<Allocator> allocator_;
};

// One context per device, in the same order.
std::vector<std::unique_ptr<DeviceContext>> MakeDeviceContexts(const std::vector<Device>& devices);

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_DEVICE_CONTEXT_H_
