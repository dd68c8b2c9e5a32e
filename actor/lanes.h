// The two kinds of execution lane every device has.
//
// A ComputeLane is a strand with a width: ready actors wait in a queue
// ordered by plan op index, and at most `width` oneTBB tasks of the lane run
// at once. A task keeps running the lane's ready actors one after another, so
// an actor that makes its successor ready hands it to the same task instead
// of spawning a new one (the common case in chains costs no task spawn).
//
// A CommunicationLane is a dedicated thread that starts collectives in op
// index order; starting never blocks, and the completion arrives later on
// whatever thread the communicator chooses.
//
// Both count the activations of the current step and tell their client when
// the expected number is reached; both keep their own trace buffer.
#ifndef SBPFLOW_ACTOR_LANES_H_
#define SBPFLOW_ACTOR_LANES_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "actor/spin_lock.h"
#include "actor/trace.h"
#include "oneapi/tbb/task_arena.h"

namespace sbpflow {

// What lanes call back into (the runtime).
class LaneClient {
 public:
  virtual ~LaneClient() = default;
  // Runs one activation of a compute actor on the calling thread. Fills
  // `event` (op, piece, times) when it is not null.
  virtual void Fire(int actor, TraceEvent* event) = 0;
  // Starts one activation of a collective actor; must not block.
  virtual void StartCollective(int actor) = 0;
  // A lane reached its expected activation count for the step.
  virtual void LaneFinished() = 0;
  // Whether the step has failed (lanes then stop starting work).
  virtual bool StepFailed() const = 0;
};

using ReadyQueue = std::priority_queue<int, std::vector<int>, std::greater<int>>;

class ComputeLane {
 public:
  // `arena` and `client` outlive the lane.
  ComputeLane(int device, int width, tbb::task_arena* arena, LaneClient* client, bool trace);
  ComputeLane(const ComputeLane&) = delete;
  ComputeLane& operator=(const ComputeLane&) = delete;

  // Per-step activation count; set before the first step.
  void set_expected(int64_t expected) { expected_ = expected; }
  int64_t expected() const { return expected_; }
  // Clears the queue and the step's count. No task may be firing.
  void BeginStep();
  // Queues a ready actor and starts a task when the lane has room. Called
  // from a task of this lane, it only queues: that task picks the work up.
  void Submit(int actor);
  // No task of the lane is alive.
  bool Idle() const;
  // Increases whenever an activation starts or ends (for the watchdog).
  int64_t progress() const { return progress_.load(std::memory_order_relaxed); }
  // Activations completed over the lane's lifetime.
  int64_t activations() const { return activations_.load(std::memory_order_relaxed); }
  LaneTrace Trace() const;

 private:
  void RunTask();
  void Spawn(int count);

  const int device_;
  const int width_;
  tbb::task_arena* const arena_;
  LaneClient* const client_;
  const bool trace_;
  int64_t expected_ = 0;

  mutable SpinLock mutex_;
  ReadyQueue ready_;
  int running_ = 0;
  int64_t completed_in_step_ = 0;
  std::vector<TraceEvent> events_;
  std::atomic<int64_t> progress_{0};
  std::atomic<int64_t> activations_{0};
  std::atomic<int64_t> spawned_{0};
};

class CommunicationLane {
 public:
  // `client` outlives the lane. Starts the lane's thread.
  CommunicationLane(int device, LaneClient* client, bool trace);
  // Stops and joins the thread.
  ~CommunicationLane();
  CommunicationLane(const CommunicationLane&) = delete;
  CommunicationLane& operator=(const CommunicationLane&) = delete;

  void set_expected(int64_t expected) { expected_ = expected; }
  int64_t expected() const { return expected_; }
  void BeginStep();
  void Submit(int actor);
  // A collective started on this lane completed; `event` may be null.
  void Completed(const TraceEvent* event);
  // The thread is not inside StartCollective.
  bool Idle() const;
  int64_t progress() const { return progress_.load(std::memory_order_relaxed); }
  int64_t activations() const { return activations_.load(std::memory_order_relaxed); }
  LaneTrace Trace() const;

 private:
  void Loop();

  const int device_;
  LaneClient* const client_;
  const bool trace_;
  int64_t expected_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  ReadyQueue ready_;
  bool stop_ = false;
  bool starting_ = false;
  int64_t completed_in_step_ = 0;
  std::vector<TraceEvent> events_;
  std::atomic<int64_t> progress_{0};
  std::atomic<int64_t> activations_{0};
  std::thread thread_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_LANES_H_
