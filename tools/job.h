// A running job: a compiled plan with its devices, variables, communicator
// and actor runtime, built from a graph file and the command-line options
// shared by `train` and `eval`.
#ifndef SBPFLOW_TOOLS_JOB_H_
#define SBPFLOW_TOOLS_JOB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "actor/runtime.h"
#include "actor/variable_store.h"
#include "comm/in_process_communicator.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/optimizers/optimizer.h"
#include "io/dataset.h"
#include "kernel/device_context.h"
#include "kernel/kernel_registry.h"
#include "sbp/compile.h"
#include "sbp/sbp_rules.h"

namespace sbpflow {

// Options every job takes.
struct JobOptions {
  std::string graph_path;
  std::string data;
  int64_t batch = 0;
  uint64_t seed = 0;
  int threads = 0;
  ParallelOptions parallel;
  // --link-latency-us / --link-gbps: throttle the in-process links (0 = off).
  double link_latency_us = 0;
  double link_gbps = 0;
  double bucket_mb = 4;
  bool no_overlap = false;
  // Pipeline: --pipeline P ranks, --schedule, --micro-batches M, --chunks V
  // (0 = 2 for the interleaved schedule, 1 otherwise).
  std::string schedule = "1f1b";
  int chunks = 0;
  bool trace = false;
};

// The largest --batch: the most elements of any tensor.
inline constexpr int64_t kMaxBatch = int64_t{1} << 60;
// The most emulated link latency, --link-latency-us (one second per hop).
inline constexpr int64_t kMaxLinkLatencyMicroseconds = 1000000;
// The largest gradient bucket, --bucket-mb (1 TiB; its bytes fit an int64).
inline constexpr int64_t kMaxBucketMebibytes = int64_t{1} << 20;

// Checks the numbers of `options` before any work: --batch in [1, kMaxBatch],
// --chunks >= 0, --threads in [0, kMaxRuntimeThreads], --link-latency-us in
// [0, kMaxLinkLatencyMicroseconds], --link-gbps >= 0 and finite, --bucket-mb
// in [0, kMaxBucketMebibytes]. InvalidArgument naming the flag otherwise
// ("--threads must be <= 1024, got 5000").
absl::Status CheckJobOptions(const JobOptions& options);

// What a job runs on: registries (not owned) and the job's devices,
// variables and links, shared by the job's plans.
class JobContext {
 public:
  JobContext(const OpRegistry* ops, const KernelRegistry* kernels, const SbpRuleRegistry* rules)
      : ops_(ops), kernels_(kernels), rules_(rules) {}

  const OpRegistry& ops() const { return *ops_; }
  const KernelRegistry& kernels() const { return *kernels_; }
  const SbpRuleRegistry& rules() const { return *rules_; }

  // Devices and communicator for the job's devices; created once.
  absl::Status StartDevices(const std::vector<Device>& devices, const JobOptions& options);
  std::vector<DeviceContext*> devices() const;
  Communicator* communicator() const { return communicator_.get(); }

  // Per-device peak bytes measured by the allocators.
  std::vector<int64_t> PeakBytes() const;

 private:
  const OpRegistry* ops_;
  const KernelRegistry* kernels_;
  const SbpRuleRegistry* rules_;
  std::vector<std::unique_ptr<DeviceContext>> devices_;
  std::unique_ptr<InProcessCommunicator> communicator_;
};

// A compiled plan and the runtime executing it.
struct PlanRunner {
  CompiledPlan compiled;
  std::unique_ptr<Runtime> runtime;
};

// Loads the job's graph with placeholders bound to `batch` and checks that it
// can train: a signature with loss, features and labels.
absl::StatusOr<Graph> LoadJobGraph(const std::string& path, const OpRegistry& ops, int64_t batch,
                                   bool need_loss);

// Opens --data for the graph's placeholders and checks that what it yields
// fits them (messages name the flag and the placeholder).
absl::StatusOr<std::unique_ptr<Dataset>> OpenJobData(const JobOptions& options, const Graph& graph,
                                                     bool shuffle, bool test_split);

// Compiles `forward` (inferred at the job's batch) with the job's parallel
// options: its training graph when `optimizer` is given, else the forward
// graph alone (one micro-batch); the pipeline schedule is attached when there
// is one.
absl::StatusOr<CompiledPlan> CompileJobPlan(const OpRegistry& ops, const SbpRuleRegistry& rules,
                                            const JobOptions& options, const Graph& forward,
                                            const OptimizerOptions* optimizer);

// Compiles `graph` and starts a runtime for it over `variables` (created
// from the plan when null; then returned through `created`).
absl::StatusOr<PlanRunner> StartPlan(JobContext& context, const JobOptions& options,
                                     const Graph& forward, const OptimizerOptions* optimizer,
                                     VariableStore** variables,
                                     std::unique_ptr<VariableStore>* created);

// The step's feeds: the data set's features and labels under the graph's
// placeholder names.
std::map<std::string, Tensor> FeedsFor(const Graph& graph, Batch batch);

// Writes every variable to a safetensors file (atomically).
absl::Status SaveCheckpoint(const VariableStore& variables, const std::string& path, int64_t steps);

// Loads a checkpoint into the variables: every trainable variable must be in
// it with its shape and dtype; optimizer state is loaded when present (state
// of another optimizer is ignored); anything else is an error.
absl::Status LoadCheckpoint(const std::string& path, VariableStore* variables, std::ostream& log);

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_JOB_H_
