#include "kernel/tensor.h"

namespace sbpflow {

Tensor::Tensor(Allocator* allocator, DataType dtype, Shape shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  CHECK(shape_.IsFullyKnown()) << shape_.ToString();
  num_elements_ = shape_.NumElements();
  buffer_ = std::make_shared<Buffer>(allocator, num_bytes());
}

template <>
Tensor Tensor::FromVector<bool>(Allocator* allocator, Shape shape,
                                const std::vector<bool>& values) {
  Tensor tensor(allocator, DataType::kBool, std::move(shape));
  CHECK_EQ(static_cast<int64_t>(values.size()), tensor.num_elements());
  bool* out = tensor.data<bool>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return tensor;
}

Tensor Tensor::Reshaped(Shape shape) const {
  CHECK_EQ(shape.NumElements(), num_elements_) << shape.ToString() << " vs " << shape_.ToString();
  Tensor result = *this;
  result.shape_ = std::move(shape);
  return result;
}

Tensor Tensor::Clone(Allocator* allocator) const {
  Tensor copy(allocator, dtype_, shape_);
  if (num_bytes() > 0) std::memcpy(copy.raw_data(), raw_data(), num_bytes());
  return copy;
}

void Tensor::SetZero() const {
  if (num_bytes() > 0) std::memset(raw_data(), 0, num_bytes());
}

}  // namespace sbpflow
