// The implementation of Runtime (actor/runtime.h): actor state, messages,
// firing and the step loop with its watchdog.
//
// Each actor's mutable state sits behind its own mutex. A message ("register
// ready", "register free", "control token", "other readers done") is a direct
// call that updates the receiver under the receiver's lock and, when that
// makes the receiver ready, reserves its output registers and submits it to
// its lane. No lock is held while calling into another actor, a lane or a
// kernel, so there is no lock order to get wrong and no global lock on the
// hot path.
#ifndef SBPFLOW_ACTOR_ACTOR_RUNTIME_H_
#define SBPFLOW_ACTOR_ACTOR_RUNTIME_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "actor/actor_graph.h"
#include "actor/lanes.h"
#include "actor/pipeline_gate.h"
#include "actor/runtime.h"
#include "actor/spin_lock.h"
#include "oneapi/tbb/global_control.h"
#include "oneapi/tbb/task_arena.h"

namespace sbpflow {

class ActorRuntime final : public Runtime, private LaneClient {
 public:
  // See Runtime::Create.
  static absl::StatusOr<std::unique_ptr<Runtime>> Create(std::shared_ptr<const PhysicalPlan> plan,
                                                         const KernelRegistry* kernels,
                                                         VariableStore* variables,
                                                         std::vector<DeviceContext*> devices,
                                                         Communicator* communicator,
                                                         RuntimeOptions options);

  ~ActorRuntime() override;

  absl::StatusOr<StepResult> RunStep(const std::map<std::string, Tensor>& feeds) override;
  int64_t steps() const override { return steps_; }
  absl::Status WriteTrace(const std::string& path) const override;
  int64_t activations() const override;

 private:
  enum Activity : int { kIdle = 0, kQueued = 1, kRunning = 2 };

  // One output of one actor, producer side.
  struct OutputState {
    // Register slots; emission e lives in slot e % registers.
    std::vector<Tensor> slots;
    // Releases still outstanding per slot.
    std::vector<int> pending;
    // Whether the in-place writer was told the other readers are done.
    std::vector<uint8_t> exclusive_sent;
    // Registers reserved or holding a value.
    int in_use = 0;
  };

  struct alignas(64) ActorState {
    SpinLock mutex;
    int next_firing = 0;
    // Reserved (queued or running); cleared when the activation completes.
    bool in_flight = false;
    // Per input: emissions of the producer received so far.
    std::vector<int> ready;
    // Per mutable input, per producer emission: the other readers are done.
    std::vector<std::vector<uint8_t>> exclusive;
    std::vector<int> control_tokens;
    std::vector<OutputState> outputs;
    // Scratch of the activation in flight (touched only by it).
    std::vector<Tensor> input_values;
    std::vector<Tensor> output_values;
    Tensor accumulator;
    // For the watchdog report only.
    std::atomic<int> activity{kIdle};
  };

  // Lets a collective's completion find the runtime, or learn it is gone.
  struct CompletionGate {
    std::shared_mutex mutex;
    ActorRuntime* runtime = nullptr;
  };

  ActorRuntime() = default;

  // LaneClient.
  void Fire(int actor, TraceEvent* event) override;
  void StartCollective(int actor) override;
  void LaneFinished() override;
  bool StepFailed() const override { return failed_.load(std::memory_order_acquire); }

  // Requires the actor's mutex. When the actor's next firing may start,
  // reserves its output registers, marks it in flight and returns true; the
  // caller then submits it (after unlocking).
  bool TryReserve(int actor);
  void Schedule(int actor);

  void GatherInputs(int actor, int firing);
  absl::Status RunKernel(int actor, int firing);
  void RunPlaceholder(int actor, int firing);
  void RunAccumulate(int actor, int firing);
  // Publishes outputs, sends control tokens, releases inputs and lets the
  // actor fire again.
  void Complete(int actor, int firing);
  void Publish(int actor, int output, int emission, Tensor value);
  void Deliver(int consumer, int position, int emission, bool exclusive);
  void DeliverControl(int consumer, int position);
  void Release(int producer, int output, int emission);
  void FinishCollective(int actor, int firing, absl::Status status, int64_t start_ns);

  void Fail(absl::Status status);
  absl::Status BindFeeds(const std::map<std::string, Tensor>& feeds);
  void ResetStep();
  // Waits for the step to finish or fail; fails it when no activation starts
  // or ends for the watchdog timeout.
  absl::Status WaitForStep();
  // Waits until no kernel runs and no collective is being started.
  void WaitIdle();
  int64_t Progress() const;
  int64_t NowNs() const;
  // What every unfinished actor waits for (wait_report.cc).
  std::string WaitReport() const;

  std::shared_ptr<const PhysicalPlan> plan_;
  VariableStore* variables_ = nullptr;
  std::vector<DeviceContext*> devices_;
  Communicator* communicator_ = nullptr;
  RuntimeOptions options_;
  ActorGraph graph_;
  // Per actor: index into plan_->feeds for placeholders, else -1.
  std::vector<int> placeholder_feed_;
  std::chrono::steady_clock::time_point created_;

  // Declared before the lanes, which use them, so they are destroyed after.
  std::unique_ptr<tbb::global_control> thread_limit_;
  std::unique_ptr<tbb::task_arena> arena_;
  std::vector<std::unique_ptr<ComputeLane>> compute_lanes_;              // per device
  std::vector<std::unique_ptr<CommunicationLane>> communication_lanes_;  // per device or null
  std::unique_ptr<ActorState[]> states_;
  // Null without a pipeline schedule.
  std::unique_ptr<PipelineGates> pipeline_;
  std::shared_ptr<CompletionGate> gate_;
  const Tensor empty_tensor_;

  // Per step.
  int64_t steps_ = 0;
  absl::Status broken_;
  std::vector<const Tensor*> feed_values_;
  // [fetch][value][source] snapshots.
  std::vector<std::vector<std::vector<Tensor>>> fetch_values_;
  std::atomic<bool> failed_{false};
  std::atomic<int> lanes_remaining_{0};
  std::mutex step_mutex_;
  std::condition_variable step_changed_;
  bool step_done_ = false;
  absl::Status step_status_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_ACTOR_RUNTIME_H_
