// Propagation helpers for absl::Status / absl::StatusOr.
//
// SBP_RETURN_IF_ERROR(expr): evaluates `expr` (a Status or StatusOr) and returns
// its status from the enclosing function when it is not OK.
// SBP_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (a StatusOr<T>); on error
// returns its status, otherwise moves the value into `lhs` (which may be a
// declaration such as `auto x`). It expands to several statements: after
// `if` or `else`, wrap it in braces.
#ifndef SBPFLOW_BASE_STATUS_MACROS_H_
#define SBPFLOW_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sbpflow::internal {
inline const absl::Status& AsStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& AsStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}
}  // namespace sbpflow::internal

#define SBP_STATUS_CONCAT_INNER(a, b) a##b
#define SBP_STATUS_CONCAT(a, b) SBP_STATUS_CONCAT_INNER(a, b)

#define SBP_RETURN_IF_ERROR(expr)                                              \
  do {                                                                         \
    const auto& sbp_status_value = (expr);                                     \
    if (!::sbpflow::internal::AsStatus(sbp_status_value).ok()) {               \
      return ::sbpflow::internal::AsStatus(sbp_status_value);                  \
    }                                                                          \
  } while (false)

#define SBP_ASSIGN_OR_RETURN_IMPL(result, lhs, expr) \
  auto result = (expr);                              \
  if (!result.ok()) return result.status();          \
  lhs = std::move(result).value()

#define SBP_ASSIGN_OR_RETURN(lhs, expr) \
  SBP_ASSIGN_OR_RETURN_IMPL(SBP_STATUS_CONCAT(sbp_status_or_, __LINE__), lhs, expr)

#endif  // SBPFLOW_BASE_STATUS_MACROS_H_
