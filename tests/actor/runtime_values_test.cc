// The runtime computes what the sequential reference executor computes, bit
// for bit, at every thread count and micro-batch count.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/graph_proto.h"
#include "gtest/gtest.h"
#include "sbp/lowering.h"
#include "tests/actor/actor_testing.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {
namespace {

constexpr char kDiamond[] = R"pb(
  name: "diamond"
  version: 1
  nodes {
    name: "x"
    op: "Placeholder"
    attrs {
      key: "shape"
      value { shape { dims: -1 dims: 8 } }
    }
  }
  nodes {
    name: "w"
    op: "Variable"
    attrs {
      key: "shape"
      value { shape { dims: 8 dims: 8 } }
    }
    attrs {
      key: "initializer"
      value { s: "normal(0.3)" }
    }
    attrs {
      key: "seed"
      value { i: 7 }
    }
  }
  nodes { name: "a" op: "TestMatMul" inputs: "x" inputs: "w" }
  nodes {
    name: "left"
    op: "TestAffine"
    inputs: "a"
    attrs {
      key: "scale"
      value { f: 2 }
    }
    attrs {
      key: "shift"
      value { f: 0.5 }
    }
  }
  nodes { name: "right" op: "TestMatMul" inputs: "a" inputs: "w" }
  nodes { name: "d" op: "TestAdd" inputs: "left" inputs: "right" }
  nodes { name: "e" op: "TestMul" inputs: "d" inputs: "a" }
  signature { features: "x" logits: "e" }
)pb";

// x feeds `branches` independent affine branches (some sleep a little, so
// they finish out of order) that a chain of adds joins.
std::string WideGraph(int branches) {
  std::string text = R"pb(
    name: "wide"
    version: 1
    nodes {
      name: "x"
      op: "Placeholder"
      attrs {
        key: "shape"
        value { shape { dims: -1 dims: 5 } }
      }
    }
  )pb";
  for (int branch = 0; branch < branches; ++branch) {
    absl::StrAppend(&text, "nodes { name: \"b", branch, "\" op: \"TestAffine\" inputs: \"x\" ",
                    "attrs { key: \"scale\" value { f: ", 0.5 + branch,
                    " } } attrs { key: \"shift\" value { f: ", -0.25 * branch, " } } }\n");
    const std::string input = absl::StrCat("b", branch);
    if (branch % 3 == 0) {
      absl::StrAppend(&text, "nodes { name: \"s", branch, "\" op: \"TestSleep\" inputs: \"", input,
                      "\" attrs { key: \"ms\" value { i: 1 } } }\n");
    } else {
      absl::StrAppend(&text, "nodes { name: \"s", branch, "\" op: \"TestMul\" inputs: \"", input,
                      "\" inputs: \"x\" }\n");
    }
  }
  std::string sum = "s0";
  for (int branch = 1; branch < branches; ++branch) {
    const std::string next = absl::StrCat("sum", branch);
    absl::StrAppend(&text, "nodes { name: \"", next, "\" op: \"TestAdd\" inputs: \"", sum,
                    "\" inputs: \"s", branch, "\" }\n");
    sum = next;
  }
  absl::StrAppend(&text, "signature { features: \"x\" logits: \"", sum, "\" }\n");
  return text;
}

class RuntimeValuesTest : public ::testing::TestWithParam<int> {
 protected:
  // Runs `text` for a step of `batch` rows split into `micro_batches` and
  // compares every fetch with the reference executor on the whole batch.
  void ExpectMatchesReference(const std::string& text, int64_t batch, int micro_batches,
                              const std::vector<std::string>& fetches, int steps = 2) {
    SCOPED_TRACE(absl::StrCat("threads ", GetParam(), ", micro-batches ", micro_batches));
    auto full = ParseGraph(text, ops_, batch);
    ASSERT_TRUE(full.ok()) << full.status();
    auto micro = ParseGraph(text, ops_, batch / micro_batches);
    ASSERT_TRUE(micro.ok()) << micro.status();
    LoweringOptions lowering;
    lowering.fetches = fetches;
    auto plan = LowerSingleDevice(*micro, ops_, lowering);
    ASSERT_TRUE(plan.ok()) << plan.status();
    plan->micro_batches = micro_batches;
    for (FeedSpec& feed : plan->feeds) feed.logical.shape.mutable_dim(0) *= micro_batches;

    RuntimeOptions options;
    options.threads = GetParam();
    auto harness = MakeRuntime(*plan, &kernels_, options);
    ASSERT_TRUE(harness.ok()) << harness.status();

    ReferenceExecutor reference(&*full, &ops_, &kernels_);
    std::map<std::string, Tensor> variables;
    std::vector<TensorRef> refs;
    std::vector<std::string> names;
    for (const FetchSpec& spec : plan->fetches) {
      names.push_back(spec.name);
      refs.push_back(spec.name == "logits" ? full->signature().logits
                                           : *ParseTensorRef(*full, spec.name));
    }
    for (int step = 0; step < steps; ++step) {
      std::map<std::string, Tensor> feeds;
      feeds["x"] = RandomTensor(&reference.allocator(), full->type(TensorRef{0, 0}), 100 + step);
      auto expected = reference.Run(feeds, refs, &variables);
      ASSERT_TRUE(expected.ok()) << expected.status();
      auto result = (*harness)->runtime->RunStep(feeds);
      ASSERT_TRUE(result.ok()) << result.status();
      ASSERT_EQ(result->fetches.size(), names.size());
      for (size_t i = 0; i < names.size(); ++i) {
        const Tensor& actual = result->fetches.at(names[i]);
        EXPECT_TRUE(BitEqual(actual, (*expected)[i]))
            << names[i] << ": " << actual.DebugString() << " vs " << (*expected)[i].DebugString();
      }
    }
    EXPECT_EQ((*harness)->runtime->steps(), steps);
    // Every register went back: only the variable shards stay allocated.
    int64_t variable_bytes = 0;
    for (const VariableSpec& spec : plan->variables) {
      variable_bytes += spec.logical.shape.NumElements() * 4;
    }
    EXPECT_EQ((*harness)->allocator()->live_bytes(), variable_bytes);
  }

  OpRegistry ops_ = TestOpRegistry();
  KernelRegistry kernels_ = TestKernelRegistry();
};

TEST_P(RuntimeValuesTest, DiamondMatchesReference) {
  ExpectMatchesReference(kDiamond, 6, 1, {"a", "d", "right"});
}

TEST_P(RuntimeValuesTest, DiamondOverMicroBatchesMatchesReference) {
  ExpectMatchesReference(kDiamond, 12, 4, {"a", "left"});
}

TEST_P(RuntimeValuesTest, WideGraphMatchesReference) {
  ExpectMatchesReference(WideGraph(12), 4, 1, {"b3", "s7"});
  ExpectMatchesReference(WideGraph(12), 8, 2, {"s5"});
}

TEST_P(RuntimeValuesTest, FetchesAreBitIdenticalAcrossRunsAndThreadCounts) {
  auto graph = ParseGraph(WideGraph(9), ops_, 3);
  ASSERT_TRUE(graph.ok()) << graph.status();
  LoweringOptions lowering;
  lowering.fetches = {"s4", "sum6"};
  auto plan = LowerSingleDevice(*graph, ops_, lowering);
  ASSERT_TRUE(plan.ok()) << plan.status();
  plan->micro_batches = 3;
  plan->feeds[0].logical.shape.mutable_dim(0) = 9;
  CpuAllocator allocator;
  const Tensor x = RandomTensor(&allocator, plan->feeds[0].logical, 5);

  std::map<std::string, Tensor> first;
  for (int threads : {1, GetParam()}) {
    RuntimeOptions options;
    options.threads = threads;
    auto harness = MakeRuntime(*plan, &kernels_, options);
    ASSERT_TRUE(harness.ok()) << harness.status();
    for (int run = 0; run < 3; ++run) {
      auto result = (*harness)->runtime->RunStep({{"x", x}});
      ASSERT_TRUE(result.ok()) << result.status();
      if (first.empty()) {
        first = result->fetches;
        continue;
      }
      for (const auto& [name, tensor] : first) {
        EXPECT_TRUE(BitEqual(result->fetches.at(name), tensor)) << name << " run " << run;
      }
    }
  }
  EXPECT_EQ(first.at("logits").shape(), (Shape{9, 5}));
}

INSTANTIATE_TEST_SUITE_P(Threads, RuntimeValuesTest, ::testing::Values(1, 2, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return absl::StrCat(info.param, "Threads");
                         });

}  // namespace
}  // namespace sbpflow::testing
