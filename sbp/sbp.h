// SBP: how a logical tensor is laid out over one axis of a device mesh.
//
// Per mesh axis a tensor is Split along one of its dimensions (S(k): each
// device holds a balanced slice), Broadcast (B: each device holds all of it)
// or Partial (P: each device holds a tensor whose element-wise sum (or max,
// P(max)) over the axis is the logical tensor). An NdSbp has one Sbp per mesh
// axis.
//
// Text syntax: "S(0)", "B", "P", "P(max)"; PyTorch DTensor's "Shard(0)",
// "Replicate()", "Partial()" are accepted as aliases. An NdSbp prints as
// "(S(0),B)"; a one-axis NdSbp prints and parses without parentheses too.
// Annotations may leave axes open with "*" (NdSbpPattern).
#ifndef SBPFLOW_SBP_SBP_H_
#define SBPFLOW_SBP_SBP_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sbpflow {

class Sbp {
 public:
  enum class Kind { kSplit, kBroadcast, kPartialSum, kPartialMax };

  static Sbp Split(int axis) { return Sbp(Kind::kSplit, axis); }
  static Sbp Broadcast() { return Sbp(Kind::kBroadcast, 0); }
  static Sbp PartialSum() { return Sbp(Kind::kPartialSum, 0); }
  static Sbp PartialMax() { return Sbp(Kind::kPartialMax, 0); }

  Kind kind() const { return kind_; }
  bool is_split() const { return kind_ == Kind::kSplit; }
  bool is_broadcast() const { return kind_ == Kind::kBroadcast; }
  bool is_partial() const { return kind_ == Kind::kPartialSum || kind_ == Kind::kPartialMax; }
  // The split tensor dimension; requires is_split().
  int axis() const { return axis_; }

  std::string ToString() const;

  bool operator==(const Sbp& other) const { return kind_ == other.kind_ && axis_ == other.axis_; }
  bool operator!=(const Sbp& other) const { return !(*this == other); }
  bool operator<(const Sbp& other) const {
    return kind_ != other.kind_ ? kind_ < other.kind_ : axis_ < other.axis_;
  }

 private:
  Sbp(Kind kind, int axis) : kind_(kind), axis_(axis) {}
  Kind kind_;
  int axis_;
};

using NdSbp = std::vector<Sbp>;

// Parses one Sbp. Errors: InvalidArgument "unknown SBP 'X' (expected S(i), B,
// P, P(max), Shard(i), Replicate() or Partial())".
absl::StatusOr<Sbp> ParseSbp(absl::string_view text);

// Parses "(S(0),B)" or, for one axis, "S(0)". Errors name the text.
absl::StatusOr<NdSbp> ParseNdSbp(absl::string_view text);

// "(S(0),B)"; a one-axis NdSbp prints as "S(0)".
std::string NdSbpToString(const NdSbp& nd_sbp);

// Checks split axes against a tensor's rank and the length against the
// mesh's rank. Errors: "S(2) splits dimension 2 of a rank-2 tensor",
// "(S(0),B) has 2 axes, the mesh has 1".
absl::Status ValidateNdSbp(const NdSbp& nd_sbp, int tensor_rank, int mesh_rank);

// An annotation that may leave mesh axes open: "*" on an axis lets
// inference choose there, e.g. "(*,B)" fixes only the second axis. Every
// NdSbp text is a pattern with no open axis.
using NdSbpPattern = std::vector<std::optional<Sbp>>;

// Parses like ParseNdSbp, with "*" accepted for any axis.
absl::StatusOr<NdSbpPattern> ParseNdSbpPattern(absl::string_view text);

// "(*,B)"; a one-axis pattern prints without parentheses.
std::string NdSbpPatternToString(const NdSbpPattern& pattern);

// Like ValidateNdSbp, for the axes the pattern fixes.
absl::Status ValidateNdSbpPattern(const NdSbpPattern& pattern, int tensor_rank, int mesh_rank);

// Whether `nd_sbp` has the pattern's Sbp on every axis the pattern fixes.
bool PatternMatches(const NdSbpPattern& pattern, const NdSbp& nd_sbp);

bool HasPartial(const NdSbp& nd_sbp);
bool IsAllBroadcast(const NdSbp& nd_sbp);

}  // namespace sbpflow

#endif  // SBPFLOW_SBP_SBP_H_
