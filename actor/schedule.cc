// Schedule generators: the compute order of every rank per kind, then the
// sends and receives that connect virtual stages living on different ranks.
//
// References:
// - GPipe: Huang et al., "GPipe: Efficient Training of Giant Neural Networks
//   using Pipeline Parallelism", NeurIPS 2019.
// - 1F1B: Narayanan et al., "Memory-Efficient Pipeline-Parallel DNN
//   Training" (PipeDream-Flush / 2BW), ICML 2021; Shoeybi et al.,
//   Megatron-LM.
// - interleaved: Narayanan et al., "Efficient Large-Scale Language Model
//   Training on GPU Clusters Using Megatron-LM", SC 2021, section 2.2.2, and
//   its implementation (forward_backward_pipelining_with_interleaving).
// - zb-h1: Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024,
//   section 2.1 and Figure 3 (top).
#include "actor/schedule.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

using Op = Instruction::Op;

// (micro-batch, chunk) of one compute instruction.
struct Work {
  int micro_batch = 0;
  int chunk = 0;
};

Instruction Compute(Op op, const Work& work) {
  Instruction instruction;
  instruction.op = op;
  instruction.micro_batch = work.micro_batch;
  instruction.chunk = work.chunk;
  return instruction;
}

absl::Status ValidateRequest(const ScheduleRequest& request) {
  if (request.stages < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--stages must be >= 1, got ", request.stages));
  }
  if (request.micro_batches < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--micro-batches must be >= 1, got ", request.micro_batches));
  }
  if (request.chunks < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--chunks must be >= 1, got ", request.chunks));
  }
  const std::pair<const char*, std::pair<int, int>> bounds[] = {
      {"--stages", {request.stages, kMaxScheduleStages}},
      {"--micro-batches", {request.micro_batches, kMaxScheduleMicroBatches}},
      {"--chunks", {request.chunks, kMaxScheduleChunks}}};
  for (const auto& [flag, value_and_bound] : bounds) {
    const auto [value, bound] = value_and_bound;
    if (value > bound) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " must be <= ", bound, ", got ", value));
    }
  }
  const int64_t instructions = ScheduleInstructionCount(request);
  if (instructions > kMaxScheduleInstructions) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stages ", request.stages, " x --micro-batches ", request.micro_batches,
                     " x --chunks ", request.chunks, " gives a schedule of ", instructions,
                     " instructions; at most ", kMaxScheduleInstructions, " are allowed"));
  }
  if (request.kind == ScheduleKind::kGPipe) return absl::OkStatus();  // any V
  if (request.kind != ScheduleKind::kInterleaved) {
    if (request.chunks != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("--chunks ", request.chunks, " needs the interleaved or gpipe schedule (",
                       ScheduleKindName(request.kind), " runs one chunk per stage)"));
    }
    return absl::OkStatus();
  }
  if (request.chunks < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("--chunks must be >= 2 for the interleaved schedule, got ", request.chunks));
  }
  // Megatron's ordering walks micro-batches in groups of P per chunk; with a
  // partial group the ranks would disagree on the order and deadlock.
  if (request.micro_batches % request.stages != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--micro-batches ", request.micro_batches, " must be a multiple of --stages ",
                     request.stages, " for the interleaved schedule"));
  }
  return absl::OkStatus();
}

// GPipe: every forward, then every backward (no memory bound: all M
// micro-batches stay in flight). With V chunks, the forwards go chunk by
// chunk (virtual stage order) and the backwards walk the chunks in reverse,
// so any M works; evaluation of an interleaved model runs this order.
std::vector<Instruction> GPipeOrder(int micro_batches, int chunks) {
  std::vector<Instruction> order;
  for (int chunk = 0; chunk < chunks; ++chunk) {
    for (int mb = 0; mb < micro_batches; ++mb) order.push_back(Compute(Op::kForward, {mb, chunk}));
  }
  for (int chunk = chunks - 1; chunk >= 0; --chunk) {
    for (int mb = 0; mb < micro_batches; ++mb) {
      order.push_back(Compute(Op::kBackward, {mb, chunk}));
    }
  }
  return order;
}

// 1F1B over `total` units: `warmup` forwards, then one forward and one
// backward alternately, then the remaining backwards. `forward_work` and
// `backward_work` map the k-th forward / backward to its (mb, chunk).
template <typename ForwardWork, typename BackwardWork>
std::vector<Instruction> OneForwardOneBackward(int total, int warmup, ForwardWork forward_work,
                                               BackwardWork backward_work) {
  std::vector<Instruction> order;
  for (int k = 0; k < warmup; ++k) order.push_back(Compute(Op::kForward, forward_work(k)));
  for (int k = 0; k < total - warmup; ++k) {
    order.push_back(Compute(Op::kForward, forward_work(warmup + k)));
    order.push_back(Compute(Op::kBackward, backward_work(k)));
  }
  for (int k = total - warmup; k < total; ++k) {
    order.push_back(Compute(Op::kBackward, backward_work(k)));
  }
  return order;
}

// PipeDream-Flush: rank r runs min(P - r - 1, M) warm-up forwards, so at
// most P - r micro-batches are in flight on rank r.
std::vector<Instruction> OneFOneBOrder(int rank, int stages, int micro_batches) {
  const int warmup = std::min(stages - rank - 1, micro_batches);
  auto plain = [](int k) { return Work{k, 0}; };
  return OneForwardOneBackward(micro_batches, warmup, plain, plain);
}

// Megatron's interleaved order: the k-th forward of a rank runs chunk
// (k mod P·V) / P of micro-batch (k / P·V)·P + k mod P, i.e. P micro-batches
// through chunk 0, the same P through chunk 1, ... then the next group;
// backwards walk the chunks in reverse. Warm-up is (P - r - 1)·2 + (V - 1)·P
// forwards, capped at M·V.
std::vector<Instruction> InterleavedOrder(int rank, int stages, int micro_batches, int chunks) {
  const int group = stages * chunks;
  auto work = [stages, chunks, group](int k, bool forward) {
    const int in_group = k % group;
    const int chunk = in_group / stages;
    return Work{(k / group) * stages + in_group % stages, forward ? chunk : chunks - 1 - chunk};
  };
  const int total = micro_batches * chunks;
  const int warmup = std::min((stages - rank - 1) * 2 + (chunks - 1) * stages, total);
  return OneForwardOneBackward(
      total, warmup, [&work](int k) { return work(k, /*forward=*/true); },
      [&work](int k) { return work(k, /*forward=*/false); });
}

// ZB-H1: F and B exactly as 1F1B (so B, on the critical path, starts as
// early as there), and W of micro-batch i right after B of micro-batch
// i + r. The ranks with fewer warm-up forwards defer more W's, so every rank
// holds the same number of micro-batches until W and the W's left over
// fill the cool-down, cutting the bubble to (P - 1)(F + B - W).
std::vector<Instruction> ZbH1Order(int rank, int stages, int micro_batches) {
  std::vector<Instruction> order;
  int next_weight = 0;
  for (const Instruction& instruction : OneFOneBOrder(rank, stages, micro_batches)) {
    order.push_back(instruction);
    if (instruction.op == Op::kBackward && instruction.micro_batch >= rank) {
      order.push_back(Compute(Op::kWeight, {next_weight++, 0}));
    }
  }
  while (next_weight < micro_batches) order.push_back(Compute(Op::kWeight, {next_weight++, 0}));
  return order;
}

Instruction Transfer(Op op, const Instruction& compute, bool gradient, int peer) {
  Instruction instruction;
  instruction.op = op;
  instruction.micro_batch = compute.micro_batch;
  instruction.chunk = compute.chunk;
  instruction.gradient = gradient;
  instruction.peer = peer;
  return instruction;
}

// Wraps each compute with the transfers its neighbours on other ranks need:
// a recv right before the consumer (as late as possible, so no rank waits
// for data it does not need yet) and a send right after the producer.
std::vector<Instruction> AddTransfers(const Schedule& schedule, int rank,
                                      const std::vector<Instruction>& order) {
  const int last_stage = schedule.stages * schedule.chunks - 1;
  std::vector<Instruction> result;
  for (const Instruction& compute : order) {
    const int stage = schedule.VirtualStage(rank, compute.chunk);
    const int previous = stage > 0 ? schedule.RankOf(stage - 1) : rank;
    const int next = stage < last_stage ? schedule.RankOf(stage + 1) : rank;
    if (compute.op == Op::kForward) {
      if (previous != rank) result.push_back(Transfer(Op::kRecv, compute, false, previous));
      result.push_back(compute);
      if (next != rank) result.push_back(Transfer(Op::kSend, compute, false, next));
    } else if (compute.op == Op::kBackward) {
      if (next != rank) result.push_back(Transfer(Op::kRecv, compute, true, next));
      result.push_back(compute);
      if (previous != rank) result.push_back(Transfer(Op::kSend, compute, true, previous));
    } else {
      result.push_back(compute);  // W stays on its rank
    }
  }
  return result;
}

}  // namespace

absl::StatusOr<ScheduleKind> ParseScheduleKind(absl::string_view text) {
  for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B, ScheduleKind::kInterleaved,
                            ScheduleKind::kZbH1}) {
    if (text == ScheduleKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown schedule '", text, "' (expected gpipe, 1f1b, interleaved or zb-h1)"));
}

absl::string_view ScheduleKindName(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kGPipe:
      return "gpipe";
    case ScheduleKind::k1F1B:
      return "1f1b";
    case ScheduleKind::kInterleaved:
      return "interleaved";
    case ScheduleKind::kZbH1:
      return "zb-h1";
  }
  LOG(FATAL) << "unknown ScheduleKind " << static_cast<int>(kind);
}

absl::string_view InstructionOpName(Instruction::Op op) {
  switch (op) {
    case Op::kForward:
      return "F";
    case Op::kBackward:
      return "B";
    case Op::kWeight:
      return "W";
    case Op::kSend:
      return "send";
    case Op::kRecv:
      return "recv";
  }
  LOG(FATAL) << "unknown Instruction::Op " << static_cast<int>(op);
}

std::string InstructionToString(const Instruction& instruction, int chunks) {
  auto work = [&instruction, chunks](absl::string_view letter) {
    return chunks > 1 ? absl::StrCat(letter, instruction.micro_batch, ".", instruction.chunk)
                      : absl::StrCat(letter, instruction.micro_batch);
  };
  switch (instruction.op) {
    case Op::kForward:
    case Op::kBackward:
    case Op::kWeight:
      return work(InstructionOpName(instruction.op));
    case Op::kSend:
      return absl::StrCat("send(", work(instruction.gradient ? "B" : "F"), "->r", instruction.peer,
                          ")");
    case Op::kRecv:
      return absl::StrCat("recv(", work(instruction.gradient ? "B" : "F"), "<-r", instruction.peer,
                          ")");
  }
  LOG(FATAL) << "unknown Instruction::Op " << static_cast<int>(instruction.op);
}

int64_t ScheduleInstructionCount(const ScheduleRequest& request) {
  const int64_t stages = request.stages;
  const int64_t micro_batches = request.micro_batches;
  const int64_t chunks = request.chunks;
  const int64_t per_unit = request.kind == ScheduleKind::kZbH1 ? 3 : 2;  // F, B (, W)
  // Every boundary between consecutive virtual stages lives on two ranks when
  // there are several: per micro-batch, a send and a recv of the activation
  // and of its gradient.
  const int64_t boundaries = stages > 1 ? stages * chunks - 1 : 0;
  return stages * micro_batches * chunks * per_unit + 4 * micro_batches * boundaries;
}

absl::StatusOr<Schedule> GenerateSchedule(const ScheduleRequest& request) {
  absl::Status valid = ValidateRequest(request);
  if (!valid.ok()) return valid;
  Schedule schedule;
  schedule.kind = request.kind;
  schedule.stages = request.stages;
  schedule.micro_batches = request.micro_batches;
  schedule.chunks = request.chunks;
  for (int rank = 0; rank < request.stages; ++rank) {
    std::vector<Instruction> order;
    switch (request.kind) {
      case ScheduleKind::kGPipe:
        order = GPipeOrder(request.micro_batches, request.chunks);
        break;
      case ScheduleKind::k1F1B:
        order = OneFOneBOrder(rank, request.stages, request.micro_batches);
        break;
      case ScheduleKind::kInterleaved:
        order = InterleavedOrder(rank, request.stages, request.micro_batches, request.chunks);
        break;
      case ScheduleKind::kZbH1:
        order = ZbH1Order(rank, request.stages, request.micro_batches);
        break;
    }
    schedule.ranks.push_back(AddTransfers(schedule, rank, order));
  }
  return schedule;
}

}  // namespace sbpflow
