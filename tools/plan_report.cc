#include "tools/plan_report.h"

#include <iomanip>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sbpflow {
namespace {

int64_t Bytes(const TensorType& type) { return type.shape.NumElements() * DataTypeSize(type.dtype); }

std::string Outputs(const PlanOp& op) {
  return absl::StrJoin(op.outputs, " ", [](std::string* out, const TensorType& type) {
    out->append(type.ToString());
  });
}

std::string Describe(const PlanOp& op) {
  if (op.kind == PlanOpKind::kCollective) return absl::StrCat("collective ", op.type);
  if (op.kind == PlanOpKind::kKernel) return op.type;
  return std::string(PlanOpKindName(op.kind));
}

}  // namespace

std::vector<DeviceReport> ReportPlan(const PhysicalPlan& plan) {
  std::vector<DeviceReport> reports(plan.devices.size());
  const int count = static_cast<int>(plan.ops.size());
  std::vector<int> last_reader(count, -1);
  for (int index = 0; index < count; ++index) {
    for (const PlanValue& input : plan.ops[index].inputs) last_reader[input.op] = index;
  }
  std::vector<int64_t> live(plan.devices.size(), 0);
  std::vector<std::vector<int64_t>> frees(count);  // bytes freed after op i, by device
  std::map<int, std::vector<std::pair<int, int64_t>>> release_after;
  for (int index = 0; index < count; ++index) {
    const PlanOp& op = plan.ops[index];
    DeviceReport& report = reports[op.device];
    ++report.ops;
    const int repeats = op.frequency == Frequency::kPerStep ? 1 : plan.micro_batches;
    if (op.kind == PlanOpKind::kKernel) ++report.kernels;
    if (op.kind == PlanOpKind::kCollective) {
      ++report.collectives;
      const auto& sent = op.collective.bytes_sent;
      if (op.collective.rank < static_cast<int>(sent.size())) {
        report.bytes_sent += sent[op.collective.rank] * repeats;
      }
    }
    int64_t produced = 0;
    for (const TensorType& type : op.outputs) produced += Bytes(type);
    if (op.kind == PlanOpKind::kVariable) {
      report.variable_bytes += produced;
      continue;
    }
    live[op.device] += produced;
    report.peak_bytes = std::max(report.peak_bytes, live[op.device]);
    if (last_reader[index] >= 0) {
      release_after[last_reader[index]].emplace_back(op.device, produced);
    } else {
      live[op.device] -= produced;
    }
    for (const auto& [device, bytes] : release_after[index]) live[device] -= bytes;
  }
  for (DeviceReport& report : reports) report.peak_bytes += report.variable_bytes;
  return reports;
}

void PrintPlanTable(const PhysicalPlan& plan, std::ostream& out) {
  const std::vector<DeviceReport> reports = ReportPlan(plan);
  out << "plan: " << plan.ops.size() << " ops on " << plan.devices.size() << " device(s) ("
      << DeviceListToString(plan.devices) << "), " << plan.micro_batches << " micro-batch(es)\n\n";
  out << std::left << std::setw(10) << "device" << std::setw(8) << "ops" << std::setw(10)
      << "kernels" << std::setw(13) << "collectives" << std::setw(18) << "bytes sent/step"
      << "est. peak memory\n";
  for (size_t device = 0; device < reports.size(); ++device) {
    const DeviceReport& report = reports[device];
    out << std::left << std::setw(10) << plan.devices[device].ToString() << std::setw(8)
        << report.ops << std::setw(10) << report.kernels << std::setw(13) << report.collectives
        << std::setw(18) << report.bytes_sent << report.peak_bytes << " bytes\n";
  }
  for (size_t device = 0; device < plan.devices.size(); ++device) {
    out << "\n" << plan.devices[device].ToString() << ":\n";
    for (const PlanOp& op : plan.ops) {
      if (op.device != static_cast<int>(device)) continue;
      out << "  " << std::left << std::setw(48) << op.name << std::setw(26) << Describe(op)
          << Outputs(op);
      if (op.kind == PlanOpKind::kCollective) {
        std::vector<std::string> group;
        for (int member : op.collective.group) group.push_back(plan.devices[member].ToString());
        out << "  with {" << absl::StrJoin(group, ",") << "} sends "
            << op.collective.bytes_sent[op.collective.rank] << " bytes";
      }
      out << "\n";
    }
  }
}

nlohmann::json PlanJson(const PhysicalPlan& plan) {
  const std::vector<DeviceReport> reports = ReportPlan(plan);
  nlohmann::json devices = nlohmann::json::array();
  for (size_t device = 0; device < plan.devices.size(); ++device) {
    nlohmann::json ops = nlohmann::json::array();
    for (const PlanOp& op : plan.ops) {
      if (op.device != static_cast<int>(device)) continue;
      nlohmann::json entry = {{"name", op.name},
                              {"kind", std::string(PlanOpKindName(op.kind))},
                              {"type", op.type},
                              {"outputs", Outputs(op)}};
      if (op.kind == PlanOpKind::kCollective) {
        entry["bytes_sent"] = op.collective.bytes_sent[op.collective.rank];
        std::vector<std::string> group;
        for (int member : op.collective.group) group.push_back(plan.devices[member].ToString());
        entry["group"] = group;
      }
      ops.push_back(entry);
    }
    const DeviceReport& report = reports[device];
    devices.push_back({{"device", plan.devices[device].ToString()},
                       {"ops", ops},
                       {"collectives", report.collectives},
                       {"bytes_sent_per_step", report.bytes_sent},
                       {"variable_bytes", report.variable_bytes},
                       {"estimated_peak_bytes", report.peak_bytes}});
  }
  return {{"devices", devices}, {"micro_batches", plan.micro_batches}};
}

}  // namespace sbpflow
