#include "io/shuffle.h"

#include <numeric>
#include <utility>

#include "base/initializer.h"
#include "glog/logging.h"

namespace sbpflow {

uint64_t BoundedRandom(uint64_t bits, uint64_t bound) {
  DCHECK_GT(bound, 0u);
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * bound) >> 64);
}

std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, int64_t epoch) {
  CHECK_GE(n, 0);
  CHECK_GE(epoch, 0);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  uint64_t key = MixBits(seed, static_cast<uint64_t>(epoch));
  for (int64_t i = n - 1; i > 0; --i) {
    uint64_t j =
        BoundedRandom(MixBits(key, static_cast<uint64_t>(i)), static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

}  // namespace sbpflow
