// The in-process backend for virtual CPU devices: collectives move data
// through shared memory, every participant pulling exactly the pieces it
// needs from its peers' buffers (no central gather).
//
// Each device has a link thread; a collective's work for a participant runs
// on that participant's link thread once every participant has called Start,
// so a device's transfers are serialized like a real link and never block a
// compute thread. In an all-reduce each participant reduces a balanced 1/n
// chunk and writes it straight into every participant's output (a
// reduce-scatter and an all-gather fused into one pass over memory). Every
// participant's `done` runs when all of them have finished, so no input is
// released while a peer may still read it.
//
// Reductions add contributions in rank order, so results are bit-identical
// whatever the algorithm or thread timing. An optional link model throttles
// every participant's step to at least latency·hops + bytes_sent / bandwidth,
// to emulate a network.
#ifndef SBPFLOW_COMM_IN_PROCESS_COMMUNICATOR_H_
#define SBPFLOW_COMM_IN_PROCESS_COMMUNICATOR_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "comm/communicator.h"

namespace sbpflow {

struct LinkThrottle {
  double latency_seconds = 0;
  double bytes_per_second = 0;  // 0 = unthrottled
};

class InProcessCommunicator : public Communicator {
 public:
  // `num_devices`: plan devices this communicator serves (group members are
  // indices below it).
  explicit InProcessCommunicator(int num_devices, std::optional<LinkThrottle> throttle = {});
  ~InProcessCommunicator() override;

  InProcessCommunicator(const InProcessCommunicator&) = delete;
  InProcessCommunicator& operator=(const InProcessCommunicator&) = delete;

  void Start(const CollectiveSpec& spec, const CollectiveInstance& instance, const Tensor& input,
             const Tensor& output, CollectiveDone done) override;

  // Collectives completed so far (every participant done).
  int64_t completed() const;

 private:
  struct Participant {
    bool arrived = false;
    Tensor input;
    Tensor output;
    CollectiveDone done;
  };
  struct Collective {
    CollectiveSpec spec;  // spec of rank 0's view (rank field irrelevant)
    std::vector<Participant> participants;
    int arrived = 0;
    std::atomic<int> finished{0};
  };
  using Key = std::tuple<std::string, int64_t, int>;

  void Enqueue(int device, std::function<void()> work);
  void LinkLoop(int device);
  void Launch(std::shared_ptr<Collective> collective);
  void RunParticipant(const std::shared_ptr<Collective>& collective, int rank);
  // Called by each participant when its part is done; the last one runs
  // every participant's `done`.
  void Finish(Collective& collective);
  void Throttle(const CollectiveSpec& spec, int rank, double elapsed_seconds) const;

  std::optional<LinkThrottle> throttle_;
  mutable std::mutex mutex_;
  std::map<Key, std::shared_ptr<Collective>> pending_;
  int64_t completed_ = 0;

  struct Link {
    std::mutex mutex;
    std::condition_variable ready;
    std::deque<std::function<void()>> queue;
    bool stop = false;
    std::thread thread;
  };
  std::vector<std::unique_ptr<Link>> links_;
};

}  // namespace sbpflow

#endif  // SBPFLOW_COMM_IN_PROCESS_COMMUNICATOR_H_
