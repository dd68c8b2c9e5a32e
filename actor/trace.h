// Per-firing timing records and their Chrome trace form.
//
// Lanes record events in their own buffers (no process-wide lock per event);
// WriteChromeTrace merges them into the Chrome trace-event JSON format
// ({"traceEvents": [...]}, viewable in chrome://tracing or Perfetto).
#ifndef SBPFLOW_ACTOR_TRACE_H_
#define SBPFLOW_ACTOR_TRACE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace sbpflow {

// The two kinds of lane a device has.
enum class TraceLane { kCompute, kCommunication };

struct TraceEvent {
  int op = 0;
  int piece = 0;
  int64_t step = 0;
  // Nanoseconds since the runtime was created.
  int64_t start_ns = 0;
  int64_t duration_ns = 0;
};

// The events of one lane.
struct LaneTrace {
  int device = 0;
  TraceLane lane = TraceLane::kCompute;
  std::vector<TraceEvent> events;
};

// The trace as JSON: process_name metadata per device ("cpu:0", pid = device
// index), thread_name metadata per track, then one complete ("ph": "X") event
// per firing with its op name, category "compute" or "communication",
// microsecond start and duration, and args {"piece", "step"}.
//
// A lane runs several activations at once (a compute lane up to its width, a
// communication lane every collective in flight), but trace viewers draw the
// slices of one thread as a stack and misdraw slices that overlap without
// nesting. So each lane is spread over tracks: an event goes on the
// lowest-numbered track of its lane whose events have all ended before it
// starts. Events of one track never overlap, and a lane has as many tracks as
// it had activations running at once. Per device, the compute tracks are
// tids 0..C-1 ("cpu:0 compute 0", ...) and the communication tracks follow
// ("cpu:0 communication 0", ...); each lane has at least one track, so
// "compute 0" is tid 0 and a device without concurrency has "communication
// 0" at tid 1. Events are sorted by (pid, tid, ts) so the output is stable.
nlohmann::json ChromeTraceJson(const std::vector<std::string>& device_names,
                               const std::vector<std::string>& op_names,
                               const std::vector<LaneTrace>& lanes);

// Writes ChromeTraceJson to `path`. Errors name the path.
absl::Status WriteChromeTrace(const std::string& path, const nlohmann::json& trace);

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_TRACE_H_
