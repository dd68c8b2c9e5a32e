// The actor graph: the static wiring the runtime derives from a physical
// plan, checked once at Create.
//
// Every plan op becomes an actor that fires `firings` times per step and
// publishes its outputs `emissions` times per step:
//   per-micro-batch op:      M firings, M emissions (piece m = micro-batch m);
//   per-step op:             1 firing,  1 emission;
//   kAccumulate (per-step):  one firing per value of its input (M for a
//                            per-micro-batch producer), 1 emission after the
//                            last firing.
// A data edge from a producer with E emissions to a consumer with F firings
// is either per piece (E == F: firing f reads piece f) or a broadcast (E == 1,
// F == M: every firing reads the one value, released after the last firing).
// E == M > 1 into F == 1 is only possible as a control edge (the consumer
// waits for all M emissions); as a data edge it needs an accumulate op.
#ifndef SBPFLOW_ACTOR_ACTOR_GRAPH_H_
#define SBPFLOW_ACTOR_ACTOR_GRAPH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernel/kernel_registry.h"
#include "sbp/physical_plan.h"

namespace sbpflow {

enum class LaneKind { kCompute, kCommunication };

struct InputEdge {
  int producer = -1;
  int output = 0;
  // True when the producer emits once per step and the consumer fires more
  // often: every firing reads the same register.
  bool broadcast = false;
  // The consumer writes this input in place.
  bool is_mutable = false;
};

struct ConsumerEdge {
  int consumer = -1;
  int position = 0;  // input (or control input) position at the consumer
};

// A place a produced value is snapshotted for fetching.
struct FetchSlot {
  int fetch = 0;
  int source = 0;
};

struct OutputWiring {
  std::vector<ConsumerEdge> consumers;
  // The one consumer that writes this value in place (-1 when none), the
  // number of its data edges from this output, and its mutable positions
  // reading it. The mutator may fire once the other consumers' releases bring
  // the register's count of outstanding readers down to `mutator_edges`.
  int mutator = -1;
  int mutator_edges = 0;
  std::vector<int> mutator_positions;
  std::vector<FetchSlot> fetch_slots;
};

struct ActorWiring {
  int firings = 1;
  int emissions = 1;
  LaneKind lane = LaneKind::kCompute;
  std::vector<InputEdge> inputs;
  std::vector<int> control_producers;
  // (consumer, control position) of every op that lists this one as a
  // control input.
  std::vector<ConsumerEdge> control_consumers;
  std::vector<OutputWiring> outputs;
  // kKernel: the registry kernel (owned by the registry).
  const KernelFn* kernel = nullptr;
  // A Reshape whose output may share its input's buffer: the runtime then
  // publishes the input under the output's shape instead of running the
  // kernel (no copy, no allocation). Set when no op writes either value in
  // place, so no one can observe that they share memory.
  bool aliases_input = false;
};

struct ActorGraph {
  std::vector<ActorWiring> actors;  // by plan op index
  // Per fetch: how many values each source produces per step.
  std::vector<int> fetch_values;
};

// Wires and checks `plan` against `kernels` (a kernel for every kKernel op
// on its device type). Errors: InvalidArgument naming the op (or fetch,
// feed): bad indices, registers < 1, a missing kernel ("op 'x': no cpu kernel
// for MatMul (f32)"), malformed placeholder/variable/accumulate/collective
// ops, a frequency mismatch on a data edge, two ops writing one value in
// place, or a fetch that cannot be assembled.
absl::StatusOr<ActorGraph> BuildActorGraph(const PhysicalPlan& plan, const KernelRegistry& kernels);

// The register of `edge` that firing `firing` reads (an emission index of the
// producer).
inline int InputPiece(const InputEdge& edge, int firing) { return edge.broadcast ? 0 : firing; }

// Whether firing `firing` of an actor with `firings` firings is the last to
// read the register of `edge`, and so releases it.
inline bool ReleasesInput(const InputEdge& edge, int firing, int firings) {
  return !edge.broadcast || firing == firings - 1;
}

// Control tokens (producer emissions) firing `firing` of a consumer with
// `firings` firings needs from a producer with `emissions` emissions.
inline int RequiredControlTokens(int emissions, int firings, int firing) {
  if (emissions == 1) return 1;
  if (firings == 1) return emissions;
  return firing + 1;
}

// "per-micro-batch" / "per-step".
const char* FrequencyName(Frequency frequency);

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_ACTOR_GRAPH_H_
