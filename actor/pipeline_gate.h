// Pipeline gates: the per-micro-batch F, B and W kernels of each device run
// in the order of its pipeline rank's instruction list
// (PhysicalPlan::pipeline_schedule).
//
// A device's gate points at one instruction (phase, micro-batch, chunk); an
// op of that group may start that micro-batch's firing, other gated ops wait.
// When every op of the group on the device has fired for the micro-batch, the
// gate moves on. Instructions whose group has no op on the device are skipped.
// Collectives, accumulations, placeholders and per-step ops are not gated:
// they follow data (so communication overlaps compute), and registers bound
// how far they run ahead.
//
// Thread-safe: each device's gate has its own lock, taken while the caller
// holds an actor's lock (never the other way round).
#ifndef SBPFLOW_ACTOR_PIPELINE_GATE_H_
#define SBPFLOW_ACTOR_PIPELINE_GATE_H_

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/spin_lock.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

class PipelineGates {
 public:
  // Null when the plan has no pipeline schedule. Errors (InvalidArgument): an
  // op whose rank has no schedule, or a gated group missing an instruction
  // for some micro-batch ("rank 1 has no instruction for B of micro-batch 3,
  // chunk 0").
  static absl::StatusOr<std::unique_ptr<PipelineGates>> Create(const PhysicalPlan& plan);

  bool gated(int op) const { return group_of_[op] >= 0; }

  // Whether gated `op` may start firing `micro_batch` now.
  bool MayFire(int op, int micro_batch);

  // Records a finished firing of gated `op`. When that completes the
  // device's current instruction, the gate moves on and the ops of the next
  // instruction's group are returned (they may now be able to fire).
  std::vector<int> Finished(int op, int micro_batch);

  // Back to the first instruction on every device (a new step).
  void Reset();

  // For the watchdog: "rank 1 is at instruction 5 of 24: B micro-batch 2 chunk 0".
  std::string Describe(int op);

 private:
  struct Group {
    Phase phase = Phase::kForward;
    int chunk = 0;
    std::vector<int> ops;
  };
  struct alignas(64) DeviceGate {
    SpinLock mutex;
    int rank = 0;
    // The instructions with ops on this device, as indices into `groups`
    // with their micro-batch.
    std::vector<std::pair<int, int>> steps;
    std::vector<PipelineInstruction> instructions;
    size_t cursor = 0;
    int fired = 0;
    std::vector<Group> groups;
  };

  PipelineGates() = default;

  std::vector<int> group_of_;   // per op: its group on its device, or -1
  std::vector<int> device_of_;  // per op
  std::unique_ptr<DeviceGate[]> devices_;
  int num_devices_ = 0;
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_PIPELINE_GATE_H_
