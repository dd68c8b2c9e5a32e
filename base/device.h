// Device identities. A device is "type:index", e.g. "cpu:3" (a virtual CPU
// device inside this process) or "cuda:0".
#ifndef SBPFLOW_BASE_DEVICE_H_
#define SBPFLOW_BASE_DEVICE_H_

#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace sbpflow {

enum class DeviceType { kCpu, kCuda };

absl::string_view DeviceTypeName(DeviceType type);

struct Device {
  DeviceType type = DeviceType::kCpu;
  int index = 0;

  std::string ToString() const;
  bool operator==(const Device& other) const {
    return type == other.type && index == other.index;
  }
  bool operator!=(const Device& other) const { return !(*this == other); }
  bool operator<(const Device& other) const {
    return type != other.type ? type < other.type : index < other.index;
  }
};

// The most devices one list may name: far beyond one job's mesh here, and a
// bound on the work planning does per device (a typo such as cpu:0-100000
// fails at once instead of planning for minutes).
inline constexpr int kMaxDevices = 4096;

// Parses a device list: "cpu:0-3", "cpu:0,cpu:2", "cpu:0-1,cpu:4" or "cpu:5".
// Errors (InvalidArgument): unknown device type, malformed range, empty list,
// a device listed twice, more than kMaxDevices devices.
absl::StatusOr<std::vector<Device>> ParseDeviceList(absl::string_view text);

// The shortest text that ParseDeviceList maps back to `devices`.
std::string DeviceListToString(const std::vector<Device>& devices);

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_DEVICE_H_
