// Gathers a strided view of a tensor into a contiguous buffer: the data
// movement behind Transpose and BroadcastTo.
#ifndef SBPFLOW_KERNEL_CPU_STRIDED_COPY_H_
#define SBPFLOW_KERNEL_CPU_STRIDED_COPY_H_

#include <cstdint>
#include <vector>

namespace sbpflow::cpu {

// out[i_0, ..., i_r-1] = in[Σ_j i_j · in_strides[j]] for every index of
// `dims`, with `out` contiguous (row-major) and `in_strides` in elements (0
// broadcasts). `element_size` is 1, 2, 4 or 8 bytes; the bytes are copied
// as-is, so this serves every dtype. Requires dims.size() == in_strides.size()
// and buffers that do not overlap. Deterministic; single-threaded.
void StridedCopy(const void* in, void* out, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& in_strides, int64_t element_size);

}  // namespace sbpflow::cpu

#endif  // SBPFLOW_KERNEL_CPU_STRIDED_COPY_H_
