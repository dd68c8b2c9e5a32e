// The watchdog's report: for every actor that has not finished its firings
// this step, what its next firing waits for. Written for a person debugging a
// stuck plan (a collective whose peers never arrive, a register cycle), so it
// names ops, inputs and registers rather than internal indices.
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/actor_runtime.h"

namespace sbpflow {

std::string ActorRuntime::WaitReport() const {
  std::vector<std::string> lines;
  const int num_actors = static_cast<int>(plan_->ops.size());
  for (int actor = 0; actor < num_actors; ++actor) {
    const PlanOp& op = plan_->ops[actor];
    const ActorWiring& wiring = graph_.actors[actor];
    ActorState& state = states_[actor];
    std::lock_guard<SpinLock> lock(state.mutex);
    const int firing = state.next_firing;
    if (firing >= wiring.firings) continue;
    const std::string prefix = absl::StrCat(
        "op '", op.name, "' (", plan_->devices[op.device].ToString(), ") piece ", firing, ": ");
    const bool communication = wiring.lane == LaneKind::kCommunication;
    if (state.in_flight) {
      const int activity = state.activity.load(std::memory_order_relaxed);
      if (activity == kRunning) {
        lines.push_back(communication ? absl::StrCat(prefix, "waits for collective '",
                                                     op.collective.key, "' to complete")
                                      : absl::StrCat(prefix, "is running"));
      } else {
        lines.push_back(absl::StrCat(prefix, "is ready and waits for its ",
                                     communication ? "communication" : "compute", " lane"));
      }
      continue;
    }
    const size_t before = lines.size();
    for (size_t position = 0; position < wiring.inputs.size(); ++position) {
      const InputEdge& edge = wiring.inputs[position];
      const int piece = InputPiece(edge, firing);
      if (state.ready[position] <= piece) {
        lines.push_back(absl::StrCat(prefix, "waits for input ", position, " from '",
                                     plan_->ops[edge.producer].name, "'"));
      } else if (edge.is_mutable && !state.exclusive[position][piece]) {
        lines.push_back(absl::StrCat(prefix, "waits for other readers of input ", position));
      }
    }
    for (size_t position = 0; position < wiring.control_producers.size(); ++position) {
      const int producer = wiring.control_producers[position];
      const int needed =
          RequiredControlTokens(graph_.actors[producer].emissions, wiring.firings, firing);
      if (state.control_tokens[position] < needed) {
        lines.push_back(
            absl::StrCat(prefix, "waits for control input from '", plan_->ops[producer].name, "'"));
      }
    }
    if (op.kind != PlanOpKind::kAccumulate || firing == 0) {
      for (size_t output = 0; output < state.outputs.size(); ++output) {
        const int in_use = state.outputs[output].in_use;
        if (in_use >= op.registers) {
          lines.push_back(absl::StrCat(prefix, "waits for a free register of output ", output, " (",
                                       in_use, " in use)"));
        }
      }
    }
    if (lines.size() == before && pipeline_ != nullptr && pipeline_->gated(actor)) {
      lines.push_back(absl::StrCat(prefix, "waits for its turn in the pipeline schedule (",
                                   pipeline_->Describe(actor), ")"));
    }
    if (lines.size() == before) lines.push_back(absl::StrCat(prefix, "was never scheduled"));
  }
  return absl::StrJoin(lines, "\n");
}

}  // namespace sbpflow
