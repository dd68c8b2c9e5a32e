// Shared helpers of the actor runtime tests: a few test ops (schema and CPU
// kernels) that do not depend on the built-in op families, plan builders, and
// a harness that owns everything a Runtime needs.
#ifndef SBPFLOW_TESTS_ACTOR_ACTOR_TESTING_H_
#define SBPFLOW_TESTS_ACTOR_ACTOR_TESTING_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/runtime.h"
#include "actor/variable_store.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "kernel/device_context.h"
#include "kernel/kernel_registry.h"
#include "sbp/physical_plan.h"

namespace sbpflow::testing {

// Test ops, f32 and f64 unless noted:
//   TestAdd(a, b)            a + b, same shapes
//   TestMul(a, b)            a * b, same shapes
//   TestAffine(x; scale, shift)  x * scale + shift
//   TestRowSum(x)            sum over axis 0 (rows in order), shape x[1:]
//   TestMatMul(a [n,k], b [k,m])  naive a·b
//   TestSgd(var, grad; lr)   var -= lr * grad in place, no outputs
//   TestSleep(x; ms)         x, after sleeping `ms` milliseconds
absl::Status RegisterTestOps(OpRegistry& registry);
absl::Status RegisterTestKernels(KernelRegistry& registry);

// Built-in ops/kernels plus the test ones. CHECK-fail on error.
OpRegistry TestOpRegistry();
KernelRegistry TestKernelRegistry();

// Parses a text GraphDef and binds the batch dimension.
absl::StatusOr<Graph> ParseGraph(const std::string& text, const OpRegistry& ops, int64_t batch);

// A plan op of kind kKernel (or `kind`) with the given inputs and outputs.
PlanOp MakeOp(std::string name, std::string type, std::vector<PlanValue> inputs,
              std::vector<TensorType> outputs, Frequency frequency = Frequency::kPerMicroBatch,
              PlanOpKind kind = PlanOpKind::kKernel);

// A per-micro-batch placeholder op for feed `feed` on device 0 covering the
// whole micro-batch of shape `micro_batch`.
PlanOp MakePlaceholder(std::string name, const TensorType& micro_batch);

// Everything a runtime needs, owned together.
struct RuntimeHarness {
  std::shared_ptr<const PhysicalPlan> plan;
  std::vector<std::unique_ptr<DeviceContext>> contexts;
  std::unique_ptr<VariableStore> variables;
  std::unique_ptr<Runtime> runtime;

  Allocator* allocator(int device = 0) const { return contexts[device]->allocator(); }
};

// Creates the device contexts, the variable store (job seed 0) and the
// runtime.
absl::StatusOr<std::unique_ptr<RuntimeHarness>> MakeRuntime(PhysicalPlan plan,
                                                            const KernelRegistry* kernels,
                                                            RuntimeOptions options,
                                                            Communicator* communicator = nullptr);

// The elements of an f32 tensor.
std::vector<float> Floats(const Tensor& tensor);

// Same dtype, shape and bytes.
bool BitEqual(const Tensor& a, const Tensor& b);

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_ACTOR_ACTOR_TESTING_H_
