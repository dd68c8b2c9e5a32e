// The kernel interface: a stateless function over preallocated tensors.
//
// The runtime allocates every output with its final (local) shape before the
// call; a kernel only fills them. Attrs are those of the plan op, which may
// carry lowering-added attrs (for example `count` on mean reductions, see
// docs/kernels.md). A kernel returns an error only for conditions that depend
// on data (an embedding index out of range); shape and attr mistakes are
// caught by graph validation before any kernel runs.
#ifndef SBPFLOW_KERNEL_KERNEL_H_
#define SBPFLOW_KERNEL_KERNEL_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "base/attr_value.h"
#include "kernel/allocator.h"
#include "kernel/tensor.h"

namespace sbpflow {

// Where and when a kernel runs; lets source kernels (initializers, data) and
// random kernels derive their values from the step and micro-batch.
struct KernelEnvironment {
  Allocator* allocator = nullptr;  // for scratch tensors
  int64_t step = 0;
  int micro_batch = 0;
};

class KernelContext {
 public:
  KernelContext(const AttrMap* attrs, const std::vector<Tensor>* inputs,
                std::vector<Tensor>* outputs, const KernelEnvironment* environment)
      : attrs_(attrs), inputs_(inputs), outputs_(outputs), environment_(environment) {}

  const AttrMap& attrs() const { return *attrs_; }
  int num_inputs() const { return static_cast<int>(inputs_->size()); }
  // Inputs are read-only except the op's declared mutable inputs, whose data a
  // kernel may write through the (shallow) handle.
  const Tensor& input(int position) const { return (*inputs_)[position]; }
  int num_outputs() const { return static_cast<int>(outputs_->size()); }
  Tensor& output(int position) { return (*outputs_)[position]; }
  const KernelEnvironment& environment() const { return *environment_; }
  Allocator* allocator() const { return environment_->allocator; }

 private:
  const AttrMap* attrs_;
  const std::vector<Tensor>* inputs_;
  std::vector<Tensor>* outputs_;
  const KernelEnvironment* environment_;
};

using KernelFn = std::function<absl::Status(KernelContext&)>;

}  // namespace sbpflow

#endif  // SBPFLOW_KERNEL_KERNEL_H_
