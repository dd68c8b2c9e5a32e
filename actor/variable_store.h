// The persistent state of a job: every device's shard of every variable
// (trainable weights and optimizer state). Shards are created from the plan's
// VariableSpecs and live in the device's allocator; kVariable plan ops alias
// them, so updates made in place by optimizer kernels persist across steps.
//
// Thread safety: Create/ReadLogical/WriteLogical must not run concurrently
// with a step; Shard() may be called from runtime threads.
#ifndef SBPFLOW_ACTOR_VARIABLE_STORE_H_
#define SBPFLOW_ACTOR_VARIABLE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernel/device_context.h"
#include "kernel/tensor.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

class VariableStore {
 public:
  // Allocates and initializes every shard: element values come from the
  // variable's initializer, keyed by (job_seed, seed attr, variable name) and
  // the logical element index, so every layout starts from the same logical
  // tensor. Each value is computed in double and cast to the dtype. `devices`
  // has one context per plan device and outlives the store. Errors
  // (InvalidArgument naming the variable): an unknown initializer, a shard op
  // that is not a kVariable op of the variable, a box outside the logical
  // shape, two shards on one device, or a context count that differs from
  // plan.devices.
  static absl::StatusOr<std::unique_ptr<VariableStore>> Create(
      const PhysicalPlan& plan, uint64_t job_seed, const std::vector<DeviceContext*>& devices);

  // The shard of `name` on plan device `device`; an invalid Tensor when the
  // device holds none.
  Tensor Shard(int device, const std::string& name) const;

  // Logical variables in plan order.
  const std::vector<VariableSpec>& variables() const { return variables_; }

  // Assembles the logical tensor (from the lowest-indexed shard holding each
  // element). NotFound for an unknown name.
  absl::StatusOr<Tensor> ReadLogical(const std::string& name, Allocator* allocator) const;

  // Scatters a logical tensor into every shard. InvalidArgument when dtype or
  // shape differ from the variable's (message names the variable, expected
  // and actual types).
  absl::Status WriteLogical(const std::string& name, const Tensor& value);

 private:
  VariableStore() = default;

  std::vector<VariableSpec> variables_;
  // (name) -> per device shard and its box.
  struct Shards {
    std::map<int, Tensor> tensors;
    std::map<int, Box> boxes;
  };
  std::map<std::string, Shards> shards_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_VARIABLE_STORE_H_
