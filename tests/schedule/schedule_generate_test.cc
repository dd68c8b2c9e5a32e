// Schedule generators: kind names, request errors, exact instruction lists of
// small schedules, and counts, warm-ups and orders over the whole grid
// P <= 8, M <= 32, V <= 4.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/schedule.h"
#include "glog/logging.h"
#include "gtest/gtest.h"

namespace sbpflow {
namespace {

using Op = Instruction::Op;

Schedule Generate(ScheduleKind kind, int stages, int micro_batches, int chunks = 1) {
  absl::StatusOr<Schedule> schedule = GenerateSchedule({kind, stages, micro_batches, chunks});
  CHECK(schedule.ok()) << schedule.status();
  return *std::move(schedule);
}

// One rank's list as text; `compute_only` drops sends and recvs.
std::string Listing(const Schedule& schedule, int rank, bool compute_only = false) {
  std::vector<std::string> names;
  for (const Instruction& instruction : schedule.ranks[rank]) {
    if (compute_only && (instruction.op == Op::kSend || instruction.op == Op::kRecv)) continue;
    names.push_back(InstructionToString(instruction, schedule.chunks));
  }
  return absl::StrJoin(names, " ");
}

// Every (kind, P, M, V) of the grid the simulator tests also walk.
struct Config {
  ScheduleKind kind;
  int stages;
  int micro_batches;
  int chunks;
};

std::vector<Config> Grid() {
  std::vector<Config> grid;
  for (int stages = 1; stages <= 8; ++stages) {
    for (int micro_batches = 1; micro_batches <= 32; ++micro_batches) {
      for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B, ScheduleKind::kZbH1}) {
        grid.push_back({kind, stages, micro_batches, 1});
      }
      if (micro_batches % stages != 0) continue;
      for (int chunks = 2; chunks <= 4; ++chunks) {
        grid.push_back({ScheduleKind::kInterleaved, stages, micro_batches, chunks});
      }
    }
  }
  return grid;
}

std::string Describe(const Config& config) {
  return absl::StrCat(ScheduleKindName(config.kind), " P=", config.stages,
                      " M=", config.micro_batches, " V=", config.chunks);
}

TEST(ScheduleKindTest, NamesRoundTrip) {
  for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B, ScheduleKind::kInterleaved,
                            ScheduleKind::kZbH1}) {
    absl::StatusOr<ScheduleKind> parsed = ParseScheduleKind(ScheduleKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ScheduleKindName(ScheduleKind::kZbH1), "zb-h1");
  EXPECT_EQ(ParseScheduleKind("zb-h2").status(),
            absl::InvalidArgumentError(
                "unknown schedule 'zb-h2' (expected gpipe, 1f1b, interleaved or zb-h1)"));
}

TEST(InstructionTest, Names) {
  EXPECT_EQ(InstructionOpName(Op::kForward), "F");
  EXPECT_EQ(InstructionOpName(Op::kBackward), "B");
  EXPECT_EQ(InstructionOpName(Op::kWeight), "W");
  EXPECT_EQ(InstructionOpName(Op::kSend), "send");
  EXPECT_EQ(InstructionOpName(Op::kRecv), "recv");
  Instruction recv{Op::kRecv, 3, 1, /*gradient=*/true, /*peer=*/2};
  EXPECT_EQ(InstructionToString(recv, 2), "recv(B3.1<-r2)");
  Instruction send{Op::kSend, 3, 0, /*gradient=*/false, /*peer=*/1};
  EXPECT_EQ(InstructionToString(send, 1), "send(F3->r1)");
  EXPECT_EQ(InstructionToString(Instruction{Op::kWeight, 12, 0}, 1), "W12");
}

TEST(GenerateScheduleTest, InvalidRequests) {
  struct Case {
    ScheduleRequest request;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{ScheduleKind::k1F1B, 0, 4, 1}, "--stages must be >= 1, got 0"},
      {{ScheduleKind::kGPipe, 4, 0, 1}, "--micro-batches must be >= 1, got 0"},
      {{ScheduleKind::kInterleaved, 4, 8, 0}, "--chunks must be >= 1, got 0"},
      {{ScheduleKind::k1F1B, 4, 8, 2},
       "--chunks 2 needs the interleaved or gpipe schedule (1f1b runs one chunk per stage)"},
      {{ScheduleKind::kZbH1, 4, 8, 3},
       "--chunks 3 needs the interleaved or gpipe schedule (zb-h1 runs one chunk per stage)"},
      {{ScheduleKind::kInterleaved, 4, 8, 1},
       "--chunks must be >= 2 for the interleaved schedule, got 1"},
      {{ScheduleKind::kInterleaved, 4, 6, 2},
       "--micro-batches 6 must be a multiple of --stages 4 for the interleaved schedule"},
      {{ScheduleKind::kInterleaved, 4, 2, 3},
       "--micro-batches 2 must be a multiple of --stages 4 for the interleaved schedule"},
      // Bounds: a schedule is materialized, so its size is capped before
      // anything is allocated.
      {{ScheduleKind::k1F1B, 100000, 100000, 1}, "--stages must be <= 1024, got 100000"},
      {{ScheduleKind::k1F1B, 4, 100000, 1}, "--micro-batches must be <= 65536, got 100000"},
      {{ScheduleKind::kGPipe, 4, 8, 65}, "--chunks must be <= 64, got 65"},
      {{ScheduleKind::k1F1B, 1000, 1000, 1},
       "--stages 1000 x --micro-batches 1000 x --chunks 1 gives a schedule of 5996000 "
       "instructions; at most 1000000 are allowed"},
      {{ScheduleKind::kInterleaved, 1024, 65536, 64},
       "--stages 1024 x --micro-batches 65536 x --chunks 64 gives a schedule of 25769541632 "
       "instructions; at most 1000000 are allowed"},
  };
  for (const Case& test : cases) {
    EXPECT_EQ(GenerateSchedule(test.request).status(), absl::InvalidArgumentError(test.message));
  }
}

TEST(GenerateScheduleTest, OneFOneBTwoStagesExact) {
  Schedule schedule = Generate(ScheduleKind::k1F1B, 2, 3);
  EXPECT_EQ(Listing(schedule, 0),
            "F0 send(F0->r1) F1 send(F1->r1) recv(B0<-r1) B0 F2 send(F2->r1) recv(B1<-r1) B1 "
            "recv(B2<-r1) B2");
  EXPECT_EQ(Listing(schedule, 1),
            "recv(F0<-r0) F0 B0 send(B0->r0) recv(F1<-r0) F1 B1 send(B1->r0) recv(F2<-r0) F2 B2 "
            "send(B2->r0)");
  // The peer and payload are fields, not only text.
  const Instruction& send = schedule.ranks[1][3];
  EXPECT_EQ(send, (Instruction{Op::kSend, 0, 0, /*gradient=*/true, /*peer=*/0}));
}

TEST(GenerateScheduleTest, GPipeExact) {
  Schedule schedule = Generate(ScheduleKind::kGPipe, 2, 2);
  EXPECT_EQ(Listing(schedule, 0),
            "F0 send(F0->r1) F1 send(F1->r1) recv(B0<-r1) B0 recv(B1<-r1) B1");
  EXPECT_EQ(Listing(schedule, 1),
            "recv(F0<-r0) F0 recv(F1<-r0) F1 B0 send(B0->r0) B1 send(B1->r0)");
}

// With chunks, GPipe runs every micro-batch through chunk 0, then chunk 1;
// backwards in reverse chunk order. M need not be a multiple of P.
TEST(GenerateScheduleTest, GPipeWithChunksExact) {
  Schedule schedule = Generate(ScheduleKind::kGPipe, 2, 1, 2);
  EXPECT_EQ(Listing(schedule, 0),
            "F0.0 send(F0.0->r1) recv(F0.1<-r1) F0.1 send(F0.1->r1) recv(B0.1<-r1) B0.1 "
            "send(B0.1->r1) recv(B0.0<-r1) B0.0");
  EXPECT_EQ(Listing(schedule, 1),
            "recv(F0.0<-r0) F0.0 send(F0.0->r0) recv(F0.1<-r0) F0.1 B0.1 send(B0.1->r0) "
            "recv(B0.0<-r0) B0.0 send(B0.0->r0)");
}

// Rank 0 warms up with all 4 (micro-batch, chunk) pairs; rank 1 with 2.
// Chunk 0 of rank 0 is virtual stage 0 (no recv before F), chunk 1 of rank
// 1 is the last stage (no send after F, no recv before B).
TEST(GenerateScheduleTest, InterleavedTwoStagesExact) {
  Schedule schedule = Generate(ScheduleKind::kInterleaved, 2, 2, 2);
  EXPECT_EQ(Listing(schedule, 0),
            "F0.0 send(F0.0->r1) F1.0 send(F1.0->r1) recv(F0.1<-r1) F0.1 send(F0.1->r1) "
            "recv(F1.1<-r1) F1.1 send(F1.1->r1) recv(B0.1<-r1) B0.1 send(B0.1->r1) "
            "recv(B1.1<-r1) B1.1 send(B1.1->r1) recv(B0.0<-r1) B0.0 recv(B1.0<-r1) B1.0");
  EXPECT_EQ(Listing(schedule, 1),
            "recv(F0.0<-r0) F0.0 send(F0.0->r0) recv(F1.0<-r0) F1.0 send(F1.0->r0) "
            "recv(F0.1<-r0) F0.1 B0.1 send(B0.1->r0) recv(F1.1<-r0) F1.1 B1.1 send(B1.1->r0) "
            "recv(B0.0<-r0) B0.0 send(B0.0->r0) recv(B1.0<-r0) B1.0 send(B1.0->r0)");
}

// Megatron's order: micro-batches in groups of P through chunk 0, then the
// same group through chunk 1; backwards walk the chunks in reverse.
TEST(GenerateScheduleTest, InterleavedMegatronOrder) {
  Schedule schedule = Generate(ScheduleKind::kInterleaved, 2, 4, 2);
  // Rank 1 warms up with (2 - 1 - 1)·2 + (2 - 1)·2 = 2 forwards.
  EXPECT_EQ(Listing(schedule, 1, /*compute_only=*/true),
            "F0.0 F1.0 F0.1 B0.1 F1.1 B1.1 F2.0 B0.0 F3.0 B1.0 F2.1 B2.1 F3.1 B3.1 B2.0 B3.0");
}

// Qi et al., Figure 3 (top): rank r runs W of micro-batch i right after B of
// micro-batch i + r; the W's left over close the list.
TEST(GenerateScheduleTest, ZbH1MatchesPaperFigure) {
  Schedule schedule = Generate(ScheduleKind::kZbH1, 4, 8);
  EXPECT_EQ(Listing(schedule, 0, true),
            "F0 F1 F2 F3 B0 W0 F4 B1 W1 F5 B2 W2 F6 B3 W3 F7 B4 W4 B5 W5 B6 W6 B7 W7");
  EXPECT_EQ(Listing(schedule, 1, true),
            "F0 F1 F2 B0 F3 B1 W0 F4 B2 W1 F5 B3 W2 F6 B4 W3 F7 B5 W4 B6 W5 B7 W6 W7");
  EXPECT_EQ(Listing(schedule, 3, true),
            "F0 B0 F1 B1 F2 B2 F3 B3 W0 F4 B4 W1 F5 B5 W2 F6 B6 W3 F7 B7 W4 W5 W6 W7");
  // Fewer micro-batches than stages: every W follows the last B.
  EXPECT_EQ(Listing(Generate(ScheduleKind::kZbH1, 4, 2), 3, true), "F0 B0 F1 B1 W0 W1");
}

TEST(GenerateScheduleTest, OneStageNeedsNoTransfers) {
  EXPECT_EQ(Listing(Generate(ScheduleKind::k1F1B, 1, 2), 0), "F0 B0 F1 B1");
  EXPECT_EQ(Listing(Generate(ScheduleKind::kInterleaved, 1, 2, 2), 0),
            "F0.0 F0.1 B0.1 F1.0 B0.0 F1.1 B1.1 B1.0");
}

// Per rank: M·V each of F and B, M W's for zb-h1 only, and one send and
// one recv per (micro-batch, chunk) and direction whose neighbour stage is
// on another rank.
TEST(GenerateScheduleTest, InstructionCountsOverGrid) {
  for (const Config& config : Grid()) {
    SCOPED_TRACE(Describe(config));
    Schedule schedule = Generate(config.kind, config.stages, config.micro_batches, config.chunks);
    ASSERT_EQ(static_cast<int>(schedule.ranks.size()), config.stages);
    int64_t instructions = 0;
    for (const auto& rank : schedule.ranks) instructions += static_cast<int64_t>(rank.size());
    EXPECT_EQ(
        ScheduleInstructionCount({config.kind, config.stages, config.micro_batches, config.chunks}),
        instructions);
    const int units = config.micro_batches * config.chunks;
    for (int rank = 0; rank < config.stages; ++rank) {
      std::vector<int> counts(5, 0);
      for (const Instruction& instruction : schedule.ranks[rank]) {
        ++counts[static_cast<int>(instruction.op)];
      }
      const int transfers = config.stages == 1
                                ? 0
                                : config.micro_batches * (2 * config.chunks - (rank == 0 ? 1 : 0) -
                                                          (rank == config.stages - 1 ? 1 : 0));
      EXPECT_EQ(counts[static_cast<int>(Op::kForward)], units) << "rank " << rank;
      EXPECT_EQ(counts[static_cast<int>(Op::kBackward)], units) << "rank " << rank;
      EXPECT_EQ(counts[static_cast<int>(Op::kWeight)],
                config.kind == ScheduleKind::kZbH1 ? config.micro_batches : 0)
          << "rank " << rank;
      EXPECT_EQ(counts[static_cast<int>(Op::kSend)], transfers) << "rank " << rank;
      EXPECT_EQ(counts[static_cast<int>(Op::kRecv)], transfers) << "rank " << rank;
    }
  }
}

// Warm-up forwards w_r: M for GPipe; min(P - r - 1, M) for 1F1B and zb-h1;
// min((P - r - 1)·2 + (V - 1)·P, M·V) for interleaved. The first steady
// 1F1B step is also an F, so exactly min(w_r + 1, M·V) forwards precede the
// first B (all of them when the warm-up already holds every forward).
TEST(GenerateScheduleTest, WarmupCountsOverGrid) {
  for (const Config& config : Grid()) {
    SCOPED_TRACE(Describe(config));
    Schedule schedule = Generate(config.kind, config.stages, config.micro_batches, config.chunks);
    const int stages = config.stages;
    const int total = config.micro_batches * config.chunks;
    for (int rank = 0; rank < stages; ++rank) {
      int before_first_backward = 0;
      for (const Instruction& instruction : schedule.ranks[rank]) {
        if (instruction.op == Op::kBackward) break;
        if (instruction.op == Op::kForward) ++before_first_backward;
      }
      int warmup = 0;
      switch (config.kind) {
        case ScheduleKind::kGPipe:
          warmup = config.micro_batches;
          break;
        case ScheduleKind::k1F1B:
        case ScheduleKind::kZbH1:
          warmup = std::min(stages - rank - 1, config.micro_batches);
          break;
        case ScheduleKind::kInterleaved:
          warmup = std::min((stages - rank - 1) * 2 + (config.chunks - 1) * stages, total);
          break;
      }
      EXPECT_EQ(before_first_backward, std::min(warmup + 1, total)) << "rank " << rank;
    }
  }
  // Spelled out for P = 4, M = 8: 1F1B warms up 3, 2, 1, 0 forwards.
  Schedule schedule = Generate(ScheduleKind::k1F1B, 4, 8);
  EXPECT_EQ(Listing(schedule, 2, /*compute_only=*/true).substr(0, 12), "F0 F1 B0 F2 ");
  EXPECT_EQ(Listing(schedule, 3, /*compute_only=*/true).substr(0, 12), "F0 B0 F1 B1 ");
}

// In each rank's list every B follows its F and every W its B.
TEST(GenerateScheduleTest, BackwardAfterForwardOverGrid) {
  for (const Config& config : Grid()) {
    SCOPED_TRACE(Describe(config));
    Schedule schedule = Generate(config.kind, config.stages, config.micro_batches, config.chunks);
    const int units = config.micro_batches * config.chunks;
    for (int rank = 0; rank < config.stages; ++rank) {
      std::vector<int> forwards(units, 0), backwards(units, 0), weights(units, 0);
      for (const Instruction& instruction : schedule.ranks[rank]) {
        const int unit = instruction.chunk * config.micro_batches + instruction.micro_batch;
        if (instruction.op == Op::kForward) ++forwards[unit];
        if (instruction.op == Op::kBackward) {
          EXPECT_EQ(forwards[unit], 1)
              << "rank " << rank << " " << InstructionToString(instruction, config.chunks);
          ++backwards[unit];
        }
        if (instruction.op == Op::kWeight) {
          EXPECT_EQ(backwards[unit], 1)
              << "rank " << rank << " " << InstructionToString(instruction, config.chunks);
          ++weights[unit];
        }
      }
      const int expected_weights = config.kind == ScheduleKind::kZbH1 ? 1 : 0;
      for (int unit = 0; unit < units; ++unit) {
        EXPECT_EQ(forwards[unit], 1);
        EXPECT_EQ(backwards[unit], 1);
        EXPECT_EQ(weights[unit], expected_weights);
      }
    }
  }
}

}  // namespace
}  // namespace sbpflow
