// A small test-and-test-and-set lock for the runtime's very short critical
// sections (a few counter updates per message). Uncontended it costs one
// atomic exchange, several times cheaper than a pthread mutex, and the
// runtime takes several per activation. Under contention it spins briefly,
// then yields, so a preempted holder on an oversubscribed machine does not
// burn a whole time slice of its waiters.
//
// Meets the Lockable requirements (std::lock_guard, std::unique_lock). Not
// for long critical sections and not for condition variables.
#ifndef SBPFLOW_ACTOR_SPIN_LOCK_H_
#define SBPFLOW_ACTOR_SPIN_LOCK_H_

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sbpflow {

class SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      int spins = 0;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          Pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }

  bool try_lock() {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }

  void unlock() { locked_.store(false, std::memory_order_release); }

 private:
  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace sbpflow

#endif  // SBPFLOW_ACTOR_SPIN_LOCK_H_
