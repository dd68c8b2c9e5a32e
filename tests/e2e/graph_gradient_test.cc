// Gradients of whole training graphs against finite differences, in f64:
// the MLP and GPT builders' graphs, and a graph built from the ops neither
// uses, with fan-out so gradient accumulation is exercised.
#include <map>
#include <string>

#include "google/protobuf/text_format.h"
#include "graph/autodiff.h"
#include "graph/graph_proto.h"
#include "graph/models/gpt.h"
#include "graph/models/mlp.h"
#include "graph/ops/builtin_ops.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tests/e2e/graph_gradient_check.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {
namespace {

class GraphGradientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ops = BuildBuiltinOpRegistry();
    ASSERT_TRUE(ops.ok()) << ops.status();
    ops_ = std::make_unique<OpRegistry>(*std::move(ops));
    auto kernels = BuildBuiltinKernelRegistry();
    ASSERT_TRUE(kernels.ok()) << kernels.status();
    kernels_ = std::make_unique<KernelRegistry>(*std::move(kernels));
  }

  // A feed for placeholder `name` of `graph`: uniform in [low, high)
  // (integers rounded down).
  Tensor Feed(const Graph& graph, const std::string& name, uint64_t seed, double low, double high) {
    return RandomTensor(&allocator_, graph.node(*graph.FindNode(name)).outputs[0], seed, low, high);
  }

  std::unique_ptr<OpRegistry> ops_;
  std::unique_ptr<KernelRegistry> kernels_;
  CpuAllocator allocator_;
};

TEST_F(GraphGradientTest, ConversionMakesEveryFloatingTensorDouble) {
  auto mlp = BuildMlp(*ops_, MlpOptions{{6, 5, 4}});
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  auto converted = ConvertToFloat64(*mlp, *ops_, 3);
  ASSERT_TRUE(converted.ok()) << converted.status();
  ASSERT_EQ(converted->num_nodes(), mlp->num_nodes());
  for (const Node& node : converted->nodes()) {
    for (const TensorType& type : node.outputs) {
      EXPECT_NE(type.dtype, DataType::kFloat32) << node.name;
    }
  }
  EXPECT_EQ(converted->node(*converted->FindNode("features")).outputs[0].ToString(), "f64[3,6]");
  EXPECT_EQ(converted->node(*converted->FindNode("labels")).outputs[0].ToString(), "i32[3]");
}

TEST_F(GraphGradientTest, Mlp) {
  auto mlp = BuildMlp(*ops_, MlpOptions{{6, 5, 5, 4}});
  ASSERT_TRUE(mlp.ok()) << mlp.status();
  auto graph = ConvertToFloat64(*mlp, *ops_, 3);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, Tensor> feeds = {{"features", Feed(*graph, "features", 1, -2, 2)},
                                         {"labels", Feed(*graph, "labels", 2, 0, 4)}};
  auto report = CheckGraphGradients(*graph, *ops_, *kernels_, feeds);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->variables, 6);
  EXPECT_EQ(report->elements, 6 * 5 + 5 + 5 * 5 + 5 + 5 * 4 + 4);
}

TEST_F(GraphGradientTest, TinyGpt) {
  GptOptions options;
  options.layers = 2;
  options.hidden = 8;
  options.heads = 2;
  options.seq = 4;
  options.vocab = 7;
  auto gpt = BuildGpt(*ops_, options);
  ASSERT_TRUE(gpt.ok()) << gpt.status();
  auto graph = ConvertToFloat64(*gpt, *ops_, 2);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, Tensor> feeds = {{"tokens", Feed(*graph, "tokens", 3, 0, 7)},
                                         {"targets", Feed(*graph, "targets", 4, 0, 7)}};
  auto report = CheckGraphGradients(*graph, *ops_, *kernels_, feeds);
  ASSERT_TRUE(report.ok()) << report.status();
  // wte, wpe, head and per block two LayerNorms (gamma, beta), q, k, v,
  // the attention output projection and two MLP layers with biases.
  EXPECT_GE(report->variables, 3 + 2 * 12);
  EXPECT_GT(report->elements, 1000);
}

// Ops the model builders do not use, in one graph where tensors feed several
// consumers.
constexpr char kOtherOpsGraph[] = R"pb(
  name: "other_ops"
  nodes {
    name: "x"
    op: "Placeholder"
    attrs {
      key: "shape"
      value { shape { dims: -1 dims: 3 } }
    }
    attrs {
      key: "dtype"
      value { type: DT_DOUBLE }
    }
  }
  nodes {
    name: "w"
    op: "Variable"
    attrs {
      key: "shape"
      value { shape { dims: 3 dims: 4 } }
    }
    attrs {
      key: "dtype"
      value { type: DT_DOUBLE }
    }
  }
  nodes {
    name: "u"
    op: "Variable"
    attrs {
      key: "shape"
      value { shape { dims: 4 } }
    }
    attrs {
      key: "dtype"
      value { type: DT_DOUBLE }
    }
  }
  nodes { name: "h" op: "MatMul" inputs: "x" inputs: "w" }
  nodes { name: "t" op: "Tanh" inputs: "h" }
  nodes { name: "d" op: "Sub" inputs: "t" inputs: "u" }
  nodes { name: "sq" op: "Square" inputs: "d" }
  nodes { name: "e" op: "Exp" inputs: "t" }
  nodes {
    name: "one"
    op: "Const"
    attrs {
      key: "dtype"
      value { type: DT_DOUBLE }
    }
    attrs {
      key: "value"
      value { floats { values: 2 } }
    }
  }
  nodes { name: "shifted" op: "Add" inputs: "sq" inputs: "one" }
  nodes { name: "root" op: "Sqrt" inputs: "shifted" }
  nodes { name: "logged" op: "Log" inputs: "shifted" }
  nodes { name: "ratio" op: "Div" inputs: "e" inputs: "root" }
  nodes { name: "negated" op: "Neg" inputs: "logged" }
  nodes {
    name: "joined"
    op: "Concat"
    inputs: "ratio"
    inputs: "negated"
    inputs: "t"
    attrs {
      key: "axis"
      value { i: 1 }
    }
  }
  nodes {
    name: "parts"
    op: "Split"
    inputs: "joined"
    attrs {
      key: "axis"
      value { i: 1 }
    }
    attrs {
      key: "sizes"
      value { ints { values: 5 values: 7 } }
    }
  }
  nodes {
    name: "swapped"
    op: "Transpose"
    inputs: "parts:1"
    attrs {
      key: "perm"
      value { ints { values: 1 values: 0 } }
    }
  }
  nodes {
    name: "flat"
    op: "Reshape"
    inputs: "swapped"
    attrs {
      key: "shape"
      value { shape { dims: -1 } }
    }
  }
  nodes {
    name: "scaled"
    op: "Scale"
    inputs: "flat"
    attrs {
      key: "scale"
      value { f: 0.5 }
    }
  }
  nodes { name: "same" op: "Identity" inputs: "parts:0" }
  nodes { name: "lsm" op: "LogSoftmax" inputs: "same" }
  nodes {
    name: "rows"
    op: "ReduceSum"
    inputs: "lsm"
    attrs {
      key: "axes"
      value { ints { values: 1 } }
    }
    attrs {
      key: "keep_dims"
      value { b: true }
    }
  }
  nodes {
    name: "wide"
    op: "BroadcastTo"
    inputs: "rows"
    attrs {
      key: "shape"
      value { shape { dims: 2 dims: 5 } }
    }
  }
  nodes { name: "gated" op: "Mul" inputs: "wide" inputs: "same" }
  nodes { name: "a" op: "ReduceMean" inputs: "gated" }
  nodes { name: "b" op: "ReduceMean" inputs: "scaled" }
  nodes { name: "loss" op: "Add" inputs: "a" inputs: "b" }
  signature { loss: "loss" features: "x" }
)pb";

TEST_F(GraphGradientTest, OpsTheModelsDoNotUse) {
  proto::GraphDef def;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kOtherOpsGraph, &def));
  auto graph = GraphFromProto(def, *ops_, "other_ops.pbtxt", 2);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, Tensor> feeds = {{"x", Feed(*graph, "x", 5, -1, 1)}};
  auto report = CheckGraphGradients(*graph, *ops_, *kernels_, feeds);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->variables, 2);
  EXPECT_EQ(report->elements, 3 * 4 + 4);
}

// The harness fails when a gradient is wrong: Tanh's gradient is replaced by
// one that is off by a factor of two.
TEST_F(GraphGradientTest, ReportsAWrongGradient) {
  OpRegistry broken;
  for (const std::string& name : ops_->OpNames()) {
    OpDef def = *ops_->Find(name);
    if (name == "Tanh") {
      GradientFn correct = def.gradient;
      def.gradient = [correct](GradientContext& context) -> absl::Status {
        absl::Status status = correct(context);
        if (!status.ok()) return status;
        auto doubled = context.builder().Add("Scale", {*context.input_grads()[0]},
                                             AttrMap{{"scale", 2.0}}, "doubled");
        if (!doubled.ok()) return doubled.status();
        context.SetInputGrad(0, *doubled);
        return absl::OkStatus();
      };
    }
    ASSERT_TRUE(broken.Register(std::move(def)).ok());
  }
  proto::GraphDef def;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kOtherOpsGraph, &def));
  auto graph = GraphFromProto(def, broken, "other_ops.pbtxt", 2);
  ASSERT_TRUE(graph.ok()) << graph.status();
  std::map<std::string, Tensor> feeds = {{"x", Feed(*graph, "x", 5, -1, 1)}};
  auto report = CheckGraphGradients(*graph, broken, *kernels_, feeds);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(report.status().message().substr(0, 20), "d loss / d w[0]: ana") << report.status();
}

}  // namespace
}  // namespace sbpflow::testing
