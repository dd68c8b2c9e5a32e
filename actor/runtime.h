// The actor runtime: executes a PhysicalPlan step by step.
//
// Every plan op becomes an actor. Actors exchange "register ready" and
// "register free" messages; each output has PlanOp::registers registers,
// which bounds how many values of that output are alive at once (memory) and
// how far a producer may run ahead of its consumers (back-pressure). An actor
// fires when every input has a ready register for its next micro-batch, each
// output has a free register, and (for ops that write an input in place)
// every other reader of that input is done with it.
//
// Kernels run on a oneTBB thread pool; each device has a compute lane (at
// most `compute_width` kernels of the device at once) and a communication
// lane (its own thread) so collectives overlap compute. Register memory comes
// from the device's allocator when an op fires and returns when the last
// consumer frees the register, so the allocator's peak is the measured peak
// memory of the device. A Reshape publishes its input's buffer under the new
// shape (no copy) unless an op writes either value in place.
//
// A step runs every per-micro-batch op plan.micro_batches times and every
// per-step op once; steps do not overlap. A watchdog fails a step that makes
// no progress for `watchdog_timeout` with a report of which actors wait on
// which registers.
//
// Frequencies (M = plan.micro_batches). A per-micro-batch consumer of a
// per-micro-batch value reads piece m for its firing m; a per-micro-batch
// consumer of a per-step value reads the one register in every firing and
// releases it after the last. A per-step op may read a per-micro-batch value
// only when M == 1, or when it is a kAccumulate op (which must be per-step:
// it fires once per piece, adds the pieces in order into its output register,
// piece 0 copied, and emits it after piece M-1). Control inputs need the
// producer's firing for the same piece, all M pieces for a per-step consumer
// of a per-micro-batch producer, and the one firing of a per-step producer.
//
// Feeds and fetches. Placeholders are per-micro-batch: piece m of a feed whose
// dim 0 is B covers rows [m*B/M, (m+1)*B/M), and PlanOp::box is the device's
// box within that micro-batch (a rank-0 feed is delivered whole to every
// piece). Fetched values are copied to host memory when produced, so fetching
// holds no device register, and assembled after the step (actor/
// fetch_assembly.h); the returned tensors outlive the runtime.
//
// Threads. Kernels run in one oneTBB arena of `threads` threads; OpenBLAS is
// set to one thread at Create so kernels are single-threaded and results are
// bit-identical across runs and thread counts. A device's communication lane
// (a std::thread) exists only when the device has collective ops.
#ifndef SBPFLOW_ACTOR_RUNTIME_H_
#define SBPFLOW_ACTOR_RUNTIME_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "actor/variable_store.h"
#include "comm/communicator.h"
#include "kernel/device_context.h"
#include "kernel/kernel_registry.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

// The most worker threads a runtime starts. Fixed rather than a multiple of
// the machine's cores so that a job (and its error) is the same on every
// machine; far above the cores of any host, and starting this many takes a
// fraction of a second.
inline constexpr int kMaxRuntimeThreads = 1024;

struct RuntimeOptions {
  // Worker threads for kernels, at most kMaxRuntimeThreads; 0 = the hardware
  // concurrency.
  int threads = 0;
  // Kernels of one device running at once; 0 = max(1, threads / devices).
  int compute_width = 0;
  // Record per-actor timing for WriteTrace.
  bool trace = false;
  absl::Duration watchdog_timeout = absl::Seconds(120);
};

struct StepResult {
  // Every FetchSpec's logical tensor, assembled from its pieces.
  std::map<std::string, Tensor> fetches;
};

class Runtime {
 public:
  // Checks the plan against the registry (a kernel for every kKernel op,
  // devices of the contexts) and starts the lanes. `kernels`, `variables`,
  // `devices` and `communicator` (needed only when the plan has collectives)
  // must outlive the runtime. Errors: InvalidArgument for threads or
  // compute_width outside [0, kMaxRuntimeThreads], or naming the op, feed or
  // fetch: a missing kernel ("op 'x': no cpu kernel for MatMul (f32)"), bad
  // input/output/device indices, registers < 1, a frequency combination the
  // rules above forbid, two ops writing one value in place, a feed batch not
  // divisible by M, a placeholder or variable box that does not fit, a
  // variable shard missing from `variables`, collectives without a
  // communicator, a fetch that cannot be assembled, or contexts that do not
  // match plan.devices.
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(std::shared_ptr<const PhysicalPlan> plan,
                                                         const KernelRegistry* kernels,
                                                         VariableStore* variables,
                                                         std::vector<DeviceContext*> devices,
                                                         Communicator* communicator,
                                                         RuntimeOptions options);

  virtual ~Runtime() = default;

  // Runs one step. `feeds` holds one logical tensor per FeedSpec (the whole
  // step's batch). Errors: a missing or mistyped feed (InvalidArgument naming
  // it), a kernel's data error (its status, prefixed with the op name), or a
  // watchdog timeout (DeadlineExceeded with the report: "step N: no actor
  // fired for 200ms; waiting:" and one line per unmet condition, e.g. "op 'b'
  // (cpu:0) piece 2: waits for input 0 from 'a'"). A kernel or collective
  // error stops scheduling; RunStep returns after the kernels in flight end.
  // After a step error the runtime runs no further steps (FailedPrecondition);
  // feed errors leave it usable. Feeds not in the plan are ignored. Not
  // thread-safe: one step at a time.
  virtual absl::StatusOr<StepResult> RunStep(const std::map<std::string, Tensor>& feeds) = 0;

  // Steps completed so far.
  virtual int64_t steps() const = 0;

  // Writes the Chrome trace of every step so far (requires options.trace):
  // one process per device, and per lane as many tracks as it ran activations
  // at once ("cpu:0 compute 0", "cpu:0 communication 0"; see actor/trace.h).
  virtual absl::Status WriteTrace(const std::string& path) const = 0;

  // Number of actor activations (firings) so far, for overhead measurements.
  virtual int64_t activations() const = 0;
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_RUNTIME_H_
