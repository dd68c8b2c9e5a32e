// A byte-level GPT learns text: on the GPL-3 text that every Debian system
// ships, a 2-layer model starts at chance (ln 256 per byte) and ends well
// below it.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/cli_runner.h"

namespace sbpflow::testing {
namespace {

constexpr char kText[] = "/usr/share/common-licenses/GPL-3";

TEST(GptTextTest, LossFallsFarBelowChance) {
  ASSERT_TRUE(std::filesystem::exists(kText)) << kText << " is part of Debian's base-files";
  const std::string folder = MakeTemporaryFolder();
  const std::string graph = folder + "/gpt.pb";
  const std::string log = folder + "/log.json";
  CliRun gen = RunCli({"gen", "gpt", "--layers", "2", "--hidden", "64", "--heads", "2", "--seq",
                       "32", "-o", graph});
  ASSERT_TRUE(gen.status.ok()) << gen.status;

  CliRun train =
      RunCli({"train", graph, "--data", std::string("text:") + kText, "--batch", "8", "--steps",
              "200", "--optimizer", "adamw", "--lr", "3e-3", "--seed", "1", "--log-json", log});
  ASSERT_TRUE(train.status.ok()) << train.status << "\n" << train.err;
  const std::vector<nlohmann::json> lines = ReadJsonLines(log);
  ASSERT_EQ(lines.size(), 201u);
  const double initial = lines.front()["loss"];
  EXPECT_NEAR(initial, std::log(256.0), 0.3);
  // The mean of the last 10 steps, so one hard batch does not decide.
  double tail = 0;
  for (size_t step = 190; step < 200; ++step) tail += lines[step]["loss"].get<double>() / 10;
  EXPECT_LT(tail, 3.0);
  const nlohmann::json& summary = lines.back();
  EXPECT_LT(summary["final_loss"].get<double>(), 3.0);
  // Held-out batches: the loss and next-byte accuracy are means over
  // positions, so they land near the training figures.
  EXPECT_LT(summary["test_loss"].get<double>(), 3.2);
  EXPECT_GT(summary["test_loss"].get<double>(), 1.0);
  EXPECT_GT(summary["test_accuracy"].get<double>(), 0.15);
  EXPECT_LT(summary["test_accuracy"].get<double>(), 0.8);
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace sbpflow::testing
