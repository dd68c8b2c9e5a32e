#include "gtest/gtest.h"
#include "graph/graph_builder.h"
#include "graph/ops/builtin_ops.h"

namespace sbpflow {
namespace {

TEST(SourceOpsTest, VariableRejectsUnknownInitializer) {
  auto registry = BuildBuiltinOpRegistry();
  ASSERT_TRUE(registry.ok());
  Graph graph;
  GraphBuilder builder(&graph, &*registry);
  auto node = builder.AddNode("Variable", {},
                              AttrMap{{"shape", Shape{2, 3}}, {"initializer", std::string("magic")}},
                              "w");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().message(),
            "node 'w' (Variable): attr 'initializer': initializer 'magic' is unknown (expected "
            "zeros, ones, constant(V), normal(STD), uniform(A,B), xavier_uniform or "
            "kaiming_uniform)");
}

TEST(SourceOpsTest, ConstValueCountMustMatch) {
  auto registry = BuildBuiltinOpRegistry();
  ASSERT_TRUE(registry.ok());
  Graph graph;
  GraphBuilder builder(&graph, &*registry);
  auto node = builder.AddNode(
      "Const", {}, AttrMap{{"shape", Shape{2}}, {"value", std::vector<double>{1, 2, 3}}}, "c");
  ASSERT_FALSE(node.ok());
  EXPECT_EQ(node.status().message(),
            "node 'c' (Const): attr 'value': has 3 element(s); expected 1 or 2 for shape [2]");
}

}  // namespace
}  // namespace sbpflow
