// SBP inference, presets and lowering, starting from text-proto graphs.
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "graph/graph_proto.h"
#include "graph/models/gpt.h"
#include "graph/models/mlp.h"
#include "graph/ops/builtin_ops.h"
#include "graph/optimizers/optimizer.h"
#include "graph/shape_inference.h"
#include "sbp/compile.h"
#include "sbp/plan_proto.h"
#include "base/status_macros.h"

namespace sbpflow {
namespace {

class InferenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ops_ = std::make_unique<OpRegistry>(*BuildBuiltinOpRegistry());
    rules_ = std::make_unique<SbpRuleRegistry>(*BuildBuiltinSbpRules());
  }

  absl::StatusOr<Graph> Parse(const std::string& text, int64_t batch = 4) {
    proto::GraphDef def;
    if (!google::protobuf::TextFormat::ParseFromString(text, &def)) {
      return absl::InvalidArgumentError("bad text");
    }
    return GraphFromProto(def, *ops_, "g.pbtxt", batch);
  }

  absl::StatusOr<CompiledPlan> Compile(Graph graph, const std::string& devices,
                                       const std::string& mesh, const std::string& strategy,
                                       int zero = 0, bool train = true) {
    if (train) {
      OptimizerOptions optimizer;
      auto info = BuildTrainingGraph(&graph, *ops_, optimizer);
      if (!info.ok()) return info.status();
    }
    ParallelOptions options;
    options.devices = devices;
    options.mesh = mesh;
    options.strategy.strategy = strategy;
    options.strategy.zero = zero;
    return CompileGraph(std::move(graph), *ops_, *rules_, options);
  }

  static std::string LayoutOf(const CompiledPlan& compiled, const std::string& node) {
    const int index = *compiled.graph.FindNode(node);
    return NdSbpToString(compiled.layouts[index].outputs[0]);
  }

  static std::map<std::string, int> Collectives(const PhysicalPlan& plan) {
    std::map<std::string, int> counts;
    for (const PlanOp& op : plan.ops) {
      if (op.kind == PlanOpKind::kCollective && op.collective.rank == 0) ++counts[op.type];
    }
    return counts;
  }

  std::unique_ptr<OpRegistry> ops_;
  std::unique_ptr<SbpRuleRegistry> rules_;
};

constexpr char kLinear[] = R"pb(
  nodes { name: "x" op: "Placeholder"
          attrs { key: "shape" value { shape { dims: -1 dims: 6 } } } }
  nodes { name: "y" op: "Placeholder"
          attrs { key: "shape" value { shape { dims: -1 } } }
          attrs { key: "dtype" value { type: DT_INT32 } } }
  nodes { name: "w" op: "Variable"
          attrs { key: "shape" value { shape { dims: 6 dims: 5 } } } }
  nodes { name: "logits" op: "MatMul" inputs: "x" inputs: "w" }
  nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "logits" inputs: "y" }
  signature { loss: "loss" features: "x" labels: "y" logits: "logits" }
)pb";

TEST_F(InferenceTest, DataParallelSplitsTheBatchAndAllReducesOneGradientBucket) {
  auto graph = Parse(kLinear);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto compiled = Compile(*graph, "cpu:0-3", "", "dp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "x"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "w"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "logits"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "loss"), "P");
  EXPECT_EQ(LayoutOf(*compiled, "grad/logits/db"), "P");
  EXPECT_EQ(Collectives(compiled->plan), (std::map<std::string, int>{{"all_reduce", 1}}));
}

TEST_F(InferenceTest, TensorParallelFollowsMegatronOnTheMlp) {
  auto graph = BuildMlp(*ops_, MlpOptions{{8, 6, 4}});
  ASSERT_TRUE(graph.ok());
  ASSERT_TRUE(InferGraphShapes(&*graph, *ops_, 4).ok());
  auto compiled = Compile(*graph, "cpu:0-1", "", "tp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "features"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "layer0.weight"), "S(1)");
  EXPECT_EQ(LayoutOf(*compiled, "layer0.bias"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "layer0/Relu"), "S(1)");
  EXPECT_EQ(LayoutOf(*compiled, "layer1.weight"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "layer1/MatMul"), "P");
}

TEST_F(InferenceTest, TensorParallelSplitsGptHeads) {
  auto graph =
      BuildGpt(*ops_, GptOptions{.layers = 1, .hidden = 8, .heads = 2, .seq = 4, .vocab = 16});
  ASSERT_TRUE(graph.ok());
  ASSERT_TRUE(InferGraphShapes(&*graph, *ops_, 2).ok());
  auto compiled = Compile(*graph, "cpu:0-3", "2x2", "dp,tp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "tokens"), "(S(0),B)");
  for (const char* weight : {"block0.attn.q.weight", "block0.attn.k.weight", "block0.attn.v.weight",
                             "block0.mlp.fc.weight"}) {
    EXPECT_EQ(LayoutOf(*compiled, weight), "(B,S(1))") << weight;
  }
  EXPECT_EQ(LayoutOf(*compiled, "block0.attn.proj.weight"), "(B,S(0))");
  EXPECT_EQ(LayoutOf(*compiled, "block0.mlp.proj.weight"), "(B,S(0))");
  EXPECT_EQ(LayoutOf(*compiled, "head.weight"), "(B,B)");
  // Heads are split: the attention scores [B, heads, T, T] split on both axes.
  EXPECT_EQ(LayoutOf(*compiled, "block0.attn/scores"), "(S(0),S(1))");
}

// The presets on a GPT, counted collective by collective (one per group).
class GptPresetTest : public InferenceTest {
 protected:
  absl::StatusOr<CompiledPlan> CompileGpt(const std::string& devices, const std::string& mesh,
                                          const std::string& strategy, int zero = 0) {
    auto graph =
        BuildGpt(*ops_, GptOptions{.layers = 2, .hidden = 16, .heads = 2, .seq = 8, .vocab = 32});
    if (!graph.ok()) return graph.status();
    SBP_RETURN_IF_ERROR(InferGraphShapes(&*graph, *ops_, 4));
    return Compile(*graph, devices, mesh, strategy, zero);
  }

  static int TrainableVariables(const CompiledPlan& compiled) {
    int count = 0;
    for (const VariableSpec& spec : compiled.plan.variables) count += spec.trainable ? 1 : 0;
    return count;
  }
};

// Megatron: per block one all-reduce after the attention output and one
// after the MLP in the forward pass, one for each of their column-parallel
// inputs' gradients in the backward pass; nothing else (replicated weights
// get replicated gradients). Heads are split.
TEST_F(GptPresetTest, TensorParallelIssuesMegatronsAllReducesOnly) {
  auto compiled = CompileGpt("cpu:0-1", "", "tp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(Collectives(compiled->plan), (std::map<std::string, int>{{"all_reduce", 2 * 4}}));
  EXPECT_EQ(LayoutOf(*compiled, "block0.attn/scores"), "S(1)");
  EXPECT_EQ(LayoutOf(*compiled, "block1.attn/context"), "S(1)");
  EXPECT_EQ(LayoutOf(*compiled, "block0.ln1/LayerNorm"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "block0.attn.proj/MatMul"), "P");
  EXPECT_EQ(LayoutOf(*compiled, "grad/block0.mlp.fc/MatMul/da"), "P");
}

// Pure data parallelism: activations split by the batch, every parameter
// (position embeddings included) whole, one bucketed gradient all-reduce.
TEST_F(GptPresetTest, DataParallelOnlyAllReducesGradients) {
  auto compiled = CompileGpt("cpu:0-3", "", "dp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(Collectives(compiled->plan), (std::map<std::string, int>{{"all_reduce", 1}}));
  EXPECT_EQ(LayoutOf(*compiled, "wpe"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "embed/positions_1"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "block0/residual1"), "S(0)");
}

// Both: Megatron's all-reduces within each of the 2 tp groups, the
// gradient bucket within each of the 2 dp groups.
TEST_F(GptPresetTest, TwoDimensionalCombinesBoth) {
  auto compiled = CompileGpt("cpu:0-3", "2x2", "dp,tp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(Collectives(compiled->plan), (std::map<std::string, int>{{"all_reduce", 2 * 8 + 2}}));
  EXPECT_EQ(LayoutOf(*compiled, "block0.attn/scores"), "(S(0),S(1))");
}

// ZeRO-1 at a small batch: each parameter all-gathered once, each gradient
// reduce-scattered once, nothing else.
TEST_F(GptPresetTest, ZeroGathersParametersAndScattersGradients) {
  auto compiled = CompileGpt("cpu:0-1", "", "dp", /*zero=*/1);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const int parameters = TrainableVariables(*compiled);
  EXPECT_EQ(parameters, 5 + 2 * 16);  // wte, wpe, ln_f, head; 16 per block
  EXPECT_EQ(
      Collectives(compiled->plan),
      (std::map<std::string, int>{{"all_gather", parameters}, {"reduce_scatter", parameters}}));
}

// A preset's layout for a computed value is a preference: a softmax across
// the batch has the batch's length but cannot be split along it, and the
// graph still compiles (the softmax runs whole).
constexpr char kSoftmaxAcrossTheBatch[] = R"pb(
  nodes { name: "x" op: "Placeholder"
          attrs { key: "shape" value { shape { dims: -1 dims: 4 } } } }
  nodes { name: "y" op: "Placeholder"
          attrs { key: "shape" value { shape { dims: -1 } } }
          attrs { key: "dtype" value { type: DT_INT32 } } }
  nodes { name: "w" op: "Variable"
          attrs { key: "shape" value { shape { dims: 4 dims: 4 } } } }
  nodes { name: "u" op: "MatMul" inputs: "x" inputs: "w" }
  nodes { name: "row_sums" op: "ReduceSum" inputs: "u"
          attrs { key: "axes" value { ints { values: 1 } } }
          attrs { key: "keep_dims" value { b: false } } }
  nodes { name: "weights" op: "Softmax" inputs: "row_sums"
          attrs { key: "axis" value { i: 0 } } }
  nodes { name: "logits" op: "Add" inputs: "u" inputs: "weights" }
  nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "logits" inputs: "y" }
  signature { loss: "loss" features: "x" labels: "y" logits: "logits" }
)pb";

TEST_F(InferenceTest, PresetLayoutsOfComputedValuesArePreferences) {
  auto graph = Parse(kSoftmaxAcrossTheBatch, /*batch=*/4);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto compiled = Compile(*graph, "cpu:0-1", "", "dp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "u"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "row_sums"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "weights"), "B");
  EXPECT_EQ(LayoutOf(*compiled, "logits"), "S(0)");
}

TEST_F(InferenceTest, ZeroShardsVariablesAndTheirState) {
  // A batch large enough that moving the weight is cheaper than moving the
  // activations.
  auto graph = Parse(kLinear, /*batch=*/64);
  ASSERT_TRUE(graph.ok());
  OptimizerOptions adam;
  adam.kind = OptimizerOptions::Kind::kAdam;
  ASSERT_TRUE(BuildTrainingGraph(&*graph, *ops_, adam).ok());
  auto compiled = Compile(*graph, "cpu:0-1", "", "dp", /*zero=*/1, /*train=*/false);
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "w"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "w.adam_m"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "w.adam_v"), "S(0)");
  EXPECT_EQ(LayoutOf(*compiled, "optimizer.step"), "B");
  // Gradients are reduce-scattered, parameters all-gathered.
  EXPECT_EQ(Collectives(compiled->plan),
            (std::map<std::string, int>{{"all_gather", 1}, {"reduce_scatter", 1}}));
}

TEST_F(InferenceTest, AnnotationsWinAndAreChecked) {
  std::string text = kLinear;
  text.replace(text.find("nodes { name: \"w\" op: \"Variable\""),
               std::string("nodes { name: \"w\" op: \"Variable\"").size(),
               "nodes { name: \"w\" op: \"Variable\" output_sbp: \"S(1)\"");
  auto graph = Parse(text);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto compiled = Compile(*graph, "cpu:0-1", "", "dp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  EXPECT_EQ(LayoutOf(*compiled, "w"), "S(1)");
}

struct BadAnnotation {
  std::string label;
  std::string from;
  std::string to;
  std::string devices;
  std::string mesh;
  std::string strategy;
  std::string error;
};

class BadAnnotationTest : public InferenceTest,
                          public ::testing::WithParamInterface<BadAnnotation> {};

TEST_P(BadAnnotationTest, FailsWithOneLine) {
  const BadAnnotation& bad = GetParam();
  std::string text = kLinear;
  if (!bad.from.empty()) text.replace(text.find(bad.from), bad.from.size(), bad.to);
  auto graph = Parse(text);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto compiled = Compile(*graph, bad.devices, bad.mesh, bad.strategy);
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.status().message(), bad.error);
}

void PrintTo(const BadAnnotation& bad, std::ostream* out) { *out << bad.label; }

constexpr char kW[] = "nodes { name: \"w\" op: \"Variable\"";

INSTANTIATE_TEST_SUITE_P(
    Errors, BadAnnotationTest,
    ::testing::Values(
        BadAnnotation{"UnknownSbpText", kW, std::string(kW) + " output_sbp: \"Q(0)\"", "cpu:0-1",
                      "", "",
                      "node 'w' (Variable): field 'output_sbp[0]': unknown SBP 'Q(0)' (expected "
                      "S(i), B, P, P(max), Shard(i), Replicate() or Partial())"},
        BadAnnotation{"SplitAxisOutOfRange", kW, std::string(kW) + " output_sbp: \"S(2)\"",
                      "cpu:0-1", "", "",
                      "node 'w' (Variable): field 'output_sbp[0]': S(2) splits dimension 2 of a "
                      "rank-2 tensor"},
        BadAnnotation{"AxesDoNotMatchMesh", kW, std::string(kW) + " output_sbp: \"(S(0),B)\"",
                      "cpu:0-1", "", "",
                      "node 'w' (Variable): field 'output_sbp[0]': (S(0),B) has 2 axes, the mesh "
                      "has 1"},
        BadAnnotation{"VariableCannotBePartial", kW, std::string(kW) + " output_sbp: \"P\"",
                      "cpu:0-1", "", "",
                      "node 'w' (Variable): no SBP signature fits: inputs (); tried () -> S(0): "
                      "output 0 is annotated P; () -> S(1): output 0 is annotated P; () -> B: "
                      "output 0 is annotated P"},
        BadAnnotation{"PlacementMeshMismatch", kW,
                      std::string(kW) + " placement { devices: \"cpu:0-2\" mesh: 2 mesh: 2 }",
                      "cpu:0-1", "", "",
                      "node 'w' (Variable): field 'placement': mesh 2x2 has 4 positions, got 3 "
                      "devices"},
        BadAnnotation{"MeshMismatch", "", "", "cpu:0-2", "2x2", "",
                      "--mesh: mesh 2x2 has 4 positions, got 3 devices"},
        BadAnnotation{"UnknownStrategy", "", "", "cpu:0-1", "", "pp",
                      "--strategy: unknown component 'pp' (expected dp, tp or dp,tp)"},
        BadAnnotation{"ConflictsWithThePreset", "nodes { name: \"x\" op: \"Placeholder\"",
                      "nodes { name: \"x\" op: \"Placeholder\" output_sbp: \"S(1)\"", "cpu:0-1", "",
                      "dp",
                      "node 'x' (Placeholder): field 'output_sbp[0]': S(1) conflicts with "
                      "--strategy dp, which makes it S(0) over mesh axis dp"},
        BadAnnotation{"StrategyAxesMismatch", "", "", "cpu:0-3", "2x2", "dp",
                      "--strategy dp names 1 mesh axes, the mesh has 2 (use --axes to name "
                      "them)"}),
    [](const ::testing::TestParamInfo<BadAnnotation>& info) { return info.param.label; });

TEST_F(InferenceTest, PlanFilesRoundTrip) {
  auto graph = Parse(kLinear);
  ASSERT_TRUE(graph.ok());
  auto compiled = Compile(*graph, "cpu:0-3", "2x2", "dp,tp");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  const std::string path = ::testing::TempDir() + "/plan.pbtxt";
  ASSERT_TRUE(WritePlanFile(compiled->plan, path).ok());
  auto read = ReadPlanFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ(PlanToProto(**read).SerializeAsString().size(),
            PlanToProto(compiled->plan).SerializeAsString().size());
  ASSERT_EQ((*read)->ops.size(), compiled->plan.ops.size());
  for (size_t i = 0; i < compiled->plan.ops.size(); ++i) {
    const PlanOp& a = (*read)->ops[i];
    const PlanOp& b = compiled->plan.ops[i];
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.inputs, b.inputs);
    EXPECT_EQ(a.outputs, b.outputs);
    EXPECT_EQ(a.attrs, b.attrs);
    EXPECT_EQ(a.collective.input_boxes, b.collective.input_boxes);
  }
  // A graph file is not a plan.
  const std::string graph_path = ::testing::TempDir() + "/graph.pbtxt";
  ASSERT_TRUE(WriteGraphDefFile(GraphToProto(*graph), graph_path).ok());
  auto not_plan = ReadPlanFile(graph_path);
  ASSERT_TRUE(not_plan.ok());
  EXPECT_FALSE(not_plan->has_value());
}

}  // namespace
}  // namespace sbpflow
