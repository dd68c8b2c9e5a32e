// AVX-512 building blocks for the f32 fast paths of the CPU kernels.
//
// The project compiles for baseline x86-64, so AVX-512 code lives in functions
// marked SBP_AVX512 and runs only when HasAvx512() (checked once, at run time)
// says the CPU has it; every kernel keeps its portable loop for other CPUs and
// for f64. The fast paths compute the same formulas as the portable loops, in
// the same precision: f32 elementwise arithmetic, and double where the
// portable loop accumulates in double.
//
// Exp and ExpDouble are polynomial exponentials (Cephes' expf and exp
// reductions) accurate to about one unit in the last place, with IEEE limits:
// overflow gives +inf, underflow 0 (through subnormals), NaN stays NaN.
#ifndef SBPFLOW_KERNEL_CPU_AVX512_H_
#define SBPFLOW_KERNEL_CPU_AVX512_H_

// GCC 12 reports the intrinsics' own internal placeholders as uninitialized
// when they are inlined (GCC bug 105593); the reports point into this header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#define SBP_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,fma")))

namespace sbpflow::cpu {

// Whether the CPU runs AVX-512 F, DQ and VL instructions, unless the
// environment variable SBPFLOW_NO_AVX512 is set (to anything but "" or "0"),
// which forces the portable paths (tests run both). Decided once per process.
bool HasAvx512();

// Lanes [0, count) of a 16-lane f32 vector.
SBP_AVX512 inline __mmask16 TailMask(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1);
}

// Returns x unchanged, but as a value the compiler cannot see through: a
// product passed through it is rounded before any later addition, instead of
// being contracted into a fused multiply-add (GCC contracts by default). For
// loops that must give the same bits as their portable versions.
SBP_AVX512 inline __m512 Rounded(__m512 x) {
  asm("" : "+v"(x));
  return x;
}

// e^x per lane.
SBP_AVX512 inline __m512 Exp(__m512 x) {
  // Beyond these bounds e^x is inf or 0 in f32; clamping keeps n finite.
  // max/min return their second operand when one is NaN, so NaN survives.
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), x);
  x = _mm512_min_ps(_mm512_set1_ps(89.0f), x);
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2 in two steps (ln2 = 0.693359375 - 2.12194440e-4).
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r_squared = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r_squared, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  // p · 2^n with correct overflow to inf and gradual underflow.
  return _mm512_scalef_ps(p, n);
}

// e^x per lane, in double.
SBP_AVX512 inline __m512d ExpDouble(__m512d x) {
  x = _mm512_max_pd(_mm512_set1_pd(-746.0), x);
  x = _mm512_min_pd(_mm512_set1_pd(710.0), x);
  const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634073599)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.93145751953125e-1), x);
  r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.42860682030941723212e-6), r);
  const __m512d r_squared = _mm512_mul_pd(r, r);
  // Padé form: e^r = 1 + 2 r P(r²) / (Q(r²) - r P(r²)).
  __m512d p = _mm512_set1_pd(1.26177193074810590878e-4);
  p = _mm512_fmadd_pd(p, r_squared, _mm512_set1_pd(3.02994407707441961300e-2));
  p = _mm512_fmadd_pd(p, r_squared, _mm512_set1_pd(9.99999999999999999910e-1));
  p = _mm512_mul_pd(p, r);
  __m512d q = _mm512_set1_pd(3.00198505138664455042e-6);
  q = _mm512_fmadd_pd(q, r_squared, _mm512_set1_pd(2.52448340349684104192e-3));
  q = _mm512_fmadd_pd(q, r_squared, _mm512_set1_pd(2.27265548208155028766e-1));
  q = _mm512_fmadd_pd(q, r_squared, _mm512_set1_pd(2.00000000000000000009e0));
  const __m512d fraction = _mm512_div_pd(p, _mm512_sub_pd(q, p));
  const __m512d e = _mm512_fmadd_pd(_mm512_set1_pd(2.0), fraction, _mm512_set1_pd(1.0));
  return _mm512_scalef_pd(e, n);
}

// The 16 f32 lanes widened to double and folded to 8: lane i holds
// values[i] + values[i + 8].
SBP_AVX512 inline __m512d WidenAndFold(__m512 values) {
  return _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(values)),
                       _mm512_cvtps_pd(_mm512_extractf32x8_ps(values, 1)));
}

}  // namespace sbpflow::cpu

#endif  // SBPFLOW_KERNEL_CPU_AVX512_H_
