// What `sbpflow inspect plan.pb` shows: per device its ops, collectives,
// bytes communicated per step and an estimate of its peak memory.
#ifndef SBPFLOW_TOOLS_PLAN_REPORT_H_
#define SBPFLOW_TOOLS_PLAN_REPORT_H_

#include <cstdint>
#include <ostream>
#include <vector>

#include "nlohmann/json.hpp"
#include "sbp/physical_plan.h"

namespace sbpflow {

struct DeviceReport {
  int64_t ops = 0;
  int64_t kernels = 0;
  int64_t collectives = 0;
  // Bytes this device sends per step (all micro-batches).
  int64_t bytes_sent = 0;
  int64_t variable_bytes = 0;
  // Variables plus the most activation bytes alive at once when the device
  // runs its ops in plan order, each value freed after its last reader.
  int64_t peak_bytes = 0;
};

std::vector<DeviceReport> ReportPlan(const PhysicalPlan& plan);

void PrintPlanTable(const PhysicalPlan& plan, std::ostream& out);
nlohmann::json PlanJson(const PhysicalPlan& plan);

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_PLAN_REPORT_H_
