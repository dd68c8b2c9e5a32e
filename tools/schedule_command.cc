// `sbpflow schedule --kind 1f1b --stages 4 --micro-batches 8`: a pipeline
// schedule's per-rank instruction lists, its simulated timeline and bubble.
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/schedule.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "tools/command.h"

namespace sbpflow {
namespace {

struct ScheduleCommandRequest {
  std::string kind;
  int stages = 0;
  int micro_batches = 0;
  int chunks = 1;
  InstructionCosts costs;
  bool chunks_given = false;  // if not, interleaved runs 2 chunks
  bool weight_cost_given = false;
  bool json = false;
};

nlohmann::json InstructionJson(const Instruction& instruction) {
  nlohmann::json op = {{"op", std::string(InstructionOpName(instruction.op))},
                       {"mb", instruction.micro_batch},
                       {"chunk", instruction.chunk}};
  if (instruction.op == Instruction::Op::kSend || instruction.op == Instruction::Op::kRecv) {
    op["peer"] = instruction.peer;
    op["gradient"] = instruction.gradient;
  }
  return op;
}

nlohmann::json ScheduleJson(const Schedule& schedule, const InstructionCosts& costs,
                            const Simulation& simulation) {
  // Built by moving, never copying, the per-rank lists: the largest allowed
  // schedule has a million instructions.
  nlohmann::json devices = nlohmann::json::array();
  nlohmann::json timeline = nlohmann::json::array();
  for (int rank = 0; rank < schedule.stages; ++rank) {
    nlohmann::json ops = nlohmann::json::array();
    for (const Instruction& instruction : schedule.ranks[rank]) {
      ops.push_back(InstructionJson(instruction));
    }
    nlohmann::json device = nlohmann::json::object();
    device["rank"] = rank;
    device["ops"] = std::move(ops);
    devices.push_back(std::move(device));
    nlohmann::json runs = nlohmann::json::array();
    for (const SimulatedInstruction& run : simulation.ranks[rank]) {
      nlohmann::json entry = InstructionJson(run.instruction);
      entry["start"] = run.start;
      entry["end"] = run.end;
      runs.push_back(std::move(entry));
    }
    nlohmann::json timed = nlohmann::json::object();
    timed["rank"] = rank;
    timed["ops"] = std::move(runs);
    timeline.push_back(std::move(timed));
  }
  nlohmann::json result = {{"kind", std::string(ScheduleKindName(schedule.kind))},
                           {"stages", schedule.stages},
                           {"micro_batches", schedule.micro_batches},
                           {"chunks", schedule.chunks},
                           {"costs",
                            {{"forward", costs.forward},
                             {"backward", costs.backward},
                             {"weight", costs.weight},
                             {"communication", costs.communication}}},
                           {"makespan", simulation.makespan},
                           {"bubble", simulation.bubble},
                           {"peak_in_flight", simulation.peak_in_flight},
                           {"peak_awaiting_backward", simulation.peak_awaiting_backward}};
  result["devices"] = std::move(devices);
  result["timeline"] = std::move(timeline);
  return result;
}

void PrintSchedule(const Schedule& schedule, const InstructionCosts& costs,
                   const Simulation& simulation, std::ostream& out) {
  const bool split = schedule.kind == ScheduleKind::kZbH1;
  out << ScheduleKindName(schedule.kind) << " schedule: " << schedule.stages << " stages";
  if (schedule.chunks > 1) out << " x " << schedule.chunks << " chunks";
  out << ", " << schedule.micro_batches << " micro-batches\n";
  out << "costs: F " << costs.forward << ", B "
      << (split ? costs.backward - costs.weight : costs.backward);
  if (split) out << ", W " << costs.weight;
  out << ", communication " << costs.communication << "\n";
  out << "instructions:\n";
  for (int rank = 0; rank < schedule.stages; ++rank) {
    std::vector<std::string> names;
    for (const Instruction& instruction : schedule.ranks[rank]) {
      names.push_back(InstructionToString(instruction, schedule.chunks));
    }
    out << "  rank " << rank << ": " << absl::StrJoin(names, " ") << "\n";
  }
  out << "timeline:\n" << RenderTimeline(simulation, schedule);
  out << "makespan " << simulation.makespan << ", bubble " << std::fixed << std::setprecision(4)
      << simulation.bubble << std::defaultfloat << " (" << std::setprecision(3)
      << simulation.bubble * 100 << "% idle)\n";
  out << "peak in flight per rank: " << absl::StrJoin(simulation.peak_in_flight, " ");
  if (split) {
    out << " (until W; until B: " << absl::StrJoin(simulation.peak_awaiting_backward, " ") << ")";
  }
  out << "\n";
}

absl::Status RunSchedule(const ScheduleCommandRequest& request, const CommandContext& context) {
  auto kind = ParseScheduleKind(request.kind);
  if (!kind.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--kind: ", kind.status().message()));
  }
  if (request.weight_cost_given && *kind != ScheduleKind::kZbH1) {
    return absl::InvalidArgumentError("--weight-cost applies only to --kind zb-h1");
  }
  const std::pair<const char*, double> costs[] = {
      {"--forward-cost", request.costs.forward},
      {"--backward-cost", request.costs.backward},
      {"--weight-cost", request.costs.weight},
      {"--communication-cost", request.costs.communication}};
  for (const auto& [flag, value] : costs) {
    if (!(value >= 0)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " must be >= 0, got ", value));
    }
  }
  if (*kind == ScheduleKind::kZbH1 && request.costs.weight > request.costs.backward) {
    return absl::InvalidArgumentError(
        absl::StrCat("--weight-cost ", request.costs.weight, " exceeds --backward-cost ",
                     request.costs.backward, " (B runs the backward minus the weight gradient)"));
  }
  ScheduleRequest schedule_request;
  schedule_request.kind = *kind;
  schedule_request.stages = request.stages;
  schedule_request.micro_batches = request.micro_batches;
  schedule_request.chunks =
      !request.chunks_given && *kind == ScheduleKind::kInterleaved ? 2 : request.chunks;
  SBP_ASSIGN_OR_RETURN(Schedule schedule, GenerateSchedule(schedule_request));
  auto simulation = SimulateSchedule(schedule, request.costs);
  if (!simulation.ok()) {
    // A generated schedule that fails its own check is our bug, not the user's.
    return absl::InternalError(
        absl::StrCat("generated schedule is invalid: ", simulation.status().message()));
  }
  if (request.json) {
    *context.out << ScheduleJson(schedule, request.costs, *simulation).dump(2) << "\n";
  } else {
    std::ostringstream out;
    PrintSchedule(schedule, request.costs, *simulation, out);
    *context.out << out.str();
  }
  return absl::OkStatus();
}

}  // namespace

void AddScheduleCommand(CLI::App& app, CommandAction* action) {
  auto request = std::make_shared<ScheduleCommandRequest>();
  CLI::App* schedule =
      app.add_subcommand("schedule", "Show a pipeline schedule, its timeline and bubble");
  schedule->add_option("--kind", request->kind, "gpipe, 1f1b, interleaved or zb-h1")->required();
  schedule->add_option("--stages", request->stages, "Pipeline ranks P")->required();
  schedule->add_option("--micro-batches", request->micro_batches, "Micro-batches M per step")
      ->required();
  CLI::Option* chunks =
      schedule->add_option("--chunks", request->chunks,
                           "Model chunks V per rank (interleaved: default 2; gpipe: default 1)");
  schedule->add_option("--forward-cost", request->costs.forward, "Time of one F of one chunk")
      ->capture_default_str();
  schedule
      ->add_option("--backward-cost", request->costs.backward,
                   "Time of one whole backward of one chunk (for zb-h1, B + W)")
      ->capture_default_str();
  CLI::Option* weight =
      schedule
          ->add_option("--weight-cost", request->costs.weight,
                       "zb-h1: time of one W; B takes the backward cost minus this")
          ->capture_default_str();
  schedule
      ->add_option("--communication-cost", request->costs.communication,
                   "Time from a send to its recv's data")
      ->capture_default_str();
  schedule->add_flag("--json", request->json, "One JSON object");
  schedule->callback([request, action, chunks, weight] {
    request->chunks_given = chunks->count() > 0;
    request->weight_cost_given = weight->count() > 0;
    *action = [request](const CommandContext& context) { return RunSchedule(*request, context); };
  });
}

}  // namespace sbpflow
