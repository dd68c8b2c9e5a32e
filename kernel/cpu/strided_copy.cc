#include "kernel/cpu/strided_copy.h"

#include <algorithm>
#include <cstring>

#include "glog/logging.h"
#include "kernel/cpu/strided_layout.h"

namespace sbpflow::cpu {
namespace {

// Square tiles of this many elements per side keep both the reads and the
// writes of a transpose within a few cache lines.
constexpr int64_t kTile = 32;

// Operand 0 is the output, operand 1 the input.
template <typename Word>
void CopyWords(const Word* in, Word* out, const StridedLayout<2>& layout) {
  const int rank = layout.rank();
  if (rank == 0) {
    out[0] = in[0];
    return;
  }
  const int last = rank - 1;
  const int64_t length = layout.dims[last];
  const int64_t in_stride = layout.strides[last][1];
  if (in_stride == 1) {
    ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 2>& offsets) {
      std::memcpy(out + offsets[0], in + offsets[1], length * sizeof(Word));
    });
    return;
  }
  if (in_stride == 0) {
    ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 2>& offsets) {
      std::fill_n(out + offsets[0], length, in[offsets[1]]);
    });
    return;
  }
  int unit_axis = -1;
  for (int axis = 0; axis < last; ++axis) {
    if (layout.strides[axis][1] == 1) unit_axis = axis;
  }
  if (unit_axis < 0) {
    ForEachOuterIndex(layout, last, [&](const std::array<int64_t, 2>& offsets) {
      const Word* source = in + offsets[1];
      Word* target = out + offsets[0];
      for (int64_t i = 0; i < length; ++i) target[i] = source[i * in_stride];
    });
    return;
  }
  // A 2-D transpose between the axis the input walks contiguously and the
  // last axis (which the output walks contiguously), for every index of the
  // remaining axes.
  StridedLayout<2> others;
  for (int axis = 0; axis < last; ++axis) {
    if (axis == unit_axis) continue;
    others.dims.push_back(layout.dims[axis]);
    others.strides.push_back(layout.strides[axis]);
  }
  const int64_t rows = layout.dims[unit_axis];
  const int64_t out_row_stride = layout.strides[unit_axis][0];
  ForEachOuterIndex(others, others.rank(), [&](const std::array<int64_t, 2>& offsets) {
    for (int64_t row_begin = 0; row_begin < rows; row_begin += kTile) {
      const int64_t row_end = std::min(rows, row_begin + kTile);
      for (int64_t column_begin = 0; column_begin < length; column_begin += kTile) {
        const int64_t column_end = std::min(length, column_begin + kTile);
        for (int64_t row = row_begin; row < row_end; ++row) {
          Word* target = out + offsets[0] + row * out_row_stride;
          const Word* source = in + offsets[1] + row;
          for (int64_t column = column_begin; column < column_end; ++column) {
            target[column] = source[column * in_stride];
          }
        }
      }
    }
  });
}

}  // namespace

void StridedCopy(const void* in, void* out, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& in_strides, int64_t element_size) {
  CHECK_EQ(dims.size(), in_strides.size());
  StridedLayout<2> layout;
  layout.dims = dims;
  const std::vector<int64_t> out_strides = RowMajorStrides(Shape(dims));
  for (size_t axis = 0; axis < dims.size(); ++axis) {
    if (dims[axis] == 0) return;
    layout.strides.push_back({out_strides[axis], in_strides[axis]});
  }
  layout = CollapseLayout(layout);
  switch (element_size) {
    case 1:
      CopyWords(static_cast<const uint8_t*>(in), static_cast<uint8_t*>(out), layout);
      break;
    case 2:
      CopyWords(static_cast<const uint16_t*>(in), static_cast<uint16_t*>(out), layout);
      break;
    case 4:
      CopyWords(static_cast<const uint32_t*>(in), static_cast<uint32_t*>(out), layout);
      break;
    case 8:
      CopyWords(static_cast<const uint64_t*>(in), static_cast<uint64_t*>(out), layout);
      break;
    default:
      LOG(FATAL) << "StridedCopy: unsupported element size " << element_size;
  }
}

}  // namespace sbpflow::cpu
