// The schedule simulator: checks a schedule's structure statically (every
// compute present once, in a legal order, every cross-rank dependency
// carried by a matched send/recv pair placed after its producer and before
// its consumer), then replays the ranks' lists to time them. Once the
// structure holds, the only way to fail at run time is a deadlock: a cycle
// of ranks each waiting in a recv whose send sits behind another wait.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/schedule.h"

namespace sbpflow {
namespace {

using Op = Instruction::Op;

// Where an instruction sits: rank and index in the rank's list.
struct Location {
  int rank = -1;
  int index = -1;
  bool found() const { return rank >= 0; }
};

class ScheduleChecker {
 public:
  explicit ScheduleChecker(const Schedule& schedule)
      : schedule_(schedule),
        last_stage_(schedule.stages * schedule.chunks - 1),
        units_(schedule.micro_batches * schedule.chunks),
        sends_(schedule.stages * units_ * 2) {}

  absl::Status Check() {
    for (int rank = 0; rank < schedule_.stages; ++rank) {
      if (absl::Status status = CheckRank(rank); !status.ok()) return status;
    }
    return CheckMatching();
  }

  // The position of each transfer's matching sender, filled by Check.
  const std::vector<Location>& sends() const { return sends_; }
  int TransferKey(int rank, const Instruction& instruction) const {
    return ((rank * schedule_.chunks + instruction.chunk) * schedule_.micro_batches +
            instruction.micro_batch) *
               2 +
           (instruction.gradient ? 1 : 0);
  }
  // The key under which the receiver of a send files its recv.
  int ReceiverKey(int rank, const Instruction& send) const {
    const int stage = schedule_.VirtualStage(rank, send.chunk) + (send.gradient ? -1 : 1);
    Instruction received = send;
    received.chunk = schedule_.ChunkOf(stage);
    return TransferKey(schedule_.RankOf(stage), received);
  }

 private:
  std::string Where(int rank, int index) const {
    return absl::StrCat("rank ", rank, " instruction ", index, " (",
                        InstructionToString(schedule_.ranks[rank][index], schedule_.chunks), ")");
  }
  std::string Name(Op op, int micro_batch, int chunk) const {
    Instruction instruction;
    instruction.op = op;
    instruction.micro_batch = micro_batch;
    instruction.chunk = chunk;
    return InstructionToString(instruction, schedule_.chunks);
  }
  int Unit(const Instruction& instruction) const {
    return instruction.chunk * schedule_.micro_batches + instruction.micro_batch;
  }

  // Ranges, peers and whether a transfer connects the right neighbours.
  absl::Status CheckFields(int rank, int index) const {
    const Instruction& instruction = schedule_.ranks[rank][index];
    if (instruction.micro_batch < 0 || instruction.micro_batch >= schedule_.micro_batches) {
      return absl::InvalidArgumentError(absl::StrCat(Where(rank, index), ": micro-batch ",
                                                     instruction.micro_batch, " is outside [0, ",
                                                     schedule_.micro_batches, ")"));
    }
    if (instruction.chunk < 0 || instruction.chunk >= schedule_.chunks) {
      return absl::InvalidArgumentError(absl::StrCat(Where(rank, index), ": chunk ",
                                                     instruction.chunk, " is outside [0, ",
                                                     schedule_.chunks, ")"));
    }
    if (instruction.op == Op::kWeight && schedule_.kind != ScheduleKind::kZbH1) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(rank, index), ": ", ScheduleKindName(schedule_.kind),
                       " does not split the backward (only zb-h1 has W)"));
    }
    if (instruction.op != Op::kSend && instruction.op != Op::kRecv) return absl::OkStatus();
    if (instruction.peer < 0 || instruction.peer >= schedule_.stages || instruction.peer == rank) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(rank, index), ": peer ", instruction.peer, " is not another rank"));
    }
    // A send of an activation and a recv of a gradient face the successor.
    const bool toward_successor = (instruction.op == Op::kSend) != instruction.gradient;
    const int stage = schedule_.VirtualStage(rank, instruction.chunk);
    const int neighbour = toward_successor ? stage + 1 : stage - 1;
    if (neighbour < 0 || neighbour > last_stage_) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(rank, index), ": virtual stage ", stage, " has no ",
                       toward_successor ? "successor" : "predecessor"));
    }
    if (schedule_.RankOf(neighbour) != instruction.peer) {
      return absl::InvalidArgumentError(
          absl::StrCat(Where(rank, index), ": virtual stage ", stage, "'s ",
                       toward_successor ? "successor" : "predecessor", " is on rank ",
                       schedule_.RankOf(neighbour), ", not rank ", instruction.peer));
    }
    return absl::OkStatus();
  }

  absl::Status CheckRank(int rank) {
    const std::vector<Instruction>& list = schedule_.ranks[rank];
    // First position of each unit's F, B, W and of each transfer.
    std::vector<int> forward(units_, -1), backward(units_, -1), weight(units_, -1);
    std::vector<int> send(units_ * 2, -1), recv(units_ * 2, -1);
    for (int index = 0; index < static_cast<int>(list.size()); ++index) {
      if (absl::Status status = CheckFields(rank, index); !status.ok()) return status;
      const Instruction& instruction = list[index];
      std::vector<int>* positions = nullptr;
      int slot = Unit(instruction);
      switch (instruction.op) {
        case Op::kForward:
          positions = &forward;
          break;
        case Op::kBackward:
          positions = &backward;
          break;
        case Op::kWeight:
          positions = &weight;
          break;
        case Op::kSend:
        case Op::kRecv:
          positions = instruction.op == Op::kSend ? &send : &recv;
          slot = slot * 2 + (instruction.gradient ? 1 : 0);
          break;
      }
      if ((*positions)[slot] >= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(rank, index), " repeats instruction ", (*positions)[slot]));
      }
      (*positions)[slot] = index;
    }
    const bool split = schedule_.kind == ScheduleKind::kZbH1;
    for (int chunk = 0; chunk < schedule_.chunks; ++chunk) {
      for (int mb = 0; mb < schedule_.micro_batches; ++mb) {
        const int unit = chunk * schedule_.micro_batches + mb;
        for (Op op : {Op::kForward, Op::kBackward, Op::kWeight}) {
          if (op == Op::kWeight && !split) continue;
          const std::vector<int>& positions =
              op == Op::kForward ? forward : (op == Op::kBackward ? backward : weight);
          if (positions[unit] < 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("rank ", rank, ": ", Name(op, mb, chunk), " is missing"));
          }
        }
      }
    }
    for (int index = 0; index < static_cast<int>(list.size()); ++index) {
      const Instruction& instruction = list[index];
      const int unit = Unit(instruction);
      if (instruction.op == Op::kBackward && forward[unit] > index) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(rank, index), " comes before its F (instruction ", forward[unit], ")"));
      }
      if (instruction.op == Op::kWeight && backward[unit] > index) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(rank, index), " comes before its B (instruction ", backward[unit], ")"));
      }
      if (instruction.op == Op::kSend) {
        const std::vector<int>& producer = instruction.gradient ? backward : forward;
        if (producer[unit] > index) {
          return absl::InvalidArgumentError(absl::StrCat(Where(rank, index), " comes before its ",
                                                         instruction.gradient ? "B" : "F",
                                                         " (instruction ", producer[unit], ")"));
        }
      }
      if (instruction.op == Op::kForward || instruction.op == Op::kBackward) {
        if (absl::Status status = CheckInput(rank, index, forward, backward, recv); !status.ok()) {
          return status;
        }
      }
      if (instruction.op == Op::kRecv) recvs_.push_back({rank, index});
      if (instruction.op == Op::kSend) sends_[ReceiverKey(rank, instruction)] = {rank, index};
    }
    return absl::OkStatus();
  }

  // An F needs its predecessor stage's activation, a B its successor's
  // gradient: through a recv placed before it when that stage is on another
  // rank, or by running after that stage's compute on this rank.
  absl::Status CheckInput(int rank, int index, const std::vector<int>& forward,
                          const std::vector<int>& backward, const std::vector<int>& recvs) {
    const Instruction& instruction = schedule_.ranks[rank][index];
    const bool is_forward = instruction.op == Op::kForward;
    const int stage = schedule_.VirtualStage(rank, instruction.chunk);
    const int source = is_forward ? stage - 1 : stage + 1;
    if (source < 0 || source > last_stage_) return absl::OkStatus();
    const int source_rank = schedule_.RankOf(source);
    if (source_rank == rank) {
      const int local =
          (is_forward ? forward : backward)[schedule_.ChunkOf(source) * schedule_.micro_batches +
                                            instruction.micro_batch];
      if (local > index) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(rank, index), " needs ",
            Name(instruction.op, instruction.micro_batch, schedule_.ChunkOf(source)),
            " of virtual stage ", source, ", which runs later (instruction ", local, ")"));
      }
      return absl::OkStatus();
    }
    const int recv = recvs[Unit(instruction) * 2 + (is_forward ? 0 : 1)];
    if (recv < 0 || recv > index) {
      Instruction expected;
      expected.op = Op::kRecv;
      expected.micro_batch = instruction.micro_batch;
      expected.chunk = instruction.chunk;
      expected.gradient = !is_forward;
      expected.peer = source_rank;
      return absl::InvalidArgumentError(
          absl::StrCat(Where(rank, index), " needs the ", is_forward ? "activation" : "gradient",
                       " of virtual stage ", source, " but no ",
                       InstructionToString(expected, schedule_.chunks), " precedes it"));
    }
    return absl::OkStatus();
  }

  // Every recv has its send. The converse needs no check: a send's receiver
  // runs the consumer exactly once (CheckRank), and that consumer needs a
  // recv of this very key before it.
  absl::Status CheckMatching() const {
    for (const Location& recv : recvs_) {
      const Instruction& instruction = schedule_.ranks[recv.rank][recv.index];
      if (!sends_[TransferKey(recv.rank, instruction)].found()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Where(recv.rank, recv.index), " has no matching send on rank ", instruction.peer));
      }
    }
    return absl::OkStatus();
  }

  const Schedule& schedule_;
  const int last_stage_;
  const int units_;
  std::vector<Location> sends_;  // by receiver key
  std::vector<Location> recvs_;
};

absl::Status CheckInputs(const Schedule& schedule, const InstructionCosts& costs) {
  if (schedule.stages < 1 || schedule.micro_batches < 1 || schedule.chunks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule needs stages, micro-batches and chunks >= 1, got ", schedule.stages,
                     ", ", schedule.micro_batches, ", ", schedule.chunks));
  }
  if (static_cast<int>(schedule.ranks.size()) != schedule.stages) {
    return absl::InvalidArgumentError(absl::StrCat("schedule has ", schedule.ranks.size(),
                                                   " rank lists for ", schedule.stages, " stages"));
  }
  const std::pair<const char*, double> named[] = {{"forward", costs.forward},
                                                  {"backward", costs.backward},
                                                  {"weight", costs.weight},
                                                  {"communication", costs.communication}};
  for (const auto& [name, value] : named) {
    if (!(value >= 0) || !std::isfinite(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " cost must be finite and >= 0, got ", value));
    }
  }
  if (schedule.kind == ScheduleKind::kZbH1 && costs.weight > costs.backward) {
    return absl::InvalidArgumentError(absl::StrCat("weight cost ", costs.weight,
                                                   " exceeds backward cost ", costs.backward,
                                                   " (zb-h1 runs B for backward - weight)"));
  }
  return absl::OkStatus();
}

double Cost(const Instruction& instruction, const InstructionCosts& costs, bool split) {
  switch (instruction.op) {
    case Op::kForward:
      return costs.forward;
    case Op::kBackward:
      return split ? costs.backward - costs.weight : costs.backward;
    case Op::kWeight:
      return costs.weight;
    default:
      return 0;
  }
}

std::string WaitDescription(const Schedule& schedule, int rank, int index) {
  const Instruction& recv = schedule.ranks[rank][index];
  return absl::StrCat("rank ", rank, " at instruction ", index, " waits for the ",
                      recv.gradient ? "gradient" : "activation", " of micro-batch ",
                      recv.micro_batch, " chunk ", recv.chunk, " (for ", recv.gradient ? "B" : "F",
                      ") from rank ", recv.peer);
}

}  // namespace

absl::StatusOr<Simulation> SimulateSchedule(const Schedule& schedule,
                                            const InstructionCosts& costs) {
  if (absl::Status status = CheckInputs(schedule, costs); !status.ok()) return status;
  ScheduleChecker checker(schedule);
  if (absl::Status status = checker.Check(); !status.ok()) return status;

  // Dataflow replay: a rank runs until it reaches a recv whose send has not
  // happened. Times depend only on each rank's order and the send times, so
  // sweeping the ranks until none advances gives the event-driven result.
  const int stages = schedule.stages;
  const bool split = schedule.kind == ScheduleKind::kZbH1;
  std::vector<double> arrival(checker.sends().size(), -1);
  std::vector<int> next(stages, 0);
  std::vector<double> clock(stages, 0);
  Simulation simulation;
  simulation.ranks.resize(stages);
  double busy = 0;
  for (bool advanced = true; advanced;) {
    advanced = false;
    for (int rank = 0; rank < stages; ++rank) {
      const std::vector<Instruction>& list = schedule.ranks[rank];
      for (; next[rank] < static_cast<int>(list.size()); ++next[rank]) {
        const Instruction& instruction = list[next[rank]];
        if (instruction.op == Op::kRecv) {
          const double at = arrival[checker.TransferKey(rank, instruction)];
          if (at < 0) break;
          clock[rank] = std::max(clock[rank], at);
        } else if (instruction.op == Op::kSend) {
          arrival[checker.ReceiverKey(rank, instruction)] = clock[rank] + costs.communication;
        } else {
          const double cost = Cost(instruction, costs, split);
          simulation.ranks[rank].push_back({instruction, clock[rank], clock[rank] + cost});
          clock[rank] += cost;
          busy += cost;
        }
        advanced = true;
      }
    }
  }
  std::vector<std::string> waits;
  for (int rank = 0; rank < stages; ++rank) {
    if (next[rank] < static_cast<int>(schedule.ranks[rank].size())) {
      waits.push_back(WaitDescription(schedule, rank, next[rank]));
    }
  }
  if (!waits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule deadlocks: ", absl::StrJoin(waits, "; ")));
  }

  simulation.makespan = *std::max_element(clock.begin(), clock.end());
  simulation.bubble = simulation.makespan > 0 ? 1 - busy / (stages * simulation.makespan) : 0;
  for (int rank = 0; rank < stages; ++rank) {
    int until_release = 0, until_backward = 0, peak = 0, peak_backward = 0;
    for (const Instruction& instruction : schedule.ranks[rank]) {
      if (instruction.op == Op::kForward) {
        peak = std::max(peak, ++until_release);
        peak_backward = std::max(peak_backward, ++until_backward);
      } else if (instruction.op == Op::kBackward) {
        --until_backward;
        if (!split) --until_release;
      } else if (instruction.op == Op::kWeight) {
        --until_release;
      }
    }
    simulation.peak_in_flight.push_back(peak);
    simulation.peak_awaiting_backward.push_back(peak_backward);
  }
  return simulation;
}

}  // namespace sbpflow
