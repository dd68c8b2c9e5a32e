#include "actor/trace.h"

#include <algorithm>
#include <fstream>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace sbpflow {

nlohmann::json ChromeTraceJson(const std::vector<std::string>& device_names,
                               const std::vector<std::string>& op_names,
                               const std::vector<LaneTrace>& lanes) {
  nlohmann::json events = nlohmann::json::array();
  for (int device = 0; device < static_cast<int>(device_names.size()); ++device) {
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", device},
                      {"args", {{"name", device_names[device]}}}});
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", device},
                      {"tid", kComputeTraceThread},
                      {"args", {{"name", "compute"}}}});
    events.push_back({{"name", "thread_name"},
                      {"ph", "M"},
                      {"pid", device},
                      {"tid", kCommunicationTraceThread},
                      {"args", {{"name", "communication"}}}});
  }
  struct Flat {
    int device;
    int thread;
    TraceEvent event;
  };
  std::vector<Flat> flat;
  for (const LaneTrace& lane : lanes) {
    for (const TraceEvent& event : lane.events)
      flat.push_back(Flat{lane.device, lane.thread, event});
  }
  std::stable_sort(flat.begin(), flat.end(), [](const Flat& a, const Flat& b) {
    return std::tie(a.device, a.thread, a.event.start_ns) <
           std::tie(b.device, b.thread, b.event.start_ns);
  });
  for (const Flat& item : flat) {
    events.push_back({{"name", op_names[item.event.op]},
                      {"cat", item.thread == kComputeTraceThread ? "compute" : "communication"},
                      {"ph", "X"},
                      {"pid", item.device},
                      {"tid", item.thread},
                      {"ts", static_cast<double>(item.event.start_ns) / 1000.0},
                      {"dur", static_cast<double>(item.event.duration_ns) / 1000.0},
                      {"args", {{"piece", item.event.piece}, {"step", item.event.step}}}});
  }
  return nlohmann::json{{"traceEvents", std::move(events)}};
}

absl::Status WriteChromeTrace(const std::string& path, const nlohmann::json& trace) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write file"));
  out << trace.dump() << "\n";
  out.close();
  if (!out) return absl::InvalidArgumentError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace sbpflow
