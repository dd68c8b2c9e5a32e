// A dense, contiguous, row-major tensor whose buffer comes from an Allocator.
//
// Tensor is a cheap handle: copies share the buffer (like a shared_ptr), and
// the buffer returns to its allocator when the last handle goes. Thread safety
// is that of shared_ptr: handles may be copied across threads; writes to the
// data need external ordering (the runtime's registers provide it).
#ifndef SBPFLOW_KERNEL_TENSOR_H_
#define SBPFLOW_KERNEL_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "base/data_type.h"
#include "base/shape.h"
#include "kernel/allocator.h"

namespace sbpflow {

class Tensor {
 public:
  // An empty handle (valid() == false).
  Tensor() = default;
  // Allocates an uninitialized tensor. Requires a fully known shape.
  Tensor(Allocator* allocator, DataType dtype, Shape shape);

  // A tensor of `shape` holding `values` (row-major). CHECKs the count.
  template <typename T>
  static Tensor FromVector(Allocator* allocator, Shape shape, const std::vector<T>& values);

  bool valid() const { return dtype_ != DataType::kInvalid; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  TensorType type() const { return TensorType{dtype_, shape_}; }
  int64_t num_elements() const { return num_elements_; }
  int64_t num_bytes() const { return num_elements_ * DataTypeSize(dtype_); }

  void* raw_data() const { return buffer_ == nullptr ? nullptr : buffer_->data; }

  template <typename T>
  T* data() const {
    DCHECK(DataTypeOf<T>::value == dtype_)
        << "tensor is " << DataTypeName(dtype_) << ", read as " << DataTypeName(DataTypeOf<T>::value);
    return static_cast<T*>(raw_data());
  }

  template <typename T>
  std::vector<T> ToVector() const {
    const T* begin = data<T>();
    return std::vector<T>(begin, begin + num_elements_);
  }

  // A handle on the same buffer with another shape of the same element count.
  Tensor Reshaped(Shape shape) const;

  // A new buffer from `allocator` with the same contents.
  Tensor Clone(Allocator* allocator) const;

  // Fills every byte with zero.
  void SetZero() const;

  // "f32[2,3]".
  std::string DebugString() const { return type().ToString(); }

 private:
  struct Buffer {
    Buffer(Allocator* allocator, int64_t bytes)
        : allocator(allocator), data(allocator->Allocate(bytes)), bytes(bytes) {}
    ~Buffer() { allocator->Deallocate(data, bytes); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    Allocator* allocator;
    void* data;
    int64_t bytes;
  };

  std::shared_ptr<Buffer> buffer_;
  DataType dtype_ = DataType::kInvalid;
  Shape shape_;
  int64_t num_elements_ = 0;
};

template <typename T>
Tensor Tensor::FromVector(Allocator* allocator, Shape shape, const std::vector<T>& values) {
  Tensor tensor(allocator, DataTypeOf<T>::value, std::move(shape));
  CHECK_EQ(static_cast<int64_t>(values.size()), tensor.num_elements());
  if (!values.empty()) std::memcpy(tensor.raw_data(), values.data(), tensor.num_bytes());
  return tensor;
}

// FromVector<bool> cannot memcpy a std::vector<bool>.
template <>
Tensor Tensor::FromVector<bool>(Allocator* allocator, Shape shape, const std::vector<bool>& values);

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_TENSOR_H_
