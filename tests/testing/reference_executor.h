// A sequential executor for tests: runs the nodes a fetch needs in
// topological order with the registered CPU kernels, on one device, without
// the actor runtime. It is the oracle that op tests and runtime tests compare
// against.
#ifndef SBPFLOW_TESTS_TESTING_REFERENCE_EXECUTOR_H_
#define SBPFLOW_TESTS_TESTING_REFERENCE_EXECUTOR_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "kernel/allocator.h"
#include "kernel/kernel_registry.h"
#include "kernel/tensor.h"

namespace sbpflow::testing {

class ReferenceExecutor {
 public:
  ReferenceExecutor(const Graph* graph, const OpRegistry* ops, const KernelRegistry* kernels)
      : graph_(graph), ops_(ops), kernels_(kernels) {}

  // Feeds: placeholder name -> tensor. Variables: name -> tensor, read by
  // Variable nodes and written in place by ops that mutate them; a variable
  // missing from the map is created from its initializer (job seed 0) and
  // added. Returns the fetched tensors.
  absl::StatusOr<std::vector<Tensor>> Run(const std::map<std::string, Tensor>& feeds,
                                          const std::vector<TensorRef>& fetches,
                                          std::map<std::string, Tensor>* variables);

  CpuAllocator& allocator() { return allocator_; }

 private:
  const Graph* graph_;
  const OpRegistry* ops_;
  const KernelRegistry* kernels_;
  CpuAllocator allocator_;
};

// A tensor of `type` with deterministic values uniform in [low, high)
// (integers: in [low, high) rounded down).
Tensor RandomTensor(Allocator* allocator, const TensorType& type, uint64_t seed, double low = -1,
                    double high = 1);

}  // namespace sbpflow::testing

#endif  // SBPFLOW_TESTS_TESTING_REFERENCE_EXECUTOR_H_
