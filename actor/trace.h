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

// Chrome trace thread ids of the two lanes of a device.
inline constexpr int kComputeTraceThread = 0;
inline constexpr int kCommunicationTraceThread = 1;

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
  int thread = kComputeTraceThread;
  std::vector<TraceEvent> events;
};

// The trace as JSON: process_name metadata per device ("cpu:0", pid = device
// index), thread_name metadata per lane ("compute" = tid 0, "communication" =
// tid 1), then one complete ("ph": "X") event per firing with its op name,
// microsecond start and duration, and args {"piece", "step"}. Events are
// sorted by (pid, tid, ts) so the output is stable.
nlohmann::json ChromeTraceJson(const std::vector<std::string>& device_names,
                               const std::vector<std::string>& op_names,
                               const std::vector<LaneTrace>& lanes);

// Writes ChromeTraceJson to `path`. Errors name the path.
absl::Status WriteChromeTrace(const std::string& path, const nlohmann::json& trace);

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_TRACE_H_
