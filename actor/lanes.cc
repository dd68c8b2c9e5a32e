#include "actor/lanes.h"

namespace sbpflow {
namespace {

// The compute lane whose task runs on this thread, if any; Submit uses it to
// hand work to the running task instead of spawning.
thread_local ComputeLane* current_lane = nullptr;

}  // namespace

ComputeLane::ComputeLane(int device, int width, tbb::task_arena* arena, LaneClient* client,
                         bool trace)
    : device_(device), width_(width), arena_(arena), client_(client), trace_(trace) {}

void ComputeLane::BeginStep() {
  std::lock_guard<SpinLock> lock(mutex_);
  ready_ = ReadyQueue();
  completed_in_step_ = 0;
}

void ComputeLane::Submit(int actor) {
  bool spawn = false;
  {
    std::lock_guard<SpinLock> lock(mutex_);
    ready_.push(actor);
    if (current_lane != this && running_ < width_) {
      ++running_;
      spawn = true;
    }
  }
  if (spawn) Spawn(1);
}

void ComputeLane::Spawn(int count) {
  // oneTBB orders the enqueue before the task, but invisibly to thread
  // sanitizers (the library is not instrumented); this release/acquire pair
  // states the same order in our own code.
  spawned_.fetch_add(count, std::memory_order_release);
  for (int i = 0; i < count; ++i) arena_->enqueue([this] { RunTask(); });
}

bool ComputeLane::Idle() const {
  std::lock_guard<SpinLock> lock(mutex_);
  return running_ == 0;
}

LaneTrace ComputeLane::Trace() const {
  std::lock_guard<SpinLock> lock(mutex_);
  return LaneTrace{device_, TraceLane::kCompute, events_};
}

void ComputeLane::RunTask() {
  spawned_.load(std::memory_order_acquire);
  ComputeLane* const previous_lane = current_lane;
  current_lane = this;
  int actor = -1;
  {
    std::lock_guard<SpinLock> lock(mutex_);
    if (ready_.empty() || client_->StepFailed()) {
      --running_;
      current_lane = previous_lane;
      return;
    }
    actor = ready_.top();
    ready_.pop();
    progress_.fetch_add(1, std::memory_order_relaxed);
  }
  TraceEvent event;
  while (true) {
    client_->Fire(actor, trace_ ? &event : nullptr);
    int spawn = 0;
    {
      std::lock_guard<SpinLock> lock(mutex_);
      progress_.fetch_add(1, std::memory_order_relaxed);
      activations_.fetch_add(1, std::memory_order_relaxed);
      if (trace_) events_.push_back(event);
      // Reported under the lock: once running_ drops to zero the runtime may
      // be destroyed, so nothing may touch the client after that.
      if (++completed_in_step_ == expected_) client_->LaneFinished();
      if (ready_.empty() || client_->StepFailed()) {
        --running_;
        actor = -1;
      } else {
        actor = ready_.top();
        ready_.pop();
        progress_.fetch_add(1, std::memory_order_relaxed);
        // Work this task queued beyond its own next actor may use the rest of
        // the lane's width.
        spawn = std::min<int>(width_ - running_, static_cast<int>(ready_.size()));
        running_ += spawn;
      }
    }
    if (spawn > 0) Spawn(spawn);
    if (actor < 0) break;
  }
  current_lane = previous_lane;
}

CommunicationLane::CommunicationLane(int device, LaneClient* client, bool trace)
    : device_(device), client_(client), trace_(trace) {
  thread_ = std::thread([this] { Loop(); });
}

CommunicationLane::~CommunicationLane() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void CommunicationLane::BeginStep() {
  std::lock_guard<std::mutex> lock(mutex_);
  ready_ = ReadyQueue();
  completed_in_step_ = 0;
}

void CommunicationLane::Submit(int actor) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_.push(actor);
  }
  wake_.notify_one();
}

void CommunicationLane::Completed(const TraceEvent* event) {
  bool finished = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_.fetch_add(1, std::memory_order_relaxed);
    activations_.fetch_add(1, std::memory_order_relaxed);
    if (trace_ && event != nullptr) events_.push_back(*event);
    finished = ++completed_in_step_ == expected_;
  }
  if (finished) client_->LaneFinished();
}

bool CommunicationLane::Idle() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !starting_;
}

LaneTrace CommunicationLane::Trace() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return LaneTrace{device_, TraceLane::kCommunication, events_};
}

void CommunicationLane::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || !ready_.empty(); });
    if (stop_) return;
    const int actor = ready_.top();
    ready_.pop();
    if (client_->StepFailed()) continue;
    starting_ = true;
    progress_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    client_->StartCollective(actor);
    lock.lock();
    starting_ = false;
  }
}

}  // namespace sbpflow
