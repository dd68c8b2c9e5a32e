#include "base/shape.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sbpflow {

int64_t Shape::NumElements() const { return NumElements(0, rank()); }

int64_t Shape::NumElements(int begin, int end) const {
  int64_t count = 1;
  for (int axis = begin; axis < end; ++axis) count *= dims_[axis];
  return count;
}

bool Shape::IsFullyKnown() const {
  for (int64_t dim : dims_) {
    if (dim < 0) return false;
  }
  return true;
}

std::string Shape::ToString() const {
  return absl::StrCat("[",
                      absl::StrJoin(dims_, ",",
                                    [](std::string* out, int64_t dim) {
                                      if (dim < 0) {
                                        out->append("?");
                                      } else {
                                        absl::StrAppend(out, dim);
                                      }
                                    }),
                      "]");
}

std::vector<int64_t> RowMajorStrides(const Shape& shape) {
  std::vector<int64_t> strides(shape.rank(), 1);
  for (int axis = shape.rank() - 2; axis >= 0; --axis) {
    strides[axis] = strides[axis + 1] * shape.dim(axis + 1);
  }
  return strides;
}

int NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) return -1;
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::string TensorType::ToString() const {
  return absl::StrCat(DataTypeName(dtype), shape.ToString());
}

}  // namespace sbpflow
