// Contiguous loops that GCC vectorizes at -O2.
//
// At -O2 GCC only vectorizes loops whose trip count is a known multiple of the
// vector width ("very cheap" cost model), so every loop here runs in blocks of
// kVectorBlock elements with a scalar tail. The pointers are __restrict: an
// output never overlaps an input (the runtime preallocates outputs), except
// for the accumulators of AccumulateRow, which are not inputs.
//
// The functors are inlined lambdas, so there is no per-element indirect call.
// Every loop visits elements in a fixed order, so results are bit-identical
// from run to run.
#ifndef SBPFLOW_KERNEL_CPU_VECTOR_LOOPS_H_
#define SBPFLOW_KERNEL_CPU_VECTOR_LOOPS_H_

#include <cstdint>

namespace sbpflow::cpu {

inline constexpr int64_t kVectorBlock = 16;

// out[i] = f(in[i]) for i in [0, count).
template <typename T, typename F>
inline void MapUnary(const T* __restrict in, T* __restrict out, int64_t count, F f) {
  int64_t i = 0;
  for (; i + kVectorBlock <= count; i += kVectorBlock) {
    for (int64_t j = 0; j < kVectorBlock; ++j) out[i + j] = f(in[i + j]);
  }
  for (; i < count; ++i) out[i] = f(in[i]);
}

// data[i] = f(data[i]).
template <typename T, typename F>
inline void MapInPlace(T* __restrict data, int64_t count, F f) {
  int64_t i = 0;
  for (; i + kVectorBlock <= count; i += kVectorBlock) {
    for (int64_t j = 0; j < kVectorBlock; ++j) data[i + j] = f(data[i + j]);
  }
  for (; i < count; ++i) data[i] = f(data[i]);
}

// out[i] = f(a[i], b[i]).
template <typename T, typename F>
inline void MapBinary(const T* __restrict a, const T* __restrict b, T* __restrict out,
                      int64_t count, F f) {
  int64_t i = 0;
  for (; i + kVectorBlock <= count; i += kVectorBlock) {
    for (int64_t j = 0; j < kVectorBlock; ++j) out[i + j] = f(a[i + j], b[i + j]);
  }
  for (; i < count; ++i) out[i] = f(a[i], b[i]);
}

// out[i] = f(a[i], b) with a scalar right operand.
template <typename T, typename F>
inline void MapBinaryScalarRight(const T* __restrict a, T b, T* __restrict out, int64_t count,
                                 F f) {
  MapUnary(a, out, count, [b, f](T value) { return f(value, b); });
}

// out[i] = f(a, b[i]) with a scalar left operand.
template <typename T, typename F>
inline void MapBinaryScalarLeft(T a, const T* __restrict b, T* __restrict out, int64_t count, F f) {
  MapUnary(b, out, count, [a, f](T value) { return f(a, value); });
}

// Σ in[i], accumulated in kVectorBlock interleaved partial sums (which also
// bounds the rounding error better than one running sum).
template <typename T>
inline T BlockedSum(const T* __restrict in, int64_t count) {
  T partial[kVectorBlock] = {};
  int64_t i = 0;
  for (; i + kVectorBlock <= count; i += kVectorBlock) {
    for (int64_t j = 0; j < kVectorBlock; ++j) partial[j] += in[i + j];
  }
  T total = 0;
  for (int64_t j = 0; j < kVectorBlock; ++j) total += partial[j];
  for (; i < count; ++i) total += in[i];
  return total;
}

// accumulator[i] += in[i].
template <typename T>
inline void AccumulateRow(const T* __restrict in, T* __restrict accumulator, int64_t count) {
  int64_t i = 0;
  for (; i + kVectorBlock <= count; i += kVectorBlock) {
    for (int64_t j = 0; j < kVectorBlock; ++j) accumulator[i + j] += in[i + j];
  }
  for (; i < count; ++i) accumulator[i] += in[i];
}

}  // namespace sbpflow::cpu

#endif  // SBPFLOW_KERNEL_CPU_VECTOR_LOOPS_H_
