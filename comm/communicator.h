// The Communicator interface: collectives among plan devices, asynchronous
// with completion.
//
// Every participant of a collective calls Start with the same spec (but its
// own rank) and the same instance. Start never blocks waiting for peers: it
// returns at once and `done` runs exactly once, on some thread, when this
// participant's output is complete and no participant reads its input any
// more (or with an error): the caller may then overwrite the input in place
// (a sender's buffer, a variable the optimizer updates). Participants may call
// Start in any order relative to other collectives, so there is no ordering
// deadlock. Backends: in-process shared memory (virtual CPU devices); NCCL and
// MPI later.
#ifndef SBPFLOW_COMM_COMMUNICATOR_H_
#define SBPFLOW_COMM_COMMUNICATOR_H_

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "base/collective.h"
#include "kernel/tensor.h"

namespace sbpflow {

// Distinguishes repeated executions of the same collective op.
struct CollectiveInstance {
  int64_t step = 0;
  int micro_batch = 0;
};

using CollectiveDone = std::function<void(absl::Status)>;

class Communicator {
 public:
  virtual ~Communicator() = default;

  // `input` holds this participant's input box (may be empty-handed when the
  // box is empty); `output` is preallocated with this participant's output box
  // shape. Both stay alive until `done` runs.
  virtual void Start(const CollectiveSpec& spec, const CollectiveInstance& instance,
                     const Tensor& input, const Tensor& output, CollectiveDone done) = 0;
};

}  // namespace sbpflow

#endif  // SBPFLOW_COMM_COMMUNICATOR_H_
