// Schedule simulator: every generated schedule over the grid P <= 8, M <= 32,
// V <= 4 is valid and deadlock-free; in-flight bounds and bubble fractions
// match their closed forms; hand-broken schedules fail with exact messages.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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

Simulation Simulate(const Schedule& schedule, const InstructionCosts& costs) {
  absl::StatusOr<Simulation> simulation = SimulateSchedule(schedule, costs);
  CHECK(simulation.ok()) << simulation.status();
  return *std::move(simulation);
}

InstructionCosts Costs(double forward, double backward, double weight = 0,
                       double communication = 0) {
  InstructionCosts costs;
  costs.forward = forward;
  costs.backward = backward;
  costs.weight = weight;
  costs.communication = communication;
  return costs;
}

// Per-rank idle time: makespan minus one rank's compute.
double IdleTime(const Simulation& simulation, double busy_per_rank) {
  return simulation.makespan - busy_per_rank;
}

Instruction F(int micro_batch, int chunk = 0) { return {Op::kForward, micro_batch, chunk}; }
Instruction B(int micro_batch, int chunk = 0) { return {Op::kBackward, micro_batch, chunk}; }
Instruction W(int micro_batch) { return {Op::kWeight, micro_batch, 0}; }
Instruction Send(int micro_batch, bool gradient, int peer) {
  return {Op::kSend, micro_batch, 0, gradient, peer};
}
Instruction Recv(int micro_batch, bool gradient, int peer) {
  return {Op::kRecv, micro_batch, 0, gradient, peer};
}

Schedule HandMade(ScheduleKind kind, int micro_batches,
                  std::vector<std::vector<Instruction>> ranks) {
  Schedule schedule;
  schedule.kind = kind;
  schedule.stages = static_cast<int>(ranks.size());
  schedule.micro_batches = micro_batches;
  schedule.ranks = std::move(ranks);
  return schedule;
}

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
      for (int chunks = 2; chunks <= 4; ++chunks) {
        grid.push_back({ScheduleKind::kGPipe, stages, micro_batches, chunks});
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

// Structure and deadlock-freedom of every generated schedule, with instant
// and with slow links; the peak in-flight counts match their closed forms:
// GPipe M·V; 1F1B min(P - r, M) (PipeDream-Flush's P - r bound); interleaved
// min(w_r + 1, M·V) with Megatron's warm-up w_r; zb-h1 min(P - r, M) until
// B and min(P, M) until W (1F1B's peak, rank 0's, on every rank).
TEST(SimulateScheduleTest, GridIsValidAndBounded) {
  for (const Config& config : Grid()) {
    SCOPED_TRACE(Describe(config));
    Schedule schedule = Generate(config.kind, config.stages, config.micro_batches, config.chunks);
    for (double communication : {0.0, 0.37}) {
      absl::StatusOr<Simulation> simulation =
          SimulateSchedule(schedule, Costs(1, 2, 1, communication));
      ASSERT_TRUE(simulation.ok()) << simulation.status();
      ASSERT_EQ(static_cast<int>(simulation->peak_in_flight.size()), config.stages);
      const int stages = config.stages;
      const int micro_batches = config.micro_batches;
      for (int rank = 0; rank < stages; ++rank) {
        int until_release = 0;
        int until_backward = std::min(stages - rank, micro_batches);
        switch (config.kind) {
          case ScheduleKind::kGPipe:
            until_release = until_backward = micro_batches * config.chunks;
            break;
          case ScheduleKind::k1F1B:
            until_release = until_backward;
            EXPECT_LE(until_release, stages - rank);
            break;
          case ScheduleKind::kInterleaved:
            until_release = until_backward =
                std::min((stages - rank - 1) * 2 + (config.chunks - 1) * stages + 1,
                         micro_batches * config.chunks);
            break;
          case ScheduleKind::kZbH1:
            until_release = std::min(stages, micro_batches);
            break;
        }
        EXPECT_EQ(simulation->peak_in_flight[rank], until_release) << "rank " << rank;
        EXPECT_EQ(simulation->peak_awaiting_backward[rank], until_backward) << "rank " << rank;
      }
    }
  }
}

// GPipe and 1F1B with F = 1, B = 2: makespan (M + P - 1)·3, so the bubble
// is exactly (P - 1) / (M + P - 1) (GPipe paper; Narayanan et al. 2021).
TEST(SimulateScheduleTest, GPipeAndOneFOneBBubble) {
  for (ScheduleKind kind : {ScheduleKind::kGPipe, ScheduleKind::k1F1B}) {
    for (int stages = 1; stages <= 8; ++stages) {
      for (int micro_batches = 1; micro_batches <= 32; ++micro_batches) {
        SCOPED_TRACE(absl::StrCat(ScheduleKindName(kind), " P=", stages, " M=", micro_batches));
        Simulation simulation = Simulate(Generate(kind, stages, micro_batches), Costs(1, 2));
        EXPECT_DOUBLE_EQ(simulation.makespan, 3.0 * (micro_batches + stages - 1));
        EXPECT_NEAR(simulation.bubble,
                    static_cast<double>(stages - 1) / (micro_batches + stages - 1), 1e-12);
      }
    }
  }
}

// Interleaved with per-chunk costs F = 1/V, B = 2/V (the same model cut in V
// chunks): each rank idles (P - 1)·3 / V, 1F1B's idle time divided by V
// (Megatron, section 2.2.2), so the bubble is (P - 1) / (M·V + P - 1).
TEST(SimulateScheduleTest, InterleavedDividesBubbleByChunks) {
  for (int stages = 1; stages <= 8; ++stages) {
    for (int micro_batches = stages; micro_batches <= 32; micro_batches += stages) {
      for (int chunks = 2; chunks <= 4; ++chunks) {
        SCOPED_TRACE(absl::StrCat("P=", stages, " M=", micro_batches, " V=", chunks));
        Simulation interleaved =
            Simulate(Generate(ScheduleKind::kInterleaved, stages, micro_batches, chunks),
                     Costs(1.0 / chunks, 2.0 / chunks));
        Simulation one_f_one_b =
            Simulate(Generate(ScheduleKind::k1F1B, stages, micro_batches), Costs(1, 2));
        EXPECT_NEAR(IdleTime(interleaved, 3.0 * micro_batches),
                    IdleTime(one_f_one_b, 3.0 * micro_batches) / chunks, 1e-9);
        EXPECT_NEAR(interleaved.bubble,
                    static_cast<double>(stages - 1) / (micro_batches * chunks + stages - 1), 1e-12);
        if (stages > 1) {
          EXPECT_LT(interleaved.bubble, one_f_one_b.bubble);
        }
      }
    }
  }
  // The headline case: P = 4, M = 8, V = 2 idles 3/19 of the time, 1F1B 3/11.
  EXPECT_NEAR(Simulate(Generate(ScheduleKind::kInterleaved, 4, 8, 2), Costs(1, 2)).bubble, 3.0 / 19,
              1e-12);
}

// ZB-H1 with F = B = W = 1 (a whole backward costs 2, as in the 1F1B runs):
// for M >= P each rank idles P - 1, a third of 1F1B's 3(P - 1), i.e. the
// paper's (P - 1)(T_F + T_B - T_W) against (P - 1)(T_F + T_B + T_W) (Qi et
// al., Table 2), so the bubble is (P - 1) / (3M + P - 1). With M < P it is
// still below 1F1B's.
TEST(SimulateScheduleTest, ZbH1CutsBubbleToAThird) {
  for (int stages = 1; stages <= 8; ++stages) {
    for (int micro_batches = 1; micro_batches <= 32; ++micro_batches) {
      SCOPED_TRACE(absl::StrCat("P=", stages, " M=", micro_batches));
      Simulation zero_bubble =
          Simulate(Generate(ScheduleKind::kZbH1, stages, micro_batches), Costs(1, 2, 1));
      Simulation one_f_one_b =
          Simulate(Generate(ScheduleKind::k1F1B, stages, micro_batches), Costs(1, 2));
      if (micro_batches >= stages) {
        EXPECT_NEAR(IdleTime(zero_bubble, 3.0 * micro_batches),
                    IdleTime(one_f_one_b, 3.0 * micro_batches) / 3, 1e-9);
        EXPECT_NEAR(zero_bubble.bubble,
                    static_cast<double>(stages - 1) / (3 * micro_batches + stages - 1), 1e-12);
      } else {
        EXPECT_LT(zero_bubble.bubble, one_f_one_b.bubble);
      }
    }
  }
}

TEST(SimulateScheduleTest, TimesWithCommunication) {
  // Rank 1's F waits for rank 0's F plus the link; rank 0's B for rank 1's B
  // plus the link.
  Schedule schedule = Generate(ScheduleKind::k1F1B, 2, 1);
  Simulation simulation = Simulate(schedule, Costs(1, 2, 0, 0.5));
  ASSERT_EQ(simulation.ranks[0].size(), 2u);
  ASSERT_EQ(simulation.ranks[1].size(), 2u);
  EXPECT_EQ(simulation.ranks[0][0].instruction, F(0));
  EXPECT_DOUBLE_EQ(simulation.ranks[0][0].end, 1);
  EXPECT_DOUBLE_EQ(simulation.ranks[1][0].start, 1.5);
  EXPECT_DOUBLE_EQ(simulation.ranks[1][1].start, 2.5);
  EXPECT_DOUBLE_EQ(simulation.ranks[1][1].end, 4.5);
  EXPECT_EQ(simulation.ranks[0][1].instruction, B(0));
  EXPECT_DOUBLE_EQ(simulation.ranks[0][1].start, 5);
  EXPECT_DOUBLE_EQ(simulation.makespan, 7);
  EXPECT_DOUBLE_EQ(simulation.bubble, 1 - 6.0 / 14);
}

TEST(SimulateScheduleTest, ZbH1SplitsBackwardCost) {
  Simulation simulation = Simulate(Generate(ScheduleKind::kZbH1, 1, 1), Costs(1, 3, 1));
  ASSERT_EQ(simulation.ranks[0].size(), 3u);
  EXPECT_DOUBLE_EQ(simulation.ranks[0][1].end - simulation.ranks[0][1].start, 2);  // B
  EXPECT_DOUBLE_EQ(simulation.ranks[0][2].end - simulation.ranks[0][2].start, 1);  // W
  EXPECT_DOUBLE_EQ(simulation.makespan, 4);
  EXPECT_DOUBLE_EQ(simulation.bubble, 0);
}

TEST(RenderTimelineTest, OneFOneBTwoStages) {
  Schedule schedule = Generate(ScheduleKind::k1F1B, 2, 2);
  EXPECT_EQ(RenderTimeline(Simulate(schedule, Costs(1, 2)), schedule),
            "rank 0 | F0 F1 .  .  B0 B0 .  B1 B1\n"
            "rank 1 | .  F0 B0 B0 F1 B1 B1 .  .\n");
}

TEST(RenderTimelineTest, ChunksAndHalfUnits) {
  Schedule schedule = Generate(ScheduleKind::kInterleaved, 1, 1, 2);
  EXPECT_EQ(RenderTimeline(Simulate(schedule, Costs(0.5, 1)), schedule),
            "rank 0 | F0.0 F0.1 B0.1 B0.1 B0.0 B0.0\n");
}

// The hand-made schedules below start from this valid 1F1B (P = 2, M = 1):
//   rank 0: F0 send(F0->r1) recv(B0<-r1) B0
//   rank 1: recv(F0<-r0) F0 B0 send(B0->r0)
TEST(SimulateScheduleTest, HandMadeValid) {
  Schedule schedule = HandMade(ScheduleKind::k1F1B, 1,
                               {{F(0), Send(0, false, 1), Recv(0, true, 1), B(0)},
                                {Recv(0, false, 0), F(0), B(0), Send(0, true, 0)}});
  EXPECT_EQ(schedule.ranks, Generate(ScheduleKind::k1F1B, 2, 1).ranks);
  EXPECT_TRUE(SimulateSchedule(schedule, Costs(1, 2)).ok());
}

TEST(SimulateScheduleTest, RecvWithoutSend) {
  Schedule schedule =
      HandMade(ScheduleKind::k1F1B, 1,
               {{F(0), Recv(0, true, 1), B(0)}, {Recv(0, false, 0), F(0), B(0), Send(0, true, 0)}});
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2)).status(),
            absl::InvalidArgumentError(
                "rank 1 instruction 0 (recv(F0<-r0)) has no matching send on rank 0"));
}

TEST(SimulateScheduleTest, SendWithoutRecv) {
  Schedule schedule =
      HandMade(ScheduleKind::k1F1B, 1,
               {{F(0), Send(0, false, 1), Recv(0, true, 1), B(0)}, {F(0), B(0), Send(0, true, 0)}});
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2)).status(),
            absl::InvalidArgumentError("rank 1 instruction 0 (F0) needs the activation of "
                                       "virtual stage 0 but no recv(F0<-r0) precedes it"));
}

TEST(SimulateScheduleTest, BackwardBeforeForward) {
  Schedule schedule = HandMade(ScheduleKind::k1F1B, 1,
                               {{F(0), Send(0, false, 1), Recv(0, true, 1), B(0)},
                                {Recv(0, false, 0), B(0), F(0), Send(0, true, 0)}});
  EXPECT_EQ(
      SimulateSchedule(schedule, Costs(1, 2)).status(),
      absl::InvalidArgumentError("rank 1 instruction 1 (B0) comes before its F (instruction 2)"));
}

TEST(SimulateScheduleTest, WeightBeforeBackward) {
  Schedule schedule = HandMade(ScheduleKind::kZbH1, 1, {{F(0), W(0), B(0)}});
  EXPECT_EQ(
      SimulateSchedule(schedule, Costs(1, 2, 1)).status(),
      absl::InvalidArgumentError("rank 0 instruction 1 (W0) comes before its B (instruction 2)"));
}

TEST(SimulateScheduleTest, MissingAndRepeatedCompute) {
  EXPECT_EQ(SimulateSchedule(HandMade(ScheduleKind::kGPipe, 2, {{F(0), B(0), B(1)}}), Costs(1, 2))
                .status(),
            absl::InvalidArgumentError("rank 0: F1 is missing"));
  EXPECT_EQ(
      SimulateSchedule(HandMade(ScheduleKind::kZbH1, 1, {{F(0), B(0)}}), Costs(1, 2, 1)).status(),
      absl::InvalidArgumentError("rank 0: W0 is missing"));
  EXPECT_EQ(SimulateSchedule(HandMade(ScheduleKind::kGPipe, 1, {{F(0), B(0), F(0)}}), Costs(1, 2))
                .status(),
            absl::InvalidArgumentError("rank 0 instruction 2 (F0) repeats instruction 0"));
  EXPECT_EQ(SimulateSchedule(HandMade(ScheduleKind::k1F1B, 1, {{F(0), B(0), W(0)}}), Costs(1, 2))
                .status(),
            absl::InvalidArgumentError(
                "rank 0 instruction 2 (W0): 1f1b does not split the backward (only zb-h1 has W)"));
}

TEST(SimulateScheduleTest, TransferErrors) {
  // A send before the F that produces it.
  EXPECT_EQ(SimulateSchedule(HandMade(ScheduleKind::k1F1B, 1,
                                      {{Send(0, false, 1), F(0), Recv(0, true, 1), B(0)},
                                       {Recv(0, false, 0), F(0), B(0), Send(0, true, 0)}}),
                             Costs(1, 2))
                .status(),
            absl::InvalidArgumentError(
                "rank 0 instruction 0 (send(F0->r1)) comes before its F (instruction 1)"));
  // A send to a rank that does not run the next stage.
  EXPECT_EQ(
      SimulateSchedule(HandMade(ScheduleKind::k1F1B, 1,
                                {{F(0), Send(0, false, 2), B(0)}, {F(0), B(0)}, {F(0), B(0)}}),
                       Costs(1, 2))
          .status(),
      absl::InvalidArgumentError("rank 0 instruction 1 (send(F0->r2)): virtual stage 0's "
                                 "successor is on rank 1, not rank 2"));
  // The first stage receives no activation; peers must be other ranks.
  EXPECT_EQ(SimulateSchedule(
                HandMade(ScheduleKind::k1F1B, 1, {{Recv(0, false, 1), F(0), B(0)}, {F(0), B(0)}}),
                Costs(1, 2))
                .status(),
            absl::InvalidArgumentError(
                "rank 0 instruction 0 (recv(F0<-r1)): virtual stage 0 has no predecessor"));
  EXPECT_EQ(SimulateSchedule(
                HandMade(ScheduleKind::k1F1B, 1, {{F(0), Send(0, false, 0), B(0)}, {F(0), B(0)}}),
                Costs(1, 2))
                .status(),
            absl::InvalidArgumentError(
                "rank 0 instruction 1 (send(F0->r0)): peer 0 is not another rank"));
}

TEST(SimulateScheduleTest, LocalStageOrder) {
  // One rank running both chunks must run chunk 0's F before chunk 1's.
  Schedule schedule =
      HandMade(ScheduleKind::kInterleaved, 1, {{F(0, 1), F(0, 0), B(0, 1), B(0, 0)}});
  schedule.chunks = 2;
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2)).status(),
            absl::InvalidArgumentError("rank 0 instruction 0 (F0.1) needs F0.0 of virtual stage "
                                       "0, which runs later (instruction 1)"));
}

// Rank 0 waits for B0's gradient before sending F1's activation, while rank
// 1 wants F1 before it runs any backward.
TEST(SimulateScheduleTest, Deadlock) {
  Schedule schedule = HandMade(ScheduleKind::k1F1B, 2,
                               {{F(0), Send(0, false, 1), Recv(0, true, 1), B(0), F(1),
                                 Send(1, false, 1), Recv(1, true, 1), B(1)},
                                {Recv(0, false, 0), F(0), Recv(1, false, 0), F(1), B(1),
                                 Send(1, true, 0), B(0), Send(0, true, 0)}});
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2)).status(),
            absl::InvalidArgumentError(
                "schedule deadlocks: rank 0 at instruction 2 waits for the gradient of "
                "micro-batch 0 chunk 0 (for B) from rank 1; rank 1 at instruction 2 waits for "
                "the activation of micro-batch 1 chunk 0 (for F) from rank 0"));
}

TEST(SimulateScheduleTest, BadShapeAndCosts) {
  Schedule schedule = Generate(ScheduleKind::kZbH1, 2, 2);
  EXPECT_EQ(SimulateSchedule(schedule, Costs(-1, 2, 1)).status(),
            absl::InvalidArgumentError("forward cost must be finite and >= 0, got -1"));
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2, 3)).status(),
            absl::InvalidArgumentError(
                "weight cost 3 exceeds backward cost 2 (zb-h1 runs B for backward - weight)"));
  schedule.ranks.pop_back();
  EXPECT_EQ(SimulateSchedule(schedule, Costs(1, 2, 1)).status(),
            absl::InvalidArgumentError("schedule has 1 rank lists for 2 stages"));
  Schedule out_of_range = HandMade(ScheduleKind::kGPipe, 1, {{F(0), B(1)}});
  EXPECT_EQ(
      SimulateSchedule(out_of_range, Costs(1, 2)).status(),
      absl::InvalidArgumentError("rank 0 instruction 1 (B1): micro-batch 1 is outside [0, 1)"));
}

}  // namespace
}  // namespace sbpflow
