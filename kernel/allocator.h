// Device memory allocators. Every allocator counts its live and peak bytes so
// the runtime can report measured per-device peak memory.
#ifndef SBPFLOW_KERNEL_ALLOCATOR_H_
#define SBPFLOW_KERNEL_ALLOCATOR_H_

#include <atomic>
#include <cstdint>

namespace sbpflow {

// Thread-safe. Allocate never returns null for a positive size (it aborts on
// exhaustion, like operator new); a zero-byte request returns null.
class Allocator {
 public:
  virtual ~Allocator() = default;

  void* Allocate(int64_t bytes);
  void Deallocate(void* data, int64_t bytes);

  int64_t live_bytes() const { return live_bytes_.load(std::memory_order_relaxed); }
  int64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  // Starts a new peak measurement from the current live bytes.
  void ResetPeak() { peak_bytes_.store(live_bytes(), std::memory_order_relaxed); }

 protected:
  virtual void* AllocateRaw(int64_t bytes) = 0;
  virtual void DeallocateRaw(void* data, int64_t bytes) = 0;

 private:
  std::atomic<int64_t> live_bytes_{0};
  std::atomic<int64_t> peak_bytes_{0};
};

// Host memory, 64-byte aligned.
class CpuAllocator : public Allocator {
 protected:
  void* AllocateRaw(int64_t bytes) override;
  void DeallocateRaw(void* data, int64_t bytes) override;
};

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_ALLOCATOR_H_
