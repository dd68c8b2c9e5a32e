#include "actor/runtime.h"

#include "actor/actor_runtime.h"

namespace sbpflow {

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Create(std::shared_ptr<const PhysicalPlan> plan,
                                                         const KernelRegistry* kernels,
                                                         VariableStore* variables,
                                                         std::vector<DeviceContext*> devices,
                                                         Communicator* communicator,
                                                         RuntimeOptions options) {
  return ActorRuntime::Create(std::move(plan), kernels, variables, std::move(devices), communicator,
                              options);
}

}  // namespace sbpflow
