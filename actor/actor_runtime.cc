#include "actor/actor_runtime.h"

#include <cblas.h>
#include <malloc.h>

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "actor/fetch_assembly.h"
#include "base/box.h"
#include "base/status_macros.h"
#include "oneapi/tbb/info.h"

namespace sbpflow {
namespace {

absl::Status CheckDevices(const PhysicalPlan& plan, const std::vector<DeviceContext*>& devices) {
  if (devices.size() != plan.devices.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the plan has ", plan.devices.size(),
                                                   " device(s) but ", devices.size(),
                                                   " device context(s) were given"));
  }
  for (size_t index = 0; index < devices.size(); ++index) {
    if (devices[index] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("device context ", index, " is null"));
    }
    if (devices[index]->device() != plan.devices[index]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "device ", index, " is ", plan.devices[index].ToString(), " in the plan but ",
          devices[index]->device().ToString(), " in its context"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckVariables(const PhysicalPlan& plan, const VariableStore* variables) {
  for (const PlanOp& op : plan.ops) {
    if (op.kind != PlanOpKind::kVariable) continue;
    const std::string device = plan.devices[op.device].ToString();
    if (variables == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("op '", op.name, "': the plan has variables but no variable store"));
    }
    const Tensor shard = variables->Shard(op.device, op.variable);
    if (!shard.valid()) {
      return absl::InvalidArgumentError(absl::StrCat("op '", op.name,
                                                     "': the variable store holds no shard of '",
                                                     op.variable, "' on ", device));
    }
    if (shard.type() != op.outputs[0]) {
      return absl::InvalidArgumentError(
          absl::StrCat("op '", op.name, "': the shard of '", op.variable, "' on ", device, " is ",
                       shard.DebugString(), ", the op outputs ", op.outputs[0].ToString()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Runtime>> ActorRuntime::Create(
    std::shared_ptr<const PhysicalPlan> plan, const KernelRegistry* kernels,
    VariableStore* variables, std::vector<DeviceContext*> devices, Communicator* communicator,
    RuntimeOptions options) {
  if (plan == nullptr || kernels == nullptr) {
    return absl::InvalidArgumentError("runtime: a plan and a kernel registry are required");
  }
  if (options.threads < 0 || options.compute_width < 0 || options.threads > kMaxRuntimeThreads ||
      options.compute_width > kMaxRuntimeThreads) {
    return absl::InvalidArgumentError(absl::StrCat("runtime: threads (", options.threads,
                                                   ") and compute_width (", options.compute_width,
                                                   ") must be in [0, ", kMaxRuntimeThreads, "]"));
  }
  if (options.watchdog_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("runtime: watchdog_timeout must be positive");
  }
  SBP_RETURN_IF_ERROR(CheckDevices(*plan, devices));
  SBP_ASSIGN_OR_RETURN(ActorGraph graph, BuildActorGraph(*plan, *kernels));
  SBP_ASSIGN_OR_RETURN(std::unique_ptr<PipelineGates> pipeline, PipelineGates::Create(*plan));
  SBP_RETURN_IF_ERROR(CheckVariables(*plan, variables));
  for (const PlanOp& op : plan->ops) {
    if (op.kind == PlanOpKind::kCollective && communicator == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("op '", op.name, "': a collective op needs a communicator"));
    }
    if (op.kind == PlanOpKind::kPlaceholder && op.frequency != Frequency::kPerMicroBatch) {
      return absl::InvalidArgumentError(
          absl::StrCat("op '", op.name, "': a placeholder op must be per-micro-batch"));
    }
  }
  if (options.threads == 0) options.threads = tbb::info::default_concurrency();
  if (options.compute_width == 0) {
    options.compute_width =
        std::max(1, options.threads / std::max<int>(1, static_cast<int>(devices.size())));
  }
  // Kernels are single-threaded (and so deterministic); parallelism comes
  // from running actors side by side.
  openblas_set_num_threads(1);
#ifdef __GLIBC__
  // Every step frees and reallocates registers of the same sizes. With
  // glibc's defaults, blocks above the (adaptive) mmap threshold go back to
  // the kernel on free and freed heap tops are trimmed, so each step would
  // page-fault its large registers in again (measured: thousands of faults
  // per GPT step). Fixed limits keep freed blocks in the heap for reuse.
  // Process-wide, like the OpenBLAS thread count above.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif

  std::unique_ptr<ActorRuntime> runtime(new ActorRuntime());
  ActorRuntime& self = *runtime;
  self.plan_ = std::move(plan);
  self.variables_ = variables;
  self.devices_ = std::move(devices);
  self.communicator_ = communicator;
  self.options_ = options;
  self.graph_ = std::move(graph);
  self.pipeline_ = std::move(pipeline);
  self.created_ = std::chrono::steady_clock::now();
  const PhysicalPlan& p = *self.plan_;
  const int num_actors = static_cast<int>(p.ops.size());
  const int num_devices = static_cast<int>(p.devices.size());

  self.placeholder_feed_.assign(num_actors, -1);
  for (int actor = 0; actor < num_actors; ++actor) {
    if (p.ops[actor].kind != PlanOpKind::kPlaceholder) continue;
    for (int feed = 0; feed < static_cast<int>(p.feeds.size()); ++feed) {
      if (p.feeds[feed].name == p.ops[actor].feed) self.placeholder_feed_[actor] = feed;
    }
  }

  // oneTBB's default pool has one worker less than the hardware threads; the
  // arena needs `threads` workers (no slot is reserved for a caller thread).
  if (options.threads + 1 > tbb::info::default_concurrency()) {
    self.thread_limit_ = std::make_unique<tbb::global_control>(
        tbb::global_control::max_allowed_parallelism, options.threads + 1);
  }
  self.arena_ = std::make_unique<tbb::task_arena>(options.threads, 0);
  // Initialized here rather than lazily by the first enqueue, which lanes on
  // different threads might race to do.
  self.arena_->initialize();
  std::vector<int64_t> compute_expected(num_devices, 0);
  std::vector<int64_t> communication_expected(num_devices, 0);
  for (int actor = 0; actor < num_actors; ++actor) {
    const ActorWiring& wiring = self.graph_.actors[actor];
    auto& expected = wiring.lane == LaneKind::kCompute ? compute_expected : communication_expected;
    expected[p.ops[actor].device] += wiring.firings;
  }
  LaneClient* client = &self;
  for (int device = 0; device < num_devices; ++device) {
    self.compute_lanes_.push_back(std::make_unique<ComputeLane>(
        device, options.compute_width, self.arena_.get(), client, options.trace));
    self.compute_lanes_.back()->set_expected(compute_expected[device]);
    // Only devices with collectives get a communication thread.
    if (communication_expected[device] > 0) {
      self.communication_lanes_.push_back(
          std::make_unique<CommunicationLane>(device, client, options.trace));
      self.communication_lanes_.back()->set_expected(communication_expected[device]);
    } else {
      self.communication_lanes_.push_back(nullptr);
    }
  }

  self.states_ = std::make_unique<ActorState[]>(num_actors);
  for (int actor = 0; actor < num_actors; ++actor) {
    const PlanOp& op = p.ops[actor];
    const ActorWiring& wiring = self.graph_.actors[actor];
    ActorState& state = self.states_[actor];
    state.ready.assign(op.inputs.size(), 0);
    state.exclusive.resize(op.inputs.size());
    state.control_tokens.assign(op.control_inputs.size(), 0);
    state.input_values.resize(op.inputs.size());
    state.output_values.resize(op.outputs.size());
    state.outputs.resize(op.outputs.size());
    for (OutputState& output : state.outputs) {
      output.slots.resize(op.registers);
      output.pending.assign(op.registers, 0);
      output.exclusive_sent.assign(op.registers, 0);
    }
    for (size_t position = 0; position < op.inputs.size(); ++position) {
      if (wiring.inputs[position].is_mutable) {
        state.exclusive[position].assign(self.graph_.actors[op.inputs[position].op].emissions, 0);
      }
    }
  }
  self.fetch_values_.resize(p.fetches.size());
  for (size_t fetch = 0; fetch < p.fetches.size(); ++fetch) {
    self.fetch_values_[fetch].assign(self.graph_.fetch_values[fetch],
                                     std::vector<Tensor>(p.fetches[fetch].sources.size()));
  }
  self.gate_ = std::make_shared<CompletionGate>();
  self.gate_->runtime = &self;
  return std::unique_ptr<Runtime>(std::move(runtime));
}

ActorRuntime::~ActorRuntime() {
  {
    // Waits for completions in progress; later ones find no runtime.
    std::unique_lock<std::shared_mutex> lock(gate_->mutex);
    gate_->runtime = nullptr;
  }
  failed_.store(true, std::memory_order_release);
  WaitIdle();
  communication_lanes_.clear();
}

int64_t ActorRuntime::NowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              created_)
      .count();
}

int64_t ActorRuntime::activations() const {
  int64_t total = 0;
  for (const auto& lane : compute_lanes_) total += lane->activations();
  for (const auto& lane : communication_lanes_) {
    if (lane != nullptr) total += lane->activations();
  }
  return total;
}

int64_t ActorRuntime::Progress() const {
  int64_t total = 0;
  for (const auto& lane : compute_lanes_) total += lane->progress();
  for (const auto& lane : communication_lanes_) {
    if (lane != nullptr) total += lane->progress();
  }
  return total;
}

absl::Status ActorRuntime::WriteTrace(const std::string& path) const {
  if (!options_.trace) {
    return absl::FailedPreconditionError("tracing is off (set RuntimeOptions::trace)");
  }
  std::vector<std::string> device_names;
  for (const Device& device : plan_->devices) device_names.push_back(device.ToString());
  std::vector<std::string> op_names;
  for (const PlanOp& op : plan_->ops) op_names.push_back(op.name);
  std::vector<LaneTrace> lanes;
  for (const auto& lane : compute_lanes_) lanes.push_back(lane->Trace());
  for (const auto& lane : communication_lanes_) {
    if (lane != nullptr) lanes.push_back(lane->Trace());
  }
  return WriteChromeTrace(path, ChromeTraceJson(device_names, op_names, lanes));
}

// ---------------------------------------------------------------------------
// Scheduling.

bool ActorRuntime::TryReserve(int actor) {
  ActorState& state = states_[actor];
  const ActorWiring& wiring = graph_.actors[actor];
  if (state.in_flight || state.next_firing >= wiring.firings || StepFailed()) return false;
  const int firing = state.next_firing;
  for (size_t position = 0; position < wiring.inputs.size(); ++position) {
    const InputEdge& edge = wiring.inputs[position];
    const int piece = InputPiece(edge, firing);
    if (state.ready[position] <= piece) return false;
    if (edge.is_mutable && !state.exclusive[position][piece]) return false;
  }
  for (size_t position = 0; position < wiring.control_producers.size(); ++position) {
    const int emissions = graph_.actors[wiring.control_producers[position]].emissions;
    if (state.control_tokens[position] < RequiredControlTokens(emissions, wiring.firings, firing)) {
      return false;
    }
  }
  if (pipeline_ != nullptr && pipeline_->gated(actor) && !pipeline_->MayFire(actor, firing)) {
    return false;
  }
  // An accumulate op holds its one output register from its first firing.
  const bool reserves = plan_->ops[actor].kind != PlanOpKind::kAccumulate || firing == 0;
  if (reserves) {
    const int registers = plan_->ops[actor].registers;
    for (const OutputState& output : state.outputs) {
      if (output.in_use >= registers) return false;
    }
    for (OutputState& output : state.outputs) ++output.in_use;
  }
  state.in_flight = true;
  return true;
}

void ActorRuntime::Schedule(int actor) {
  states_[actor].activity.store(kQueued, std::memory_order_relaxed);
  const int device = plan_->ops[actor].device;
  if (graph_.actors[actor].lane == LaneKind::kCompute) {
    compute_lanes_[device]->Submit(actor);
  } else {
    communication_lanes_[device]->Submit(actor);
  }
}

// ---------------------------------------------------------------------------
// Firing.

void ActorRuntime::GatherInputs(int actor, int firing) {
  ActorState& state = states_[actor];
  const ActorWiring& wiring = graph_.actors[actor];
  for (size_t position = 0; position < wiring.inputs.size(); ++position) {
    const InputEdge& edge = wiring.inputs[position];
    const int slot = InputPiece(edge, firing) % plan_->ops[edge.producer].registers;
    // The producer wrote the slot before sending "ready" (under this actor's
    // lock), and cannot reuse it before this actor releases it.
    state.input_values[position] = states_[edge.producer].outputs[edge.output].slots[slot];
  }
}

void ActorRuntime::Fire(int actor, TraceEvent* event) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  const int firing = state.next_firing;
  state.activity.store(kRunning, std::memory_order_relaxed);
  const int64_t start_ns = event != nullptr ? NowNs() : 0;
  GatherInputs(actor, firing);
  absl::Status status;
  switch (op.kind) {
    case PlanOpKind::kKernel:
      status = RunKernel(actor, firing);
      break;
    case PlanOpKind::kPlaceholder:
      RunPlaceholder(actor, firing);
      break;
    case PlanOpKind::kVariable:
      // The register aliases the persistent shard: no copy, no allocation.
      state.output_values[0] = variables_->Shard(op.device, op.variable);
      break;
    case PlanOpKind::kAccumulate:
      RunAccumulate(actor, firing);
      break;
    case PlanOpKind::kCollective:
      LOG(FATAL) << "collective op '" << op.name << "' on a compute lane";
  }
  // Drop the input handles first, so a register's memory returns to the
  // allocator as soon as its last reader releases it.
  for (Tensor& input : state.input_values) input = Tensor();
  if (event != nullptr) {
    event->op = actor;
    event->piece = firing;
    event->step = steps_;
    event->start_ns = start_ns;
    event->duration_ns = NowNs() - start_ns;
  }
  if (!status.ok()) {
    for (Tensor& output : state.output_values) output = Tensor();
    Fail(absl::Status(status.code(), absl::StrCat("op '", op.name, "': ", status.message())));
    return;
  }
  Complete(actor, firing);
}

absl::Status ActorRuntime::RunKernel(int actor, int firing) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  if (graph_.actors[actor].aliases_input) {
    state.output_values[0] = state.input_values[0].Reshaped(op.outputs[0].shape);
    return absl::OkStatus();
  }
  Allocator* allocator = devices_[op.device]->allocator();
  for (size_t output = 0; output < op.outputs.size(); ++output) {
    state.output_values[output] =
        Tensor(allocator, op.outputs[output].dtype, op.outputs[output].shape);
  }
  const KernelEnvironment environment{allocator, steps_, firing};
  KernelContext context(&op.attrs, &state.input_values, &state.output_values, &environment);
  return (*graph_.actors[actor].kernel)(context);
}

void ActorRuntime::RunPlaceholder(int actor, int firing) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  const Tensor& feed = *feed_values_[placeholder_feed_[actor]];
  Tensor output(devices_[op.device]->allocator(), op.outputs[0].dtype, op.outputs[0].shape);
  // op.box is within one micro-batch; micro-batch m is rows [m*B/M, (m+1)*B/M).
  Box region = op.box;
  if (!region.empty()) {
    const int64_t rows = feed.shape().dim(0) / plan_->micro_batches;
    region[0].begin += firing * rows;
    region[0].end += firing * rows;
  }
  CopyRegion(feed.raw_data(), FullBox(feed.shape()), output.raw_data(), region, region,
             DataTypeSize(feed.dtype()));
  state.output_values[0] = std::move(output);
}

void ActorRuntime::RunAccumulate(int actor, int firing) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  // The accumulator is the output register: piece 0 copies, later pieces add
  // in piece order, so the sum is the same bits on every run.
  if (firing == 0) {
    state.accumulator = state.input_values[0].Clone(devices_[op.device]->allocator());
  } else {
    AddInto(state.input_values[0], state.accumulator);
  }
  if (firing == graph_.actors[actor].firings - 1) {
    state.output_values[0] = std::move(state.accumulator);
    state.accumulator = Tensor();
  }
}

void ActorRuntime::StartCollective(int actor) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  const int firing = state.next_firing;
  state.activity.store(kRunning, std::memory_order_relaxed);
  GatherInputs(actor, firing);
  if (!op.outputs.empty()) {
    state.output_values[0] =
        Tensor(devices_[op.device]->allocator(), op.outputs[0].dtype, op.outputs[0].shape);
  }
  const int64_t start_ns = options_.trace ? NowNs() : 0;
  // The scratch handles keep input and output alive until `done` runs.
  const Tensor& input = op.inputs.empty() ? empty_tensor_ : state.input_values[0];
  const Tensor& output = op.outputs.empty() ? empty_tensor_ : state.output_values[0];
  std::shared_ptr<CompletionGate> gate = gate_;
  communicator_->Start(op.collective, CollectiveInstance{steps_, firing}, input, output,
                       [gate, actor, firing, start_ns](absl::Status status) {
                         std::shared_lock<std::shared_mutex> lock(gate->mutex);
                         if (gate->runtime == nullptr) return;
                         gate->runtime->FinishCollective(actor, firing, std::move(status),
                                                         start_ns);
                       });
}

void ActorRuntime::FinishCollective(int actor, int firing, absl::Status status, int64_t start_ns) {
  ActorState& state = states_[actor];
  const PlanOp& op = plan_->ops[actor];
  for (Tensor& input : state.input_values) input = Tensor();
  if (!status.ok()) {
    for (Tensor& output : state.output_values) output = Tensor();
    Fail(absl::Status(status.code(), absl::StrCat("op '", op.name, "': ", status.message())));
    return;
  }
  TraceEvent event;
  if (options_.trace) {
    event.op = actor;
    event.piece = firing;
    event.step = steps_;
    event.start_ns = start_ns;
    event.duration_ns = NowNs() - start_ns;
  }
  Complete(actor, firing);
  communication_lanes_[op.device]->Completed(options_.trace ? &event : nullptr);
}

// ---------------------------------------------------------------------------
// Messages.

void ActorRuntime::Complete(int actor, int firing) {
  ActorState& state = states_[actor];
  const ActorWiring& wiring = graph_.actors[actor];
  const PlanOp& op = plan_->ops[actor];
  const bool accumulate = op.kind == PlanOpKind::kAccumulate;
  if (!accumulate || firing == wiring.firings - 1) {
    const int emission = accumulate ? 0 : firing;
    for (size_t output = 0; output < wiring.outputs.size(); ++output) {
      Publish(actor, static_cast<int>(output), emission, std::move(state.output_values[output]));
      state.output_values[output] = Tensor();
    }
    for (const ConsumerEdge& edge : wiring.control_consumers) {
      DeliverControl(edge.consumer, edge.position);
    }
  }
  for (size_t position = 0; position < wiring.inputs.size(); ++position) {
    const InputEdge& edge = wiring.inputs[position];
    if (ReleasesInput(edge, firing, wiring.firings)) {
      Release(edge.producer, edge.output, InputPiece(edge, firing));
    }
  }
  // The pipeline gate moves on before this actor tries its next firing,
  // which may belong to the next instruction.
  std::vector<int> next_group;
  if (pipeline_ != nullptr && pipeline_->gated(actor))
    next_group = pipeline_->Finished(actor, firing);
  bool schedule = false;
  {
    std::lock_guard<SpinLock> lock(state.mutex);
    state.next_firing = firing + 1;
    state.in_flight = false;
    state.activity.store(kIdle, std::memory_order_relaxed);
    schedule = TryReserve(actor);
  }
  if (schedule) Schedule(actor);
  for (int next : next_group) {
    if (next == actor) continue;
    bool ready = false;
    {
      std::lock_guard<SpinLock> lock(states_[next].mutex);
      ready = TryReserve(next);
    }
    if (ready) Schedule(next);
  }
}

void ActorRuntime::Publish(int actor, int output, int emission, Tensor value) {
  ActorState& state = states_[actor];
  const OutputWiring& wiring = graph_.actors[actor].outputs[output];
  if (!wiring.fetch_slots.empty()) {
    // A host snapshot, so fetching never holds device registers.
    const Tensor snapshot = value.Clone(FetchAllocator());
    for (const FetchSlot& slot : wiring.fetch_slots) {
      fetch_values_[slot.fetch][emission][slot.source] = snapshot;
    }
  }
  const int readers = static_cast<int>(wiring.consumers.size());
  bool exclusive = false;
  {
    std::lock_guard<SpinLock> lock(state.mutex);
    OutputState& out = state.outputs[output];
    if (readers == 0) {
      --out.in_use;
    } else {
      const int slot = emission % plan_->ops[actor].registers;
      out.slots[slot] = std::move(value);
      out.pending[slot] = readers;
      exclusive = wiring.mutator >= 0 && readers == wiring.mutator_edges;
      out.exclusive_sent[slot] = exclusive;
    }
  }
  value = Tensor();  // an unread output is freed at once
  for (const ConsumerEdge& edge : wiring.consumers) {
    const bool mutable_edge = edge.consumer == wiring.mutator &&
                              graph_.actors[edge.consumer].inputs[edge.position].is_mutable;
    Deliver(edge.consumer, edge.position, emission, exclusive && mutable_edge);
  }
}

void ActorRuntime::Deliver(int consumer, int position, int emission, bool exclusive) {
  ActorState& state = states_[consumer];
  bool schedule = false;
  {
    std::lock_guard<SpinLock> lock(state.mutex);
    ++state.ready[position];
    if (exclusive) state.exclusive[position][emission] = 1;
    schedule = TryReserve(consumer);
  }
  if (schedule) Schedule(consumer);
}

void ActorRuntime::DeliverControl(int consumer, int position) {
  ActorState& state = states_[consumer];
  bool schedule = false;
  {
    std::lock_guard<SpinLock> lock(state.mutex);
    ++state.control_tokens[position];
    schedule = TryReserve(consumer);
  }
  if (schedule) Schedule(consumer);
}

void ActorRuntime::Release(int producer, int output, int emission) {
  ActorState& state = states_[producer];
  const OutputWiring& wiring = graph_.actors[producer].outputs[output];
  Tensor freed;  // destroyed after the lock is released
  bool schedule = false;
  bool others_done = false;
  {
    std::lock_guard<SpinLock> lock(state.mutex);
    OutputState& out = state.outputs[output];
    const int slot = emission % plan_->ops[producer].registers;
    const int left = --out.pending[slot];
    if (left == 0) {
      freed = std::move(out.slots[slot]);
      out.slots[slot] = Tensor();
      --out.in_use;
      schedule = TryReserve(producer);
    } else if (wiring.mutator >= 0 && left == wiring.mutator_edges && !out.exclusive_sent[slot]) {
      out.exclusive_sent[slot] = 1;
      others_done = true;
    }
  }
  if (others_done) {
    ActorState& mutator = states_[wiring.mutator];
    bool schedule_mutator = false;
    {
      std::lock_guard<SpinLock> lock(mutator.mutex);
      for (int position : wiring.mutator_positions) mutator.exclusive[position][emission] = 1;
      schedule_mutator = TryReserve(wiring.mutator);
    }
    if (schedule_mutator) Schedule(wiring.mutator);
  }
  if (schedule) Schedule(producer);
}

// ---------------------------------------------------------------------------
// Steps.

void ActorRuntime::LaneFinished() {
  if (lanes_remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    {
      std::lock_guard<std::mutex> lock(step_mutex_);
      step_done_ = true;
    }
    step_changed_.notify_all();
  }
}

void ActorRuntime::Fail(absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(step_mutex_);
    if (step_status_.ok()) step_status_ = std::move(status);
    failed_.store(true, std::memory_order_release);
  }
  step_changed_.notify_all();
}

absl::Status ActorRuntime::BindFeeds(const std::map<std::string, Tensor>& feeds) {
  feed_values_.assign(plan_->feeds.size(), nullptr);
  for (size_t index = 0; index < plan_->feeds.size(); ++index) {
    const FeedSpec& spec = plan_->feeds[index];
    auto it = feeds.find(spec.name);
    if (it == feeds.end()) {
      return absl::InvalidArgumentError(absl::StrCat("feed '", spec.name, "' is missing"));
    }
    if (!it->second.valid() || it->second.type() != spec.logical) {
      return absl::InvalidArgumentError(
          absl::StrCat("feed '", spec.name, "': expected ", spec.logical.ToString(), ", got ",
                       it->second.valid() ? it->second.DebugString() : "an empty tensor"));
    }
    feed_values_[index] = &it->second;
  }
  return absl::OkStatus();
}

void ActorRuntime::ResetStep() {
  if (pipeline_ != nullptr) pipeline_->Reset();
  const int num_actors = static_cast<int>(plan_->ops.size());
  for (int actor = 0; actor < num_actors; ++actor) {
    ActorState& state = states_[actor];
    std::lock_guard<SpinLock> lock(state.mutex);
    state.next_firing = 0;
    state.in_flight = false;
    std::fill(state.ready.begin(), state.ready.end(), 0);
    for (auto& flags : state.exclusive) std::fill(flags.begin(), flags.end(), 0);
    std::fill(state.control_tokens.begin(), state.control_tokens.end(), 0);
    for (OutputState& output : state.outputs) output.in_use = 0;
    state.activity.store(kIdle, std::memory_order_relaxed);
  }
  for (auto& values : fetch_values_) {
    for (auto& sources : values) std::fill(sources.begin(), sources.end(), Tensor());
  }
  int lanes = 0;
  for (auto& lane : compute_lanes_) {
    lane->BeginStep();
    if (lane->expected() > 0) ++lanes;
  }
  for (auto& lane : communication_lanes_) {
    if (lane == nullptr) continue;
    lane->BeginStep();
    if (lane->expected() > 0) ++lanes;
  }
  lanes_remaining_.store(lanes, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(step_mutex_);
  step_done_ = lanes == 0;
  step_status_ = absl::OkStatus();
  failed_.store(false, std::memory_order_release);
}

absl::Status ActorRuntime::WaitForStep() {
  using Clock = std::chrono::steady_clock;
  const auto timeout = absl::ToChronoNanoseconds(options_.watchdog_timeout);
  const auto poll = std::clamp<Clock::duration>(timeout / 4, std::chrono::milliseconds(1),
                                                std::chrono::milliseconds(100));
  int64_t last_progress = Progress();
  Clock::time_point last_change = Clock::now();
  std::unique_lock<std::mutex> lock(step_mutex_);
  while (!step_done_ && !StepFailed()) {
    step_changed_.wait_for(lock, poll);
    if (step_done_ || StepFailed()) break;
    const int64_t progress = Progress();
    const Clock::time_point now = Clock::now();
    if (progress != last_progress) {
      last_progress = progress;
      last_change = now;
    } else if (now - last_change >= timeout) {
      lock.unlock();
      std::string report = WaitReport();
      Fail(absl::DeadlineExceededError(absl::StrCat("step ", steps_, ": no actor fired for ",
                                                    absl::FormatDuration(options_.watchdog_timeout),
                                                    "; waiting:\n", report)));
      lock.lock();
    }
  }
  return StepFailed() ? step_status_ : absl::OkStatus();
}

void ActorRuntime::WaitIdle() {
  while (true) {
    bool idle = true;
    for (const auto& lane : compute_lanes_) idle = idle && lane->Idle();
    for (const auto& lane : communication_lanes_) idle = idle && (lane == nullptr || lane->Idle());
    if (idle) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

absl::StatusOr<StepResult> ActorRuntime::RunStep(const std::map<std::string, Tensor>& feeds) {
  if (!broken_.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the runtime failed in an earlier step: ", broken_.message()));
  }
  SBP_RETURN_IF_ERROR(BindFeeds(feeds));
  ResetStep();
  const int num_actors = static_cast<int>(plan_->ops.size());
  for (int actor = 0; actor < num_actors; ++actor) {
    bool schedule = false;
    {
      std::lock_guard<SpinLock> lock(states_[actor].mutex);
      schedule = TryReserve(actor);
    }
    if (schedule) Schedule(actor);
  }
  absl::Status status = WaitForStep();
  if (!status.ok()) {
    WaitIdle();
    feed_values_.clear();
    broken_ = status;
    return status;
  }
  feed_values_.clear();
  StepResult result;
  for (size_t fetch = 0; fetch < plan_->fetches.size(); ++fetch) {
    const FetchSpec& spec = plan_->fetches[fetch];
    result.fetches[spec.name] = AssembleFetch(spec, fetch_values_[fetch], FetchAllocator());
    for (auto& sources : fetch_values_[fetch]) std::fill(sources.begin(), sources.end(), Tensor());
  }
  ++steps_;
  return result;
}

}  // namespace sbpflow
