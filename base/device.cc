#include "base/device.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sbpflow {

absl::string_view DeviceTypeName(DeviceType type) {
  return type == DeviceType::kCpu ? "cpu" : "cuda";
}

std::string Device::ToString() const { return absl::StrCat(DeviceTypeName(type), ":", index); }

namespace {

absl::Status BadList(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("device list '", text, "': ", why));
}

bool ParseIndex(absl::string_view text, int* index) {
  return absl::SimpleAtoi(text, index) && *index >= 0 && *index < (1 << 20);
}

}  // namespace

absl::StatusOr<std::vector<Device>> ParseDeviceList(absl::string_view text) {
  std::vector<Device> devices;
  std::set<Device> seen;
  if (absl::StripAsciiWhitespace(text).empty()) return BadList(text, "is empty");
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    std::vector<absl::string_view> parts = absl::StrSplit(item, absl::MaxSplits(':', 1));
    if (parts.size() != 2) return BadList(text, absl::StrCat("'", item, "' is not TYPE:INDEX"));
    Device device;
    if (parts[0] == "cpu") {
      device.type = DeviceType::kCpu;
    } else if (parts[0] == "cuda" || parts[0] == "gpu") {
      device.type = DeviceType::kCuda;
    } else {
      return BadList(text, absl::StrCat("unknown device type '", parts[0], "'"));
    }
    std::vector<absl::string_view> range = absl::StrSplit(parts[1], absl::MaxSplits('-', 1));
    int first = 0;
    int last = 0;
    if (!ParseIndex(range[0], &first) ||
        (range.size() == 2 ? !ParseIndex(range[1], &last) : (last = first, false))) {
      return BadList(text, absl::StrCat("'", item, "' has a malformed index"));
    }
    if (last < first) return BadList(text, absl::StrCat("'", item, "' is an empty range"));
    if (static_cast<int64_t>(last) - first + 1 >
        kMaxDevices - static_cast<int64_t>(devices.size())) {
      return BadList(text, absl::StrCat("names more than ", kMaxDevices, " devices"));
    }
    for (int index = first; index <= last; ++index) {
      device.index = index;
      if (!seen.insert(device).second) {
        return BadList(text, absl::StrCat(device.ToString(), " is listed twice"));
      }
      devices.push_back(device);
    }
  }
  return devices;
}

std::string DeviceListToString(const std::vector<Device>& devices) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (begin < devices.size()) {
    size_t end = begin + 1;
    while (end < devices.size() && devices[end].type == devices[begin].type &&
           devices[end].index == devices[end - 1].index + 1) {
      ++end;
    }
    if (end - begin == 1) {
      items.push_back(devices[begin].ToString());
    } else {
      items.push_back(absl::StrCat(devices[begin].ToString(), "-", devices[end - 1].index));
    }
    begin = end;
  }
  return absl::StrJoin(items, ",");
}

}  // namespace sbpflow
