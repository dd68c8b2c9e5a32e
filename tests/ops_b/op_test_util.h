// Helpers for the op family tests in tests/ops_b: the built-in registries,
// shape inference of one node, and running one op with the reference
// executor.
#ifndef SBPFLOW_TESTS_OPS_B_OP_TEST_UTIL_H_
#define SBPFLOW_TESTS_OPS_B_OP_TEST_UTIL_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "graph/autodiff.h"
#include "graph/graph_builder.h"
#include "graph/ops/builtin_ops.h"
#include "kernel/allocator.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {

struct Registries {
  OpRegistry ops;
  KernelRegistry kernels;
};

// The built-in op and CPU kernel registries, built once per test binary.
inline const Registries& Builtin() {
  static const Registries* registries = [] {
    auto ops = BuildBuiltinOpRegistry();
    CHECK(ops.ok()) << ops.status();
    auto kernels = BuildBuiltinKernelRegistry();
    CHECK(kernels.ok()) << kernels.status();
    return new Registries{*std::move(ops), *std::move(kernels)};
  }();
  return *registries;
}

// Outlives every tensor a test makes, so handles never outlive their memory.
inline Allocator* TestAllocator() {
  static CpuAllocator* allocator = new CpuAllocator;
  return allocator;
}

template <typename T>
Tensor MakeTensor(Shape shape, const std::vector<T>& values) {
  return Tensor::FromVector<T>(TestAllocator(), std::move(shape), values);
}

// Placeholders "x0", "x1", ... of `types` feeding a node named "op". Returns
// the node's output types, or the builder's error ("node 'op' (OP): ...").
inline absl::StatusOr<std::vector<TensorType>> InferOp(const std::string& op, const AttrMap& attrs,
                                                       const std::vector<TensorType>& types) {
  Graph graph;
  GraphBuilder builder(&graph, &Builtin().ops);
  std::vector<TensorRef> inputs;
  for (size_t i = 0; i < types.size(); ++i) {
    SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode(absl::StrCat("x", i), "Placeholder", {},
                                                        AttrMap{{"shape", types[i].shape},
                                                                {"dtype", types[i].dtype}}));
    inputs.push_back(TensorRef{node, 0});
  }
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode("op", op, inputs, attrs));
  return graph.node(node).outputs;
}

// Runs `op` once on `inputs` with the reference executor and returns copies of
// its outputs. Inputs are fed by handle, so an op that writes its inputs in
// place (optimizer updates) updates the caller's tensors; such an op has no
// outputs and runs through a control edge.
inline absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op, const AttrMap& attrs,
                                                 const std::vector<Tensor>& inputs) {
  Graph graph;
  GraphBuilder builder(&graph, &Builtin().ops);
  std::vector<TensorRef> refs;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string name = absl::StrCat("x", i);
    SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode(name, "Placeholder", {},
                                                        AttrMap{{"shape", inputs[i].shape()},
                                                                {"dtype", inputs[i].dtype()}}));
    refs.push_back(TensorRef{node, 0});
    feeds[name] = inputs[i];
  }
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode("op", op, refs, attrs));
  std::vector<TensorRef> fetches;
  for (int k = 0; k < static_cast<int>(graph.node(node).outputs.size()); ++k) {
    fetches.push_back(TensorRef{node, k});
  }
  if (fetches.empty()) {
    SBP_ASSIGN_OR_RETURN(int after, builder.AddNamedNode("after", "Identity", {refs[0]}));
    graph.mutable_node(after).control_inputs.push_back(node);
    fetches.push_back(TensorRef{after, 0});
  }
  ReferenceExecutor executor(&graph, &Builtin().ops, &Builtin().kernels);
  std::map<std::string, Tensor> variables;
  SBP_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, executor.Run(feeds, fetches, &variables));
  std::vector<Tensor> copies;
  if (graph.node(node).outputs.empty()) return copies;
  for (const Tensor& output : outputs) copies.push_back(output.Clone(TestAllocator()));
  return copies;
}

// The nodes that `op`'s gradient function adds when the outputs in
// `outputs_with_grads` (empty = all) receive a gradient and every floating
// input needs one. Lets tests assert which ops a gradient is built from.
inline absl::StatusOr<std::vector<Node>> GradientNodes(const std::string& op, const AttrMap& attrs,
                                                       const std::vector<TensorType>& types,
                                                       std::vector<int> outputs_with_grads = {}) {
  Graph graph;
  GraphBuilder builder(&graph, &Builtin().ops);
  std::vector<TensorRef> inputs;
  std::vector<bool> needs;
  for (size_t i = 0; i < types.size(); ++i) {
    SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode(absl::StrCat("x", i), "Placeholder", {},
                                                        AttrMap{{"shape", types[i].shape},
                                                                {"dtype", types[i].dtype}}));
    inputs.push_back(TensorRef{node, 0});
    needs.push_back(IsFloatingPoint(types[i].dtype));
  }
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode("op", op, inputs, attrs));
  const std::vector<TensorType> outputs = graph.node(node).outputs;
  if (outputs_with_grads.empty()) {
    for (int k = 0; k < static_cast<int>(outputs.size()); ++k) outputs_with_grads.push_back(k);
  }
  std::vector<std::optional<TensorRef>> output_grads(outputs.size());
  for (int k : outputs_with_grads) {
    SBP_ASSIGN_OR_RETURN(int grad, builder.AddNamedNode(absl::StrCat("dy", k), "Placeholder", {},
                                                        AttrMap{{"shape", outputs[k].shape},
                                                                {"dtype", outputs[k].dtype}}));
    output_grads[k] = TensorRef{grad, 0};
  }
  const int first_new = graph.num_nodes();
  GradientContext context(&builder, node, output_grads);
  context.set_needs_input_grad(needs);
  const OpDef* def = Builtin().ops.Find(op);
  if (def == nullptr || !def->gradient) {
    return absl::NotFoundError(absl::StrCat(op, " has no gradient"));
  }
  SBP_RETURN_IF_ERROR(def->gradient(context));
  return std::vector<Node>(graph.nodes().begin() + first_new, graph.nodes().end());
}

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_OPS_B_OP_TEST_UTIL_H_
