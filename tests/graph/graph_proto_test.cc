// Loading, validating and round-tripping graph files.
#include <filesystem>
#include <fstream>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "graph/graph_proto.h"
#include "graph/ops/builtin_ops.h"

namespace sbpflow {
namespace {

class GraphProtoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto registry = BuildBuiltinOpRegistry();
    ASSERT_TRUE(registry.ok()) << registry.status();
    registry_ = std::make_unique<OpRegistry>(*std::move(registry));
    folder_ = std::filesystem::path(::testing::TempDir()) /
              ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(folder_);
  }

  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = (folder_ / name).string();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // Loads `text` from "g.pbtxt" and returns the error message ("" = loaded).
  std::string LoadError(const std::string& text) {
    auto graph = LoadGraphFile(Write("g.pbtxt", text), *registry_);
    if (graph.ok()) return "";
    EXPECT_EQ(graph.status().code(), absl::StatusCode::kInvalidArgument);
    // Strip the temporary folder so expectations read "g.pbtxt: ...".
    std::string message(graph.status().message());
    const std::string prefix = (folder_ / "").string();
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    return message;
  }

  std::unique_ptr<OpRegistry> registry_;
  std::filesystem::path folder_;
};

constexpr char kPlaceholder[] = R"pb(
nodes { name: "x" op: "Placeholder"
        attrs { key: "shape" value { shape { dims: -1 dims: 4 } } } }
)pb";

constexpr char kLinear[] = R"pb(
name: "linear"
version: 1
nodes { name: "x" op: "Placeholder"
        attrs { key: "shape" value { shape { dims: -1 dims: 4 } } } }
nodes { name: "y" op: "Placeholder"
        attrs { key: "shape" value { shape { dims: -1 } } }
        attrs { key: "dtype" value { type: DT_INT32 } } }
nodes { name: "w" op: "Variable"
        attrs { key: "shape" value { shape { dims: 4 dims: 3 } } }
        attrs { key: "initializer" value { s: "xavier_uniform" } }
        placement { devices: "cpu:0-1" mesh: 2 axes: "dp" }
        output_sbp: "B" }
nodes { name: "logits" op: "MatMul" inputs: "x" inputs: "w" stage: 1 }
nodes { name: "loss" op: "SoftmaxCrossEntropy" inputs: "logits" inputs: "y" }
signature { loss: "loss" features: "x" labels: "y" logits: "logits" }
)pb";

TEST_F(GraphProtoTest, LoadsTextAndInfersShapesAtTheBatch) {
  auto graph = LoadGraphFile(Write("g.pbtxt", kLinear), *registry_, 8);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->num_nodes(), 5);
  EXPECT_EQ(graph->type(TensorRef{*graph->FindNode("logits"), 0}).ToString(), "f32[8,3]");
  EXPECT_EQ(graph->type(TensorRef{*graph->FindNode("loss"), 0}).ToString(), "f32[]");
  EXPECT_EQ(graph->signature().features, "x");
  EXPECT_EQ(graph->signature().labels, "y");
  EXPECT_EQ(graph->signature().loss, (TensorRef{*graph->FindNode("loss"), 0}));
  const Node& w = graph->node(*graph->FindNode("w"));
  EXPECT_EQ(w.placement.devices, "cpu:0-1");
  EXPECT_EQ(w.output_sbp, std::vector<std::string>{"B"});
  EXPECT_EQ(graph->node(*graph->FindNode("logits")).stage, 1);
}

TEST_F(GraphProtoTest, BinaryAndTextRoundTripToTheSameGraph) {
  auto graph = LoadGraphFile(Write("g.pbtxt", kLinear), *registry_);
  ASSERT_TRUE(graph.ok()) << graph.status();
  const proto::GraphDef original = GraphToProto(*graph);
  const std::string binary = (folder_ / "copy.pb").string();
  const std::string text = (folder_ / "copy.pbtxt").string();
  ASSERT_TRUE(WriteGraphDefFile(original, binary).ok());
  ASSERT_TRUE(WriteGraphDefFile(original, text).ok());
  // Binary files are not text; text files are.
  std::ifstream binary_file(binary, std::ios::binary);
  EXPECT_NE(static_cast<char>(binary_file.peek()), 'n');
  for (const std::string& path : {binary, text}) {
    auto reloaded = LoadGraphFile(path, *registry_);
    ASSERT_TRUE(reloaded.ok()) << reloaded.status();
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(original,
                                                                   GraphToProto(*reloaded)))
        << path;
  }
  // No temporary files are left behind by the atomic writes.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder_)) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 3);
}

struct BadGraph {
  std::string label;
  std::string text;
  std::string error;
};

void PrintTo(const BadGraph& bad, std::ostream* out) { *out << bad.label; }

class MalformedGraphTest : public GraphProtoTest,
                           public ::testing::WithParamInterface<BadGraph> {};

TEST_P(MalformedGraphTest, ReportsOneLineNamingFileNodeAndField) {
  const BadGraph& bad = GetParam();
  const std::string error = LoadError(bad.text);
  EXPECT_EQ(error, bad.error);
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

std::string With(const std::string& extra) { return std::string(kPlaceholder) + extra; }

INSTANTIATE_TEST_SUITE_P(
    Loader, MalformedGraphTest,
    ::testing::Values(
        BadGraph{"Empty", "", "g.pbtxt: field 'nodes': the graph is empty"},
        BadGraph{"TextSyntax", "nodes { name: \"x\" ",
                 "g.pbtxt: not a valid text GraphDef: line 1:19: Expected identifier, got: "},
        BadGraph{"Version", With("version: 7"),
                 "g.pbtxt: field 'version': version 7 is not supported (this build reads "
                 "version 1)"},
        BadGraph{"EmptyName", With("nodes { op: \"Identity\" inputs: \"x\" }"),
                 "g.pbtxt: node '': field 'name': must be non-empty printable text without "
                 "':', '^', ',' or spaces"},
        BadGraph{"ColonInName", With("nodes { name: \"a:b\" op: \"Identity\" inputs: \"x\" }"),
                 "g.pbtxt: node 'a:b': field 'name': must be non-empty printable text without "
                 "':', '^', ',' or spaces"},
        BadGraph{"DuplicateName", With("nodes { name: \"x\" op: \"Identity\" inputs: \"x\" }"),
                 "g.pbtxt: node 'x' (Identity): field 'name': name is used by an earlier node"},
        BadGraph{"UnknownOp", With("nodes { name: \"a\" op: \"Frobnicate\" inputs: \"x\" }"),
                 "g.pbtxt: node 'a' (Frobnicate): field 'op': unknown op 'Frobnicate'"},
        BadGraph{"DanglingInput", With("nodes { name: \"a\" op: \"Identity\" inputs: \"z\" }"),
                 "g.pbtxt: node 'a' (Identity): input 'z': no node is named 'z'"},
        BadGraph{"MalformedInput", With("nodes { name: \"a\" op: \"Identity\" inputs: \"x:one\" }"),
                 "g.pbtxt: node 'a' (Identity): input 'x:one': expected NODE, NODE:INDEX or "
                 "^NODE"},
        BadGraph{"OutputIndex", With("nodes { name: \"a\" op: \"Identity\" inputs: \"x:3\" }"),
                 "g.pbtxt: node 'a' (Identity): input 'x:3': node 'x' has 1 output(s)"},
        BadGraph{"ControlBeforeData",
                 With("nodes { name: \"a\" op: \"Identity\" inputs: \"^x\" inputs: \"x\" }"),
                 "g.pbtxt: node 'a' (Identity): input 'x': data inputs must precede control "
                 "inputs"},
        BadGraph{"Cycle", With(R"pb(nodes { name: "a" op: "Identity" inputs: "b" }
                                  nodes { name: "b" op: "Identity" inputs: "a" })pb"),
                 "g.pbtxt: node 'b': the graph has a cycle through it"},
        BadGraph{"Arity", With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" inputs: \"x\" }"),
                 "g.pbtxt: node 'a' (Identity): inputs: expected 1 input(s), got 2"},
        BadGraph{"MissingAttr", "nodes { name: \"x\" op: \"Placeholder\" }",
                 "g.pbtxt: node 'x' (Placeholder): attr 'shape' is missing"},
        BadGraph{"AttrType",
                 "nodes { name: \"x\" op: \"Placeholder\" attrs { key: \"shape\" value { i: 3 } } }",
                 "g.pbtxt: node 'x' (Placeholder): attr 'shape' must be shape, got int"},
        BadGraph{"UnknownAttr",
                 With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" "
                      "attrs { key: \"speed\" value { i: 3 } } }"),
                 "g.pbtxt: node 'a' (Identity): attr 'speed' is unknown"},
        BadGraph{"AttrWithoutValue",
                 With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" "
                      "attrs { key: \"speed\" value { } } }"),
                 "g.pbtxt: node 'a' (Identity): attr 'speed' has no value"},
        BadGraph{"Initializer",
                 R"pb(nodes { name: "w" op: "Variable"
                            attrs { key: "shape" value { shape { dims: 2 } } }
                            attrs { key: "initializer" value { s: "normal(-1)" } } })pb",
                 "g.pbtxt: node 'w' (Variable): attr 'initializer': initializer 'normal(-1)': "
                 "std must be >= 0"},
        BadGraph{"UnknownBatchDimension",
                 "nodes { name: \"x\" op: \"Placeholder\" "
                 "attrs { key: \"shape\" value { shape { dims: 4 dims: -1 } } } }",
                 "g.pbtxt: node 'x' (Placeholder): attr 'shape': only dimension 0 (the batch) "
                 "may be -1, got [4,?]"},
        BadGraph{"ContractionMismatch",
                 With(R"pb(nodes { name: "w" op: "Variable"
                                 attrs { key: "shape" value { shape { dims: 5 dims: 3 } } } }
                         nodes { name: "m" op: "MatMul" inputs: "x" inputs: "w" })pb"),
                 "g.pbtxt: node 'm' (MatMul): inputs 'a' and 'b': contraction dimensions differ: "
                 "f32[1,4] vs f32[5,3]"},
        BadGraph{"DtypeMismatch",
                 With(R"pb(nodes { name: "i" op: "Placeholder"
                                 attrs { key: "shape" value { shape { dims: -1 dims: 4 } } }
                                 attrs { key: "dtype" value { type: DT_INT32 } } }
                         nodes { name: "s" op: "Add" inputs: "x" inputs: "i" })pb"),
                 "g.pbtxt: node 's' (Add): input 'b' must be floating point, got i32[1,4]"},
        BadGraph{"ConstCount",
                 R"pb(nodes { name: "c" op: "Const"
                            attrs { key: "shape" value { shape { dims: 3 } } }
                            attrs { key: "value" value { floats { values: 1 values: 2 } } } })pb",
                 "g.pbtxt: node 'c' (Const): attr 'value': has 2 element(s); expected 1 or 3 "
                 "for shape [3]"},
        BadGraph{"LossMissing", With("signature { loss: \"nope\" }"),
                 "g.pbtxt: field 'signature.loss': 'nope' names no node"},
        BadGraph{"LossNotScalar", With("signature { loss: \"x\" }"),
                 "g.pbtxt: field 'signature.loss': 'x' must be a floating-point scalar, got "
                 "f32[1,4]"},
        BadGraph{"FeaturesNotPlaceholder",
                 With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" } "
                      "signature { features: \"a\" }"),
                 "g.pbtxt: field 'signature.features': 'a' must be a Placeholder, is Identity"},
        BadGraph{"TooManySbps", With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" "
                                     "output_sbp: \"B\" output_sbp: \"B\" }"),
                 "g.pbtxt: node 'a' (Identity): field 'output_sbp': 2 entries for 1 output(s)"},
        BadGraph{"NegativeStage",
                 With("nodes { name: \"a\" op: \"Identity\" inputs: \"x\" stage: -2 }"),
                 "g.pbtxt: node 'a' (Identity): field 'stage': must be >= 0"}),
    [](const ::testing::TestParamInfo<BadGraph>& info) { return info.param.label; });

TEST_F(GraphProtoTest, MissingFileIsNotFound) {
  auto graph = LoadGraphFile((folder_ / "absent.pb").string(), *registry_);
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(graph.status().message(),
            (folder_ / "absent.pb").string() + ": cannot open: No such file or directory");
}

TEST_F(GraphProtoTest, BinaryGarbageIsRejected) {
  std::string garbage = "\x0a\xff\xff\xff\xff\x0f";
  auto graph = LoadGraphFile(Write("garbage.pb", garbage), *registry_);
  ASSERT_FALSE(graph.ok());
  EXPECT_EQ(graph.status().message(),
            (folder_ / "garbage.pb").string() + ": not a valid binary GraphDef");
}

}  // namespace
}  // namespace sbpflow
