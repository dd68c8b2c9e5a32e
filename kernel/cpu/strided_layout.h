// Iteration spaces over several strided operands, reduced to as few axes as
// possible so that kernels can run their innermost axis as a contiguous (or
// broadcast) loop.
//
// A StridedLayout<N> holds the extents of the iteration space and, per axis,
// the element stride of each of N operands (0 = the operand is broadcast along
// that axis).
#ifndef SBPFLOW_KERNEL_CPU_STRIDED_LAYOUT_H_
#define SBPFLOW_KERNEL_CPU_STRIDED_LAYOUT_H_

#include <array>
#include <cstdint>
#include <vector>

#include "base/shape.h"

namespace sbpflow::cpu {

template <int N>
struct StridedLayout {
  std::vector<int64_t> dims;
  std::vector<std::array<int64_t, N>> strides;

  int rank() const { return static_cast<int>(dims.size()); }
};

// Drops extent-1 axes and merges each pair of neighbouring axes that every
// operand walks contiguously (stride[outer] == stride[inner] * dim[inner]).
// Requires every extent > 0 (callers handle empty tensors first). The result
// visits the same elements in the same order.
template <int N>
StridedLayout<N> CollapseLayout(const StridedLayout<N>& layout) {
  StridedLayout<N> result;
  for (int axis = 0; axis < layout.rank(); ++axis) {
    const int64_t dim = layout.dims[axis];
    const std::array<int64_t, N>& strides = layout.strides[axis];
    if (dim == 1) continue;
    bool merge = !result.dims.empty();
    for (int k = 0; merge && k < N; ++k) merge = result.strides.back()[k] == strides[k] * dim;
    if (merge) {
      result.dims.back() *= dim;
      result.strides.back() = strides;
    } else {
      result.dims.push_back(dim);
      result.strides.push_back(strides);
    }
  }
  return result;
}

// Calls body(offsets) for every index of the first `outer_rank` axes in
// row-major order, where offsets[k] is operand k's element offset.
template <int N, typename Body>
void ForEachOuterIndex(const StridedLayout<N>& layout, int outer_rank, Body body) {
  std::array<int64_t, N> offsets{};
  std::vector<int64_t> index(outer_rank, 0);
  while (true) {
    body(offsets);
    int axis = outer_rank - 1;
    for (; axis >= 0; --axis) {
      const std::array<int64_t, N>& strides = layout.strides[axis];
      for (int k = 0; k < N; ++k) offsets[k] += strides[k];
      if (++index[axis] < layout.dims[axis]) break;
      for (int k = 0; k < N; ++k) offsets[k] -= strides[k] * layout.dims[axis];
      index[axis] = 0;
    }
    if (axis < 0) return;
  }
}

// Strides of `shape` aligned to the trailing axes of an iteration space of
// rank `rank` >= shape.rank(), with 0 wherever the shape has extent 1 or no
// axis (NumPy broadcasting).
inline std::vector<int64_t> BroadcastStrides(const Shape& shape, int rank) {
  std::vector<int64_t> strides(rank, 0);
  const std::vector<int64_t> own = RowMajorStrides(shape);
  const int offset = rank - shape.rank();
  for (int axis = 0; axis < shape.rank(); ++axis) {
    if (shape.dim(axis) != 1) strides[axis + offset] = own[axis];
  }
  return strides;
}

}  // namespace sbpflow::cpu

#endif  // SBPFLOW_KERNEL_CPU_STRIDED_LAYOUT_H_
