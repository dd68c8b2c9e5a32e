// Tensor shapes and (dtype, shape) pairs.
//
// A Shape is a list of non-negative extents. A dimension of -1 ("unknown") is
// legal only in graph placeholders before the batch size is bound; every shape
// that reaches a kernel is fully known.
#ifndef SBPFLOW_BASE_SHAPE_H_
#define SBPFLOW_BASE_SHAPE_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "base/data_type.h"

namespace sbpflow {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int axis) const { return dims_[axis]; }
  int64_t& mutable_dim(int axis) { return dims_[axis]; }
  const std::vector<int64_t>& dims() const { return dims_; }

  // Product of the extents; 1 for a scalar. Requires IsFullyKnown().
  int64_t NumElements() const;
  // Product of the extents in [begin, end).
  int64_t NumElements(int begin, int end) const;
  bool IsFullyKnown() const;

  // "[2,3]"; unknown dimensions print as "?"; a scalar prints as "[]".
  std::string ToString() const;

  bool operator==(const Shape& other) const { return dims_ == other.dims_; }
  bool operator!=(const Shape& other) const { return dims_ != other.dims_; }

 private:
  std::vector<int64_t> dims_;
};

// Row-major strides in elements.
std::vector<int64_t> RowMajorStrides(const Shape& shape);

// Normalizes an axis that may be negative (Python style) against `rank`.
// Returns -1 when the axis is out of range.
int NormalizeAxis(int64_t axis, int rank);

struct TensorType {
  DataType dtype = DataType::kInvalid;
  Shape shape;

  // "f32[2,3]".
  std::string ToString() const;
  bool operator==(const TensorType& other) const {
    return dtype == other.dtype && shape == other.shape;
  }
  bool operator!=(const TensorType& other) const { return !(*this == other); }
};

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_SHAPE_H_
