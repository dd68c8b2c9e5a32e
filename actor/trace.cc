#include "actor/trace.h"

#include <algorithm>
#include <fstream>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace sbpflow {
namespace {

// An event placed on a track of its device.
struct PlacedEvent {
  int device;
  TraceLane lane;
  int track = 0;  // within the lane
  TraceEvent event;
};

// Assigns every event the lowest track of its lane that is free when the
// event starts (greedy interval colouring in start order, which uses as many
// tracks as the lane had events running at once). `events` must be sorted by
// (device, lane, start). Sets the tracks per device of each lane (at least 1).
void AssignTracks(const std::vector<PlacedEvent*>& events, std::vector<int>* compute_tracks,
                  std::vector<int>* communication_tracks) {
  // Per track of the lane being scanned: when its last event ends.
  std::vector<int64_t> track_end;
  for (size_t index = 0; index < events.size(); ++index) {
    PlacedEvent& placed = *events[index];
    if (index == 0 || placed.device != events[index - 1]->device ||
        placed.lane != events[index - 1]->lane) {
      track_end.clear();
    }
    const int64_t start = placed.event.start_ns;
    // A track is free only when its last event ended strictly before: the
    // microsecond values written may be read back a nanosecond off.
    int track = 0;
    while (track < static_cast<int>(track_end.size()) && track_end[track] >= start) ++track;
    if (track == static_cast<int>(track_end.size())) track_end.push_back(0);
    track_end[track] = start + placed.event.duration_ns;
    placed.track = track;
    int& tracks = (placed.lane == TraceLane::kCompute ? *compute_tracks
                                                      : *communication_tracks)[placed.device];
    tracks = std::max(tracks, track + 1);
  }
}

}  // namespace

nlohmann::json ChromeTraceJson(const std::vector<std::string>& device_names,
                               const std::vector<std::string>& op_names,
                               const std::vector<LaneTrace>& lanes) {
  const int num_devices = static_cast<int>(device_names.size());
  std::vector<PlacedEvent> placed;
  for (const LaneTrace& lane : lanes) {
    for (const TraceEvent& event : lane.events) {
      placed.push_back(PlacedEvent{lane.device, lane.lane, 0, event});
    }
  }
  std::vector<PlacedEvent*> by_lane;
  for (PlacedEvent& item : placed) by_lane.push_back(&item);
  std::stable_sort(by_lane.begin(), by_lane.end(), [](const PlacedEvent* a, const PlacedEvent* b) {
    return std::tie(a->device, a->lane, a->event.start_ns) <
           std::tie(b->device, b->lane, b->event.start_ns);
  });
  // Per device: the compute tracks come first, then the communication ones.
  std::vector<int> compute_tracks(num_devices, 1);
  std::vector<int> communication_tracks(num_devices, 1);
  AssignTracks(by_lane, &compute_tracks, &communication_tracks);
  auto thread_id = [&](const PlacedEvent& item) {
    return item.lane == TraceLane::kCompute ? item.track : compute_tracks[item.device] + item.track;
  };

  nlohmann::json events = nlohmann::json::array();
  for (int device = 0; device < num_devices; ++device) {
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", device},
                      {"args", {{"name", device_names[device]}}}});
    auto name_thread = [&](int tid, const std::string& name) {
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", device},
                        {"tid", tid},
                        {"args", {{"name", name}}}});
    };
    for (int track = 0; track < compute_tracks[device]; ++track) {
      name_thread(track, absl::StrCat(device_names[device], " compute ", track));
    }
    for (int track = 0; track < communication_tracks[device]; ++track) {
      name_thread(compute_tracks[device] + track,
                  absl::StrCat(device_names[device], " communication ", track));
    }
  }
  std::stable_sort(placed.begin(), placed.end(), [&](const PlacedEvent& a, const PlacedEvent& b) {
    return std::make_tuple(a.device, thread_id(a), a.event.start_ns) <
           std::make_tuple(b.device, thread_id(b), b.event.start_ns);
  });
  for (const PlacedEvent& item : placed) {
    events.push_back({{"name", op_names[item.event.op]},
                      {"cat", item.lane == TraceLane::kCompute ? "compute" : "communication"},
                      {"ph", "X"},
                      {"pid", item.device},
                      {"tid", thread_id(item)},
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
