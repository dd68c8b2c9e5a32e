// In-process all-reduce bus bandwidth against this machine's memcpy
// bandwidth, measured side by side in one run.
//
// Bus bandwidth follows NCCL's convention: algbw = size / time, busbw =
// algbw · 2(n-1)/n, which is the per-device link traffic of an all-reduce.
// memcpy bandwidth = bytes copied / time of one large std::memcpy (one
// thread). Target: busbw >= 0.5 x memcpy at 64 MiB.
//
// Usage: allreduce_bandwidth [--mib 64] [--devices 2,4] [--repeats 7]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_split.h"
#include "comm/in_process_communicator.h"

namespace sbpflow {
namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double MemcpyBandwidth(int64_t bytes, int repeats) {
  std::vector<char> source(bytes, 1);
  std::vector<char> target(bytes, 0);
  std::vector<double> rates;
  for (int repeat = 0; repeat < repeats; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(target.data(), source.data(), bytes);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rates.push_back(static_cast<double>(bytes) / seconds);
  }
  return Median(rates);
}

double AllReduceBusBandwidth(int devices, int64_t bytes, int repeats) {
  const int64_t elements = bytes / 4;
  CpuAllocator allocator;
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  for (int device = 0; device < devices; ++device) {
    inputs.emplace_back(&allocator, DataType::kFloat32, Shape{elements});
    outputs.emplace_back(&allocator, DataType::kFloat32, Shape{elements});
    std::fill_n(inputs.back().data<float>(), elements, 1.0f);
    outputs.back().SetZero();  // touch the pages
  }
  InProcessCommunicator communicator(devices);
  CollectiveSpec spec;
  spec.kind = CollectiveKind::kAllReduce;
  spec.key = "bench";
  spec.logical_shape = Shape{elements};
  spec.reduce = true;
  for (int device = 0; device < devices; ++device) {
    spec.group.push_back(device);
    spec.has_input.push_back(true);
    spec.has_output.push_back(true);
    spec.input_boxes.push_back(Box{Interval{0, elements}});
    spec.output_boxes.push_back(Box{Interval{0, elements}});
    spec.bytes_sent.push_back(0);
  }
  std::vector<double> rates;
  for (int repeat = 0; repeat < repeats + 1; ++repeat) {
    std::vector<std::promise<void>> done(devices);
    const auto start = std::chrono::steady_clock::now();
    for (int device = 0; device < devices; ++device) {
      CollectiveSpec member = spec;
      member.rank = device;
      communicator.Start(member, CollectiveInstance{repeat, 0}, inputs[device], outputs[device],
                         [&done, device](absl::Status) { done[device].set_value(); });
    }
    for (auto& promise : done) promise.get_future().wait();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (repeat == 0) continue;  // warm-up
    const double algbw = static_cast<double>(bytes) / seconds;
    rates.push_back(algbw * 2.0 * (devices - 1) / devices);
  }
  if (outputs[0].data<float>()[elements - 1] != static_cast<float>(devices)) {
    std::fprintf(stderr, "wrong all-reduce result\n");
  }
  return Median(rates);
}

}  // namespace
}  // namespace sbpflow

int main(int argc, char** argv) {
  CLI::App app("In-process all-reduce bus bandwidth vs memcpy");
  int64_t mib = 64;
  std::string devices = "2,4";
  int repeats = 7;
  app.add_option("--mib", mib, "Tensor size in MiB")->capture_default_str();
  app.add_option("--devices", devices, "Device counts")->capture_default_str();
  app.add_option("--repeats", repeats, "Timed repetitions (median kept)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const int64_t bytes = mib << 20;
  const double memcpy_rate = sbpflow::MemcpyBandwidth(bytes, repeats);
  std::printf("memcpy %lld MiB: %.2f GB/s\n", static_cast<long long>(mib), memcpy_rate / 1e9);
  for (absl::string_view text : absl::StrSplit(devices, ',')) {
    const int count = std::stoi(std::string(text));
    const double busbw = sbpflow::AllReduceBusBandwidth(count, bytes, repeats);
    std::printf("all-reduce %lld MiB over %d devices: busbw %.2f GB/s = %.2f x memcpy\n",
                static_cast<long long>(mib), count, busbw / 1e9, busbw / memcpy_rate);
  }
  return 0;
}
