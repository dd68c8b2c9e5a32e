// Variable initializers: the attr syntax, and the values they produce.
//
// Syntax of a Variable's `initializer` attr: "zeros", "ones", "constant(V)",
// "normal(STD)" or "normal(MEAN,STD)", "uniform(A,B)", "xavier_uniform",
// "kaiming_uniform". Fans: for a [in, out] weight fan_in = in and fan_out =
// out; for rank > 2 fan_in is the product of all but the last dimension; for
// rank 1 both are the length.
//
// Values are a pure function of (key, logical element index), where the key
// comes from the job seed, the node's seed attr and the variable name. So any
// shard of a variable can be generated alone, and every layout of a variable
// over any mesh starts from the same logical tensor.
#ifndef SBPFLOW_BASE_INITIALIZER_H_
#define SBPFLOW_BASE_INITIALIZER_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "base/shape.h"

namespace sbpflow {

struct Initializer {
  enum class Kind { kConstant, kNormal, kUniform, kXavierUniform, kKaimingUniform };
  Kind kind = Kind::kConstant;
  // kConstant: value; kNormal: mean, std; kUniform: low, high.
  double a = 0.0;
  double b = 0.0;

  std::string ToString() const;
};

// Errors (InvalidArgument): unknown name, wrong number of arguments,
// non-numeric argument, normal std < 0, uniform high < low.
absl::StatusOr<Initializer> ParseInitializer(absl::string_view text);

// The stream key of a variable.
uint64_t InitializerKey(uint64_t job_seed, int64_t node_seed, absl::string_view variable_name);

// The value of logical element `index` (row-major in `logical_shape`).
double InitializerValue(const Initializer& initializer, const Shape& logical_shape, uint64_t key,
                        int64_t index);

// A well-mixed 64-bit hash of (key, counter) (SplitMix64 finalizer); the
// basis of every counter-based random stream in the engine.
uint64_t MixBits(uint64_t key, uint64_t counter);

// Uniform in [0, 1) from 53 bits of MixBits(key, counter).
double UniformFromCounter(uint64_t key, uint64_t counter);

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_INITIALIZER_H_
