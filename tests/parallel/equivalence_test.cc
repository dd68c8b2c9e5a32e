// Data, tensor and 2-D hybrid parallel training equal the single-device run:
// K steps of the MLP and the GPT under every strategy give the same losses and
// final variables within fp32 rtol 1e-5, with even and uneven splits.
#include "gtest/gtest.h"
#include "graph/models/gpt.h"
#include "graph/models/mlp.h"
#include "graph/ops/builtin_ops.h"
#include "graph/shape_inference.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tests/parallel/parallel_testing.h"

namespace sbpflow::testing {
namespace {

constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-6;

struct Config {
  std::string name;
  std::string devices;
  std::string mesh;
  std::string strategy;
  int zero = 0;
};

const std::vector<Config> kConfigs = {
    {"dp2", "cpu:0-1", "", "dp"},
    {"dp4", "cpu:0-3", "", "dp"},
    {"dp3_uneven", "cpu:0-2", "", "dp"},
    {"tp2", "cpu:0-1", "", "tp"},
    {"tp3_uneven", "cpu:0-2", "", "tp"},
    {"dp_tp_2x2", "cpu:0-3", "2x2", "dp,tp"},
    {"zero1_dp4", "cpu:0-3", "", "dp", 1},
    {"zero1_dp_tp_2x2", "cpu:0-3", "2x2", "dp,tp", 1},
    {"auto_2x2", "cpu:0-3", "2x2", ""},
};

class EquivalenceTest : public ::testing::TestWithParam<Config> {
 protected:
  void SetUp() override {
    auto ops = BuildBuiltinOpRegistry();
    auto kernels = BuildBuiltinKernelRegistry();
    ASSERT_TRUE(ops.ok() && kernels.ok());
    ops_ = std::make_unique<OpRegistry>(*std::move(ops));
    kernels_ = std::make_unique<KernelRegistry>(*std::move(kernels));
  }

  void ExpectSameAsOneDevice(Graph graph, int64_t batch, const OptimizerOptions& optimizer,
                             int64_t vocabulary, int64_t classes) {
    ASSERT_TRUE(InferGraphShapes(&graph, *ops_, batch).ok());
    const auto batches = RandomBatches(graph, 3, vocabulary, classes, &allocator_);
    TrainSetup single;
    single.optimizer = optimizer;
    auto expected = TrainSteps(graph, *ops_, *kernels_, single, batches);
    ASSERT_TRUE(expected.ok()) << expected.status();
    EXPECT_TRUE(expected->collectives.empty());

    const Config& config = GetParam();
    TrainSetup parallel = single;
    parallel.parallel.devices = config.devices;
    parallel.parallel.mesh = config.mesh;
    parallel.parallel.strategy.strategy = config.strategy;
    parallel.parallel.strategy.zero = config.zero;
    auto actual = TrainSteps(graph, *ops_, *kernels_, parallel, batches);
    ASSERT_TRUE(actual.ok()) << actual.status();
    EXPECT_FALSE(actual->collectives.empty()) << "the parallel plan communicates nothing";
    EXPECT_TRUE(AllClose(*actual, *expected, kRtol, kAtol));
  }

  std::unique_ptr<OpRegistry> ops_;
  std::unique_ptr<KernelRegistry> kernels_;
  CpuAllocator allocator_;
};

TEST_P(EquivalenceTest, MlpWithMomentumSgd) {
  auto graph = BuildMlp(*ops_, MlpOptions{{20, 13, 10}});
  ASSERT_TRUE(graph.ok());
  OptimizerOptions optimizer;
  optimizer.learning_rate = 0.1;
  optimizer.momentum = 0.9;
  ExpectSameAsOneDevice(*graph, /*batch=*/6, optimizer, 0, 10);
}

TEST_P(EquivalenceTest, MlpWithAdamWAndClipping) {
  auto graph = BuildMlp(*ops_, MlpOptions{{12, 16, 8, 5}});
  ASSERT_TRUE(graph.ok());
  OptimizerOptions optimizer;
  optimizer.kind = OptimizerOptions::Kind::kAdamW;
  optimizer.learning_rate = 0.01;
  optimizer.weight_decay = 0.1;
  optimizer.clip_norm = 0.5;
  ExpectSameAsOneDevice(*graph, /*batch=*/7, optimizer, 0, 5);
}

// SGD rather than Adam: the gradient of the attention key bias is zero in
// exact arithmetic (softmax ignores a shift shared by all keys), so its fp32
// value is rounding noise that Adam would normalize into full-size steps.
TEST_P(EquivalenceTest, GptWithMomentumSgd) {
  auto graph = BuildGpt(*ops_, GptOptions{.layers = 2, .hidden = 8, .heads = 2, .seq = 6, .vocab = 11});
  ASSERT_TRUE(graph.ok());
  OptimizerOptions optimizer;
  optimizer.learning_rate = 0.05;
  optimizer.momentum = 0.9;
  ExpectSameAsOneDevice(*graph, /*batch=*/4, optimizer, 11, 11);
}

INSTANTIATE_TEST_SUITE_P(Strategies, EquivalenceTest, ::testing::ValuesIn(kConfigs),
                         [](const ::testing::TestParamInfo<Config>& info) { return info.param.name; });

}  // namespace
}  // namespace sbpflow::testing
