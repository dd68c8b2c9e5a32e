#include "comm/in_process_communicator.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace sbpflow {
namespace {

std::optional<Box> MaybeBox(bool present, const Box& box) {
  return present ? std::optional<Box>(box) : std::nullopt;
}

// The restrict-qualified loops vectorize at -O2.
template <typename T>
void AddTwo(const T* __restrict a, const T* __restrict b, T* __restrict out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] = a[i] + b[i];
}

template <typename T>
void AddInto(const T* __restrict in, T* __restrict out, int64_t count) {
  for (int64_t i = 0; i < count; ++i) out[i] += in[i];
}

// target[begin, end) = ((sources[0] + sources[1]) + sources[2]) + ... in
// rank order, in cache-sized blocks so partial sums stay in cache: every
// input is read once and the target written once.
template <typename T>
void SumInto(const std::vector<const Tensor*>& sources, int64_t begin, int64_t end,
             const Tensor& target) {
  T* out = target.data<T>();
  if (sources.size() == 1) {
    std::memcpy(out + begin, sources[0]->data<T>() + begin, (end - begin) * sizeof(T));
    return;
  }
  constexpr int64_t kBlock = 8192;
  for (int64_t block = begin; block < end; block += kBlock) {
    const int64_t count = std::min(end, block + kBlock) - block;
    AddTwo(sources[0]->data<T>() + block, sources[1]->data<T>() + block, out + block, count);
    for (size_t source = 2; source < sources.size(); ++source) {
      AddInto(sources[source]->data<T>() + block, out + block, count);
    }
  }
}

void SumFlat(DataType dtype, const std::vector<const Tensor*>& sources, int64_t begin, int64_t end,
             const Tensor& target) {
  switch (dtype) {
    case DataType::kFloat32:
      return SumInto<float>(sources, begin, end, target);
    case DataType::kFloat64:
      return SumInto<double>(sources, begin, end, target);
    case DataType::kInt32:
      return SumInto<int32_t>(sources, begin, end, target);
    case DataType::kInt64:
      return SumInto<int64_t>(sources, begin, end, target);
    default:
      LOG(FATAL) << "cannot reduce " << DataTypeName(dtype);
  }
}

void AddBoxRegion(DataType dtype, const Tensor& source, const Box& source_box, const Tensor& target,
                  const Box& target_box, const Box& region) {
  switch (dtype) {
    case DataType::kFloat32:
      return AddRegion<float>(source.data<float>(), source_box, target.data<float>(), target_box,
                              region);
    case DataType::kFloat64:
      return AddRegion<double>(source.data<double>(), source_box, target.data<double>(), target_box,
                               region);
    case DataType::kInt32:
      return AddRegion<int32_t>(source.data<int32_t>(), source_box, target.data<int32_t>(),
                                target_box, region);
    case DataType::kInt64:
      return AddRegion<int64_t>(source.data<int64_t>(), source_box, target.data<int64_t>(),
                                target_box, region);
    default:
      LOG(FATAL) << "cannot reduce " << DataTypeName(dtype);
  }
}

}  // namespace

InProcessCommunicator::InProcessCommunicator(int num_devices, std::optional<LinkThrottle> throttle)
    : throttle_(throttle) {
  // Every link exists before any thread reads links_.
  for (int device = 0; device < num_devices; ++device) links_.push_back(std::make_unique<Link>());
  for (int device = 0; device < num_devices; ++device) {
    links_[device]->thread = std::thread([this, device] { LinkLoop(device); });
  }
}

InProcessCommunicator::~InProcessCommunicator() {
  for (auto& link : links_) {
    {
      std::lock_guard<std::mutex> lock(link->mutex);
      link->stop = true;
    }
    link->ready.notify_all();
  }
  for (auto& link : links_) link->thread.join();
}

int64_t InProcessCommunicator::completed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return completed_;
}

void InProcessCommunicator::Enqueue(int device, std::function<void()> work) {
  Link& link = *links_[device];
  {
    std::lock_guard<std::mutex> lock(link.mutex);
    link.queue.push_back(std::move(work));
  }
  link.ready.notify_one();
}

void InProcessCommunicator::LinkLoop(int device) {
  Link& link = *links_[device];
  while (true) {
    std::function<void()> work;
    {
      std::unique_lock<std::mutex> lock(link.mutex);
      link.ready.wait(lock, [&] { return link.stop || !link.queue.empty(); });
      if (link.queue.empty()) return;
      work = std::move(link.queue.front());
      link.queue.pop_front();
    }
    work();
  }
}

void InProcessCommunicator::Start(const CollectiveSpec& spec, const CollectiveInstance& instance,
                                  const Tensor& input, const Tensor& output, CollectiveDone done) {
  const int size = static_cast<int>(spec.group.size());
  if (spec.rank < 0 || spec.rank >= size ||
      spec.group[spec.rank] >= static_cast<int>(links_.size())) {
    done(absl::InternalError(
        absl::StrCat("collective ", spec.key, ": rank ", spec.rank, " is not in its group")));
    return;
  }
  std::shared_ptr<Collective> ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Key key{spec.key, instance.step, instance.micro_batch};
    std::shared_ptr<Collective>& collective = pending_[key];
    if (collective == nullptr) {
      collective = std::make_shared<Collective>();
      collective->spec = spec;
      collective->participants.resize(size);
    }
    Participant& participant = collective->participants[spec.rank];
    if (participant.arrived) {
      done(absl::InternalError(
          absl::StrCat("collective ", spec.key, ": rank ", spec.rank, " started twice")));
      return;
    }
    participant.arrived = true;
    participant.input = input;
    participant.output = output;
    participant.done = std::move(done);
    if (++collective->arrived == size) {
      ready = collective;
      pending_.erase(key);
    }
  }
  if (ready != nullptr) Launch(std::move(ready));
}

void InProcessCommunicator::Launch(std::shared_ptr<Collective> collective) {
  const int size = static_cast<int>(collective->participants.size());
  for (int rank = 0; rank < size; ++rank) {
    Enqueue(collective->spec.group[rank],
            [this, collective, rank] { RunParticipant(collective, rank); });
  }
}

void InProcessCommunicator::Throttle(const CollectiveSpec& spec, int rank,
                                     double elapsed_seconds) const {
  if (!throttle_.has_value() || throttle_->bytes_per_second <= 0) return;
  const double bytes = rank < static_cast<int>(spec.bytes_sent.size()) ? spec.bytes_sent[rank] : 0;
  const double modeled =
      throttle_->latency_seconds * spec.hops + bytes / throttle_->bytes_per_second;
  if (modeled > elapsed_seconds) {
    std::this_thread::sleep_for(std::chrono::duration<double>(modeled - elapsed_seconds));
  }
}

void InProcessCommunicator::RunParticipant(const std::shared_ptr<Collective>& collective,
                                           int rank) {
  const auto start = std::chrono::steady_clock::now();
  const CollectiveSpec& spec = collective->spec;
  std::vector<Participant>& participants = collective->participants;
  Participant& self = participants[rank];
  const int size = static_cast<int>(participants.size());
  const int64_t element_size = DataTypeSize(spec.dtype);
  const bool flat_all_reduce = spec.kind == CollectiveKind::kAllReduce;

  if (flat_all_reduce) {
    // Every participant holds the same box. This participant reduces its
    // balanced chunk of the flat buffer block by block and writes each summed
    // block, still in cache, into every participant's output: each input is
    // read once and each output written once, with no second pass.
    const int64_t count = self.output.num_elements();
    const Interval chunk = BalancedPart(count, size, rank);
    std::vector<const Tensor*> sources;
    for (const Participant& participant : participants) sources.push_back(&participant.input);
    constexpr int64_t kBlock = 8192;
    for (int64_t block = chunk.begin; block < chunk.end; block += kBlock) {
      const int64_t end = std::min(chunk.end, block + kBlock);
      SumFlat(spec.dtype, sources, block, end, self.output);
      for (int peer = 0; peer < size; ++peer) {
        if (peer == rank) continue;
        std::memcpy(static_cast<char*>(participants[peer].output.raw_data()) + block * element_size,
                    static_cast<const char*>(self.output.raw_data()) + block * element_size,
                    (end - block) * element_size);
      }
    }
    Throttle(spec, rank,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    Finish(*collective);
    return;
  }
  if (spec.has_output[rank] && spec.reduce) {
    const Box& out_box = spec.output_boxes[rank];
    self.output.SetZero();
    for (int source = 0; source < size; ++source) {
      if (!spec.has_input[source]) continue;
      std::optional<Box> region = IntersectBoxes(spec.input_boxes[source], out_box);
      if (!region.has_value() || BoxNumElements(*region) == 0) continue;
      AddBoxRegion(spec.dtype, participants[source].input, spec.input_boxes[source], self.output,
                   out_box, *region);
    }
  } else if (spec.has_output[rank]) {
    std::vector<std::optional<Box>> inputs;
    std::vector<std::optional<Box>> outputs;
    for (int member = 0; member < size; ++member) {
      inputs.push_back(MaybeBox(spec.has_input[member], spec.input_boxes[member]));
      // Only this participant's copies are planned here.
      outputs.push_back(member == rank ? MaybeBox(true, spec.output_boxes[member]) : std::nullopt);
    }
    auto copies = PlanBoxCopies(inputs, outputs);
    CHECK(copies.has_value()) << "collective " << spec.key << ": output of rank " << rank
                              << " is not covered by the inputs";
    for (const BoxCopy& copy : (*copies)[rank]) {
      CopyRegion(participants[copy.source].input.raw_data(), spec.input_boxes[copy.source],
                 self.output.raw_data(), spec.output_boxes[rank], copy.region, element_size);
    }
  }

  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Throttle(spec, rank, elapsed);
  Finish(*collective);
}

void InProcessCommunicator::Finish(Collective& collective) {
  // Every participant pulls from its peers' inputs (and an all-reduce writes
  // into their outputs), so no participant is done before all are: a sender
  // whose `done` ran while its receiver still copied could see its input
  // overwritten in place (the runtime updates variables in place once their
  // readers are done) and the receiver would copy the new value.
  if (++collective.finished != static_cast<int>(collective.participants.size())) return;
  for (Participant& participant : collective.participants) {
    CollectiveDone done = std::move(participant.done);
    done(absl::OkStatus());
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++completed_;
}

}  // namespace sbpflow
