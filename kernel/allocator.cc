#include "kernel/allocator.h"

#include <cstdlib>
#include <new>

#include "glog/logging.h"

namespace sbpflow {

void* Allocator::Allocate(int64_t bytes) {
  CHECK_GE(bytes, 0);
  if (bytes == 0) return nullptr;
  void* data = AllocateRaw(bytes);
  const int64_t live = live_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  int64_t peak = peak_bytes_.load(std::memory_order_relaxed);
  while (live > peak && !peak_bytes_.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
  return data;
}

void Allocator::Deallocate(void* data, int64_t bytes) {
  if (data == nullptr) return;
  DeallocateRaw(data, bytes);
  live_bytes_.fetch_sub(bytes, std::memory_order_relaxed);
}

void* CpuAllocator::AllocateRaw(int64_t bytes) {
  constexpr int64_t kAlignment = 64;
  const int64_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  void* data = std::aligned_alloc(kAlignment, rounded);
  if (data == nullptr) throw std::bad_alloc();
  return data;
}

void CpuAllocator::DeallocateRaw(void* data, int64_t /*bytes*/) { std::free(data); }

}  // namespace sbpflow
