// The in-process communicator's completion contract: a participant's `done`
// means its peers no longer read its input, so the caller may overwrite it
// in place (the runtime updates variables in place once their readers,
// sends included, are done).
#include "comm/in_process_communicator.h"

#include <atomic>
#include <future>
#include <vector>

#include "gtest/gtest.h"
#include "kernel/allocator.h"

namespace sbpflow {
namespace {

// A send of a 4-element f32 vector from device `from` to device `to`.
CollectiveSpec Send(const std::string& key, int from, int to, int hops = 1) {
  CollectiveSpec spec;
  spec.kind = CollectiveKind::kSendRecv;
  spec.key = key;
  spec.group = {from, to};
  spec.logical_shape = Shape{4};
  spec.has_input = {true, false};
  spec.has_output = {false, true};
  spec.input_boxes = {FullBox(spec.logical_shape), Box()};
  spec.output_boxes = {Box(), FullBox(spec.logical_shape)};
  spec.bytes_sent = {16, 0};
  spec.hops = hops;
  return spec;
}

TEST(InProcessCommunicatorTest, SenderIsDoneOnlyAfterItsReceiverCopied) {
  // Every participant takes at least latency x hops: device 1's link is kept
  // busy by an earlier transfer of 5 hops, so the send's receiver copies long
  // after the sender's own 1-hop part is over.
  InProcessCommunicator communicator(3, LinkThrottle{0.1, 1e12});
  CpuAllocator allocator;
  const Tensor busy_input = Tensor::FromVector<float>(&allocator, Shape{4}, {0, 0, 0, 0});
  const Tensor busy_output(&allocator, DataType::kFloat32, Shape{4});
  std::promise<void> busy_done;
  std::atomic<int> busy_pending{2};
  auto busy_finished = [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    if (--busy_pending == 0) busy_done.set_value();
  };
  CollectiveSpec busy = Send("busy", 2, 1, /*hops=*/5);
  communicator.Start(busy, CollectiveInstance{}, busy_input, Tensor(), busy_finished);
  busy.rank = 1;
  communicator.Start(busy, CollectiveInstance{}, Tensor(), busy_output, busy_finished);

  const Tensor input = Tensor::FromVector<float>(&allocator, Shape{4}, {1, 2, 3, 4});
  const Tensor output(&allocator, DataType::kFloat32, Shape{4});
  std::promise<void> received;
  CollectiveSpec send = Send("send", 0, 1);
  // The sender overwrites its buffer as soon as it is told it may.
  communicator.Start(send, CollectiveInstance{}, input, Tensor(), [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    for (int i = 0; i < 4; ++i) input.data<float>()[i] = -1;
  });
  send.rank = 1;
  communicator.Start(send, CollectiveInstance{}, Tensor(), output, [&](absl::Status status) {
    EXPECT_TRUE(status.ok()) << status;
    received.set_value();
  });
  received.get_future().wait();
  busy_done.get_future().wait();
  EXPECT_EQ(output.ToVector<float>(), (std::vector<float>{1, 2, 3, 4}));
}

}  // namespace
}  // namespace sbpflow
