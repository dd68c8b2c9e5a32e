// Deterministic shuffling for data sets, built on base/initializer.h MixBits.
#ifndef SBPFLOW_IO_SHUFFLE_H_
#define SBPFLOW_IO_SHUFFLE_H_

#include <cstdint>
#include <vector>

namespace sbpflow {

// Maps 64 random bits to [0, bound) by multiply-shift (bias below bound / 2^64,
// far below anything measurable). Requires bound > 0.
uint64_t BoundedRandom(uint64_t bits, uint64_t bound);

// The order in which epoch `epoch` of a run seeded with `seed` visits n
// examples: a Fisher–Yates shuffle of 0..n-1 whose i-th draw is
// MixBits(MixBits(seed, epoch), i). A pure function of its arguments.
// Requires n >= 0 and epoch >= 0.
std::vector<int64_t> EpochPermutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace sbpflow

#endif  // SBPFLOW_IO_SHUFFLE_H_
