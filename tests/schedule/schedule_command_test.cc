// `sbpflow schedule`, run as the built binary: the JSON contract, the text
// report, and one-line errors with exit code 2.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace sbpflow {
namespace {

struct Result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

Result RunSchedule(const std::string& arguments) {
  // Per test and process: ctest runs tests of this binary side by side.
  const std::string stem = ::testing::TempDir() + "/schedule_command_" +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
                           std::to_string(getpid());
  const std::string out_path = stem + "_out.txt";
  const std::string err_path = stem + "_err.txt";
  const std::string command =
      std::string(SBPFLOW_BINARY) + " schedule " + arguments + " >" + out_path + " 2>" + err_path;
  const int status = std::system(command.c_str());
  Result result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

TEST(ScheduleCommandTest, JsonContract) {
  Result result = RunSchedule("--kind 1f1b --stages 4 --micro-batches 8 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  nlohmann::json json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json["devices"].size(), 4u);
  const nlohmann::json& rank0 = json["devices"][0];
  EXPECT_EQ(rank0["rank"], 0);
  // 8 F, 8 B, 8 sends of activations, 8 recvs of gradients.
  EXPECT_EQ(rank0["ops"].size(), 32u);
  EXPECT_EQ(rank0["ops"][0], nlohmann::json({{"op", "F"}, {"mb", 0}, {"chunk", 0}}));
  EXPECT_EQ(
      rank0["ops"][1],
      nlohmann::json({{"op", "send"}, {"mb", 0}, {"chunk", 0}, {"peer", 1}, {"gradient", false}}));
  EXPECT_EQ(json["devices"][3]["rank"], 3);
  EXPECT_DOUBLE_EQ(json["bubble"].get<double>(), 3.0 / 11);
  EXPECT_DOUBLE_EQ(json["makespan"].get<double>(), 33);
  EXPECT_EQ(json["peak_in_flight"], nlohmann::json({4, 3, 2, 1}));
  EXPECT_EQ(json["kind"], "1f1b");
}

TEST(ScheduleCommandTest, ZbH1JsonHasWeightOps) {
  Result result = RunSchedule("--kind zb-h1 --stages 4 --micro-batches 8 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  int weights = 0;
  for (const nlohmann::json& op : json["devices"][3]["ops"]) weights += op["op"] == "W";
  EXPECT_EQ(weights, 8);
  // Default costs F = B = W = 1: idle P - 1 = 3 of a 27-unit makespan.
  EXPECT_DOUBLE_EQ(json["makespan"].get<double>(), 27);
  EXPECT_DOUBLE_EQ(json["bubble"].get<double>(), 3.0 / 27);
  EXPECT_EQ(json["peak_in_flight"], nlohmann::json({4, 4, 4, 4}));
  EXPECT_EQ(json["peak_awaiting_backward"], nlohmann::json({4, 3, 2, 1}));
}

TEST(ScheduleCommandTest, InterleavedDefaultsToTwoChunks) {
  Result result = RunSchedule("--kind interleaved --stages 2 --micro-batches 4 --json");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["chunks"], 2);
  EXPECT_DOUBLE_EQ(json["bubble"].get<double>(), 1.0 / 9);
}

TEST(ScheduleCommandTest, TextReport) {
  Result result = RunSchedule("--kind gpipe --stages 2 --micro-batches 2");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out,
            "gpipe schedule: 2 stages, 2 micro-batches\n"
            "costs: F 1, B 2, communication 0\n"
            "instructions:\n"
            "  rank 0: F0 send(F0->r1) F1 send(F1->r1) recv(B0<-r1) B0 recv(B1<-r1) B1\n"
            "  rank 1: recv(F0<-r0) F0 recv(F1<-r0) F1 B0 send(B0->r0) B1 send(B1->r0)\n"
            "timeline:\n"
            "rank 0 | F0 F1 .  .  .  B0 B0 B1 B1\n"
            "rank 1 | .  F0 F1 B0 B0 B1 B1 .  .\n"
            "makespan 9, bubble 0.3333 (33.3% idle)\n"
            "peak in flight per rank: 2 2\n");
}

TEST(ScheduleCommandTest, InvalidFlags) {
  Result result = RunSchedule("--kind interleaved --stages 4 --micro-batches 6 --chunks 2");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "sbpflow: --micro-batches 6 must be a multiple of --stages 4 for the interleaved "
            "schedule\n");

  result = RunSchedule("--kind zb-h2 --stages 4 --micro-batches 8");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err,
            "sbpflow: --kind: unknown schedule 'zb-h2' (expected gpipe, 1f1b, interleaved or "
            "zb-h1)\n");

  result = RunSchedule("--kind 1f1b --stages 4 --micro-batches 8 --weight-cost 1");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "sbpflow: --weight-cost applies only to --kind zb-h1\n");

  result = RunSchedule("--kind zb-h1 --stages 4 --micro-batches 8 --weight-cost 3");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err,
            "sbpflow: --weight-cost 3 exceeds --backward-cost 2 (B runs the backward minus the "
            "weight gradient)\n");

  result = RunSchedule("--kind 1f1b --stages four --micro-batches 8");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "sbpflow schedule: Could not convert: --stages = four (see sbpflow schedule "
            "--help)\n");
}

// Huge requests fail at once (they used to run until killed), naming the
// flag; the largest allowed schedule still runs.
TEST(ScheduleCommandTest, SizeBounds) {
  Result result = RunSchedule("--kind 1f1b --stages 100000 --micro-batches 100000");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "sbpflow: --stages must be <= 1024, got 100000\n");

  result = RunSchedule("--kind gpipe --stages 2 --micro-batches 1000000");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "sbpflow: --micro-batches must be <= 65536, got 1000000\n");

  result = RunSchedule("--kind interleaved --stages 2 --micro-batches 4 --chunks 1000");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.err, "sbpflow: --chunks must be <= 64, got 1000\n");

  result = RunSchedule("--kind 1f1b --stages 1000 --micro-batches 1000 --json");
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err,
            "sbpflow: --stages 1000 x --micro-batches 1000 x --chunks 1 gives a schedule of "
            "5996000 instructions; at most 1000000 are allowed\n");

  result = RunSchedule("--kind 1f1b --stages 1024 --micro-batches 4 --json");
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(nlohmann::json::parse(result.out)["devices"].size(), 1024u);
}

}  // namespace
}  // namespace sbpflow
