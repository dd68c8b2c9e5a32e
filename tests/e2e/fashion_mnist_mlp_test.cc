// The README's demo as a test: an MLP 784-256-10 trained for one epoch of
// Fashion-MNIST with SGD (momentum 0.9, lr 0.03, cosine decay, batch 32,
// seed 1) reaches at least 85% test accuracy.
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/e2e/cli_runner.h"

namespace sbpflow::testing {
namespace {

TEST(FashionMnistMlpTest, OneEpochReachesEightyFivePercent) {
  const std::string folder = MakeTemporaryFolder();
  const std::string graph = folder + "/mlp.pb";
  const std::string log = folder + "/log.json";
  CliRun gen = RunCli({"gen", "mlp", "--layers", "784,256,10", "-o", graph});
  ASSERT_TRUE(gen.status.ok()) << gen.status;

  CliRun train = RunCli({"train",  graph,      "--data",     "fashion-mnist", "--batch",
                         "32",     "--epochs", "1",          "--optimizer",   "sgd",
                         "--lr",   "0.03",     "--momentum", "0.9",           "--lr-schedule",
                         "cosine", "--seed",   "1",          "--log-json",    log});
  ASSERT_TRUE(train.status.ok()) << train.status << "\n" << train.err;
  const std::vector<nlohmann::json> lines = ReadJsonLines(log);
  // 60000 / 32 = 1875 steps, then the summary.
  ASSERT_EQ(lines.size(), 1876u);
  const nlohmann::json& summary = lines.back();
  EXPECT_EQ(summary["steps"], 1875);
  const double accuracy = summary["test_accuracy"];
  EXPECT_GE(accuracy, 0.85);
  EXPECT_LE(accuracy, 1.0);
  // The loss went from chance (ln 10 ≈ 2.30) to well below it.
  EXPECT_NEAR(lines.front()["loss"].get<double>(), 2.30, 0.3);
  EXPECT_LT(summary["test_loss"].get<double>(), 0.5);
  // What the user reads agrees with the log.
  char expected[64];
  std::snprintf(expected, sizeof(expected), "test accuracy: %.4f (10000 examples", accuracy);
  EXPECT_NE(train.out.find(expected), std::string::npos) << train.out;
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace sbpflow::testing
