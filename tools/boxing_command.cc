// `sbpflow boxing --shape 6,4 --dtype f32 --from "(S(0),S(0))" --to "S(1)" ...`:
// what a layout change costs, step by step.
#include <iomanip>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "sbp/boxing/boxing_plan.h"
#include "sbp/compile.h"
#include "tools/command.h"

namespace sbpflow {
namespace {

struct BoxingCommandRequest {
  std::string shape;
  std::string dtype = "f32";
  std::string devices = "cpu:0-3";
  std::string mesh;
  std::string from;
  std::string to;
  std::string to_devices;
  std::string to_mesh;
  double link_latency_us = 5;
  double link_gbps = 80;
  bool json = false;
};

absl::StatusOr<Placement> MakePlacement(absl::string_view devices_flag, const std::string& devices,
                                        absl::string_view mesh_flag, const std::string& mesh,
                                        int default_rank) {
  auto device_list = ParseDeviceList(devices);
  if (!device_list.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(devices_flag, ": ", device_list.status().message()));
  }
  std::vector<int64_t> extents;
  if (!mesh.empty()) {
    auto parsed = ParseMesh(mesh);
    if (!parsed.ok())
      return absl::InvalidArgumentError(absl::StrCat(mesh_flag, ": ", parsed.status().message()));
    extents = *parsed;
  } else if (default_rank == 1) {
    extents = {static_cast<int64_t>(device_list->size())};
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(mesh_flag, " is needed: the layout has ", default_rank, " mesh axes"));
  }
  auto placement = Placement::Create(*device_list, extents, {});
  if (!placement.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(mesh_flag, ": ", placement.status().message()));
  }
  return *placement;
}

nlohmann::json RangesJson(const Box& box) {
  nlohmann::json ranges = nlohmann::json::array();
  for (const Interval& interval : box) ranges.push_back({interval.begin, interval.end});
  return ranges;
}

nlohmann::json LayoutJson(const Shape& shape, const Layout& layout) {
  nlohmann::json devices = nlohmann::json::array();
  for (int rank = 0; rank < layout.placement.size(); ++rank) {
    devices.push_back(
        {{"device", layout.placement.devices()[rank].ToString()},
         {"ranges", RangesJson(ShardBox(shape, layout.nd_sbp, layout.placement, rank))},
         {"partial", HasPartial(layout.nd_sbp)}});
  }
  return devices;
}

void PrintLayout(const Shape& shape, const Layout& layout, std::ostream& out) {
  for (int rank = 0; rank < layout.placement.size(); ++rank) {
    out << "  " << std::left << std::setw(8) << layout.placement.devices()[rank].ToString()
        << BoxToString(ShardBox(shape, layout.nd_sbp, layout.placement, rank))
        << (HasPartial(layout.nd_sbp) ? "  (partial)" : "") << "\n";
  }
}

absl::Status RunBoxing(const BoxingCommandRequest& request, const CommandContext& context) {
  if (request.shape.empty()) return absl::InvalidArgumentError("--shape is required");
  SBP_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ParseIntList("--shape", request.shape));
  // Like graph shapes, at most 2^60 elements, so byte counts fit int64.
  constexpr int64_t kMaxElements = int64_t{1} << 60;
  int64_t elements = 1;
  for (int64_t dim : dims) {
    if (dim < 0)
      return absl::InvalidArgumentError(
          absl::StrCat("--shape: dimensions must be >= 0, got ", dim));
    if (dim > 0 && elements > kMaxElements / dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("--shape ", request.shape, " has more than 2^60 elements"));
    }
    elements = dim == 0 ? 0 : elements * dim;
  }
  auto dtype = ParseDataType(request.dtype);
  if (!dtype.ok())
    return absl::InvalidArgumentError(absl::StrCat("--dtype: ", dtype.status().message()));
  auto from = ParseNdSbp(request.from);
  if (!from.ok())
    return absl::InvalidArgumentError(absl::StrCat("--from: ", from.status().message()));
  auto to = ParseNdSbp(request.to);
  if (!to.ok()) return absl::InvalidArgumentError(absl::StrCat("--to: ", to.status().message()));
  SBP_ASSIGN_OR_RETURN(Placement from_placement,
                       MakePlacement("--devices", request.devices, "--mesh", request.mesh,
                                     static_cast<int>(from->size())));
  // The destination keeps the devices and mesh unless told otherwise; a
  // layout with another number of axes means a 1-D mesh over them.
  const std::string to_devices = request.to_devices.empty() ? request.devices : request.to_devices;
  std::string to_mesh = request.to_mesh;
  if (to_mesh.empty() && static_cast<int>(to->size()) == from_placement.mesh_rank() &&
      request.to_devices.empty()) {
    to_mesh = from_placement.MeshString();
  }
  SBP_ASSIGN_OR_RETURN(Placement to_placement,
                       MakePlacement("--to-devices", to_devices, "--to-mesh", to_mesh,
                                     static_cast<int>(to->size())));
  if (request.link_gbps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--link-gbps must be > 0, got ", request.link_gbps));
  }
  BoxingRequest boxing{Shape(dims), *dtype, Layout{from_placement, *from},
                       Layout{to_placement, *to},
                       LinkModel{request.link_latency_us * 1e-6, request.link_gbps * 1e9 / 8}};
  SBP_ASSIGN_OR_RETURN(BoxingPlan plan, PlanBoxing(boxing));

  std::ostringstream out;
  if (request.json) {
    nlohmann::json steps = nlohmann::json::array();
    for (const BoxingStep& step : plan.steps) {
      nlohmann::json devices = nlohmann::json::array();
      for (const Device& device : step.devices) devices.push_back(device.ToString());
      nlohmann::json groups = nlohmann::json::array();
      for (const auto& group : step.groups) {
        nlohmann::json members = nlohmann::json::array();
        for (const Device& device : group) members.push_back(device.ToString());
        groups.push_back(members);
      }
      steps.push_back(
          {{"kind", std::string(BoxingKindName(step.kind))},
           {"mesh_axis", step.mesh_axis >= 0 ? nlohmann::json(step.mesh_axis) : nlohmann::json()},
           {"devices", devices},
           {"groups", groups},
           {"bytes_per_device", step.MaxBytesSent()},
           {"bytes_sent", step.bytes_sent},
           {"from", NdSbpToString(step.from.nd_sbp)},
           {"to", NdSbpToString(step.to.nd_sbp)}});
    }
    nlohmann::json result = {{"shape", dims},
                             {"dtype", std::string(DataTypeName(*dtype))},
                             {"steps", steps},
                             {"src", LayoutJson(boxing.shape, boxing.from)},
                             {"dst", LayoutJson(boxing.shape, boxing.to)},
                             {"cost_seconds", plan.cost_seconds}};
    out << result.dump(2) << "\n";
  } else {
    out << "boxing " << DataTypeName(*dtype) << boxing.shape.ToString() << ": "
        << boxing.from.ToString() << " -> " << boxing.to.ToString() << "\n";
    out << "steps: " << (plan.steps.empty() ? "none (same layout)" : "") << "\n";
    for (size_t index = 0; index < plan.steps.size(); ++index) {
      const BoxingStep& step = plan.steps[index];
      out << "  " << index + 1 << ". " << std::left << std::setw(15) << BoxingKindName(step.kind)
          << "mesh axis " << (step.mesh_axis >= 0 ? absl::StrCat(step.mesh_axis) : "-") << "  "
          << NdSbpToString(step.from.nd_sbp) << " -> " << NdSbpToString(step.to.nd_sbp)
          << "  groups ";
      std::vector<std::string> groups;
      for (const auto& group : step.groups) groups.push_back(DeviceListToString(group));
      out << "{" << absl::StrJoin(groups, "} {") << "}  bytes/device " << step.MaxBytesSent()
          << "\n";
    }
    out << "before:\n";
    PrintLayout(boxing.shape, boxing.from, out);
    out << "after:\n";
    PrintLayout(boxing.shape, boxing.to, out);
    out << "modeled time: " << std::setprecision(3) << plan.cost_seconds * 1e6 << " us ("
        << request.link_latency_us << " us latency, " << request.link_gbps << " Gbit/s)\n";
  }
  *context.out << out.str();
  return absl::OkStatus();
}

}  // namespace

void AddBoxingCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<BoxingCommandRequest>();
  CLI::App* boxing = app.add_subcommand("boxing", "Show the collectives a layout change needs");
  boxing->add_option("--shape", request->shape, "Logical shape, e.g. 6,4")->required();
  boxing->add_option("--dtype", request->dtype, "Element type")->capture_default_str();
  boxing->add_option("--devices", request->devices, "Source devices")->capture_default_str();
  boxing->add_option("--mesh", request->mesh, "Source mesh, e.g. 2x2 (default 1-D)");
  boxing->add_option("--from", request->from, "Source layout, e.g. (S(0),B)")->required();
  boxing->add_option("--to", request->to, "Destination layout")->required();
  boxing->add_option("--to-devices", request->to_devices, "Destination devices (default: same)");
  boxing->add_option("--to-mesh", request->to_mesh, "Destination mesh");
  boxing->add_option("--link-latency-us", request->link_latency_us, "Link latency for costs")
      ->capture_default_str();
  boxing->add_option("--link-gbps", request->link_gbps, "Link bandwidth for costs")
      ->capture_default_str();
  boxing->add_flag("--json", request->json, "One JSON object");
  boxing->callback([request, action] {
    *action = [request](const CommandContext& context) { return RunBoxing(*request, context); };
  });
}

}  // namespace sbpflow
