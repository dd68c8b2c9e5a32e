// Helpers for the op family tests in tests/ops_a: shared registries, shape
// inference of one node, running one op on the reference executor, and index
// arithmetic for naive references.
#ifndef SBPFLOW_TESTS_OPS_A_OP_TEST_UTIL_H_
#define SBPFLOW_TESTS_OPS_A_OP_TEST_UTIL_H_

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "glog/logging.h"
#include "graph/graph_builder.h"
#include "graph/ops/builtin_ops.h"
#include "gtest/gtest.h"
#include "kernel/cpu/cpu_kernels.h"
#include "tests/testing/gradient_check.h"
#include "tests/testing/reference_executor.h"

namespace sbpflow::testing {

inline const OpRegistry& Ops() {
  static const OpRegistry* const registry = [] {
    auto built = BuildBuiltinOpRegistry();
    CHECK(built.ok()) << built.status();
    return new OpRegistry(*std::move(built));
  }();
  return *registry;
}

inline const KernelRegistry& Kernels() {
  static const KernelRegistry* const registry = [] {
    auto built = BuildBuiltinKernelRegistry();
    CHECK(built.ok()) << built.status();
    return new KernelRegistry(*std::move(built));
  }();
  return *registry;
}

// Lives as long as the test binary, so tensors may outlive any executor.
inline Allocator* TestAllocator() {
  static CpuAllocator* const allocator = new CpuAllocator();
  return allocator;
}

// The op's ShapeFn result (after schema checks), without a node-name prefix.
inline absl::StatusOr<std::vector<TensorType>> Infer(const std::string& op,
                                                     const std::vector<TensorType>& inputs,
                                                     AttrMap attrs = {}) {
  const OpDef* def = Ops().Find(op);
  CHECK(def != nullptr) << op;
  return InferOutputs(*def, "node", inputs, attrs);
}

// One inferred output type; fails the test on an error.
inline TensorType InferOne(const std::string& op, const std::vector<TensorType>& inputs,
                           AttrMap attrs = {}) {
  auto outputs = Infer(op, inputs, std::move(attrs));
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  if (!outputs.ok() || outputs->size() != 1) return TensorType{};
  return (*outputs)[0];
}

// The error message of a failing inference ("" when it succeeds).
inline std::string InferError(const std::string& op, const std::vector<TensorType>& inputs,
                              AttrMap attrs = {}) {
  auto outputs = Infer(op, inputs, std::move(attrs));
  return outputs.ok() ? "" : std::string(outputs.status().message());
}

inline int64_t Flops(const std::string& op, const std::vector<TensorType>& inputs,
                     AttrMap attrs = {}) {
  const OpDef* def = Ops().Find(op);
  CHECK(def != nullptr) << op;
  auto outputs = InferOutputs(*def, "node", inputs, attrs);
  CHECK(outputs.ok()) << outputs.status();
  return EstimateFlops(*def, "node", inputs, attrs, *outputs);
}

// Runs placeholders -> op on the reference executor; returns every output.
inline absl::StatusOr<std::vector<Tensor>> RunOp(const std::string& op, AttrMap attrs,
                                                 const std::vector<Tensor>& inputs) {
  Graph graph;
  GraphBuilder builder(&graph, &Ops());
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
  SBP_ASSIGN_OR_RETURN(int node, builder.AddNamedNode("op", op, refs, std::move(attrs)));
  std::vector<TensorRef> fetches;
  for (size_t k = 0; k < graph.node(node).outputs.size(); ++k) {
    fetches.push_back(TensorRef{node, static_cast<int>(k)});
  }
  ReferenceExecutor executor(&graph, &Ops(), &Kernels());
  std::map<std::string, Tensor> variables;
  SBP_ASSIGN_OR_RETURN(std::vector<Tensor> outputs, executor.Run(feeds, fetches, &variables));
  // The executor's allocator dies with it.
  std::vector<Tensor> copies;
  for (const Tensor& output : outputs) copies.push_back(output.Clone(TestAllocator()));
  return copies;
}

// RunOp for single-output ops; fails the test on an error.
inline Tensor RunOne(const std::string& op, AttrMap attrs, const std::vector<Tensor>& inputs) {
  auto outputs = RunOp(op, std::move(attrs), inputs);
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  if (!outputs.ok() || outputs->size() != 1) return Tensor();
  return (*outputs)[0];
}

inline Tensor Random(DataType dtype, Shape shape, uint64_t seed, double low = -1, double high = 1) {
  return RandomTensor(TestAllocator(), TensorType{dtype, std::move(shape)}, seed, low, high);
}

// Element values as doubles (f32 and f64 tensors).
inline std::vector<double> ToDoubles(const Tensor& tensor) {
  std::vector<double> values(tensor.num_elements());
  for (int64_t i = 0; i < tensor.num_elements(); ++i) {
    values[i] =
        tensor.dtype() == DataType::kFloat32 ? tensor.data<float>()[i] : tensor.data<double>()[i];
  }
  return values;
}

// Expects `actual` to have `shape` and values within `tolerance` (absolute
// plus relative) of `expected`.
inline void ExpectValuesNear(const Tensor& actual, const Shape& shape,
                             const std::vector<double>& expected, double tolerance) {
  ASSERT_EQ(actual.shape(), shape);
  const std::vector<double> values = ToDoubles(actual);
  ASSERT_EQ(values.size(), expected.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_NEAR(values[i], expected[i], tolerance * (1 + std::abs(expected[i]))) << "element " << i;
  }
}

// Tolerance for comparing a kernel of `dtype` against a double reference.
inline double ToleranceFor(DataType dtype) { return dtype == DataType::kFloat32 ? 2e-5 : 1e-12; }

inline bool BitIdentical(const Tensor& a, const Tensor& b) {
  return a.type() == b.type() && std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

// Row-major multi-index of a flat offset.
inline std::vector<int64_t> Unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.rank());
  for (int axis = shape.rank() - 1; axis >= 0; --axis) {
    index[axis] = flat % shape.dim(axis);
    flat /= shape.dim(axis);
  }
  return index;
}

// Flat offset in `shape` of the element a broadcast result reads at `index`
// (index has at least shape.rank() entries; trailing alignment).
inline int64_t BroadcastOffset(const std::vector<int64_t>& index, const Shape& shape) {
  const int offset = static_cast<int>(index.size()) - shape.rank();
  int64_t flat = 0;
  for (int axis = 0; axis < shape.rank(); ++axis) {
    flat = flat * shape.dim(axis) + (shape.dim(axis) == 1 ? 0 : index[axis + offset]);
  }
  return flat;
}

inline absl::Status CheckGradient(const std::string& op, const AttrMap& attrs,
                                  const std::vector<Tensor>& inputs,
                                  const GradientCheckOptions& options = {}) {
  return CheckOpGradient(Ops(), Kernels(), op, attrs, inputs, options);
}

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_OPS_A_OP_TEST_UTIL_H_
