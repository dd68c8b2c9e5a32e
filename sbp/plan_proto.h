// The edge between PhysicalPlan and proto::PlanDef (proto/plan.proto), and
// plan files (.pb binary, .pbtxt text; written atomically).
#ifndef SBPFLOW_SBP_PLAN_PROTO_H_
#define SBPFLOW_SBP_PLAN_PROTO_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "proto/plan.pb.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

inline constexpr char kPlanFormat[] = "sbpflow.plan/1";

proto::PlanDef PlanToProto(const PhysicalPlan& plan);

// Errors (InvalidArgument naming `source` and the op/field): unknown kinds,
// references to ops or devices that do not exist.
absl::StatusOr<PhysicalPlan> PlanFromProto(const proto::PlanDef& def, absl::string_view source);

absl::Status WritePlanFile(const PhysicalPlan& plan, const std::string& path);

// The plan in `path`, or nullopt when the file is not a plan (format field
// missing): then it is probably a graph. Errors: unreadable file, a plan
// file that does not convert.
absl::StatusOr<std::optional<PhysicalPlan>> ReadPlanFile(const std::string& path);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_PLAN_PROTO_H_
