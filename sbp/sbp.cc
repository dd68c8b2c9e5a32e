#include "sbp/sbp.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status_macros.h"

namespace sbpflow {

std::string Sbp::ToString() const {
  switch (kind_) {
    case Kind::kSplit:
      return absl::StrCat("S(", axis_, ")");
    case Kind::kBroadcast:
      return "B";
    case Kind::kPartialSum:
      return "P";
    case Kind::kPartialMax:
      return "P(max)";
  }
  return "B";
}

namespace {

absl::Status Unknown(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("unknown SBP '", text,
                   "' (expected S(i), B, P, P(max), Shard(i), Replicate() or Partial())"));
}

// "Name(args)" -> name and args; "B" -> ("B", nullopt).
bool SplitCall(absl::string_view text, absl::string_view* name, absl::string_view* args,
               bool* has_args) {
  const size_t open = text.find('(');
  if (open == absl::string_view::npos) {
    *name = text;
    *has_args = false;
    return true;
  }
  if (text.back() != ')') return false;
  *name = absl::StripAsciiWhitespace(text.substr(0, open));
  *args = absl::StripAsciiWhitespace(text.substr(open + 1, text.size() - open - 2));
  *has_args = true;
  return true;
}

}  // namespace

absl::StatusOr<Sbp> ParseSbp(absl::string_view text) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(text);
  absl::string_view name;
  absl::string_view args;
  bool has_args = false;
  if (stripped.empty() || !SplitCall(stripped, &name, &args, &has_args)) return Unknown(text);
  if (name == "S" || name == "Shard") {
    int axis = 0;
    if (!has_args || !absl::SimpleAtoi(args, &axis) || axis < 0) return Unknown(text);
    return Sbp::Split(axis);
  }
  if ((name == "B" && !has_args) || (name == "Replicate" && has_args && args.empty())) {
    return Sbp::Broadcast();
  }
  if (name == "P" || name == "Partial") {
    if (!has_args) return name == "P" ? absl::StatusOr<Sbp>(Sbp::PartialSum()) : Unknown(text);
    const std::string kind = absl::AsciiStrToLower(args);
    if (kind.empty() || kind == "sum") return Sbp::PartialSum();
    if (kind == "max") return Sbp::PartialMax();
  }
  return Unknown(text);
}

namespace {

// The per-axis texts of "(S(0),B)" (split at commas of nesting depth 0), or
// of a single-axis "S(0)"; `tuple` says which form it was.
std::vector<absl::string_view> AxisTexts(absl::string_view text, bool* tuple) {
  absl::string_view body = absl::StripAsciiWhitespace(text);
  *tuple = !body.empty() && body.front() == '(' && body.back() == ')';
  if (!*tuple) return {body};
  body = body.substr(1, body.size() - 2);
  std::vector<absl::string_view> axes;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= body.size(); ++i) {
    if (i == body.size() || (body[i] == ',' && depth == 0)) {
      axes.push_back(body.substr(start, i - start));
      start = i + 1;
    } else if (body[i] == '(') {
      ++depth;
    } else if (body[i] == ')') {
      --depth;
    }
  }
  return axes;
}

absl::StatusOr<NdSbpPattern> ParseAxes(absl::string_view text, bool allow_open) {
  bool tuple = false;
  NdSbpPattern result;
  for (absl::string_view axis : AxisTexts(text, &tuple)) {
    if (allow_open && absl::StripAsciiWhitespace(axis) == "*") {
      result.push_back(std::nullopt);
      continue;
    }
    auto sbp = ParseSbp(axis);
    if (!sbp.ok()) {
      if (!tuple) return sbp.status();
      return absl::InvalidArgumentError(absl::StrCat("in '", text, "': ", sbp.status().message()));
    }
    result.push_back(*sbp);
  }
  return result;
}

}  // namespace

absl::StatusOr<NdSbp> ParseNdSbp(absl::string_view text) {
  SBP_ASSIGN_OR_RETURN(NdSbpPattern axes, ParseAxes(text, /*allow_open=*/false));
  NdSbp result;
  for (const std::optional<Sbp>& sbp : axes) result.push_back(*sbp);
  return result;
}

absl::StatusOr<NdSbpPattern> ParseNdSbpPattern(absl::string_view text) {
  return ParseAxes(text, /*allow_open=*/true);
}

std::string NdSbpPatternToString(const NdSbpPattern& pattern) {
  auto axis = [](const std::optional<Sbp>& sbp) {
    return sbp.has_value() ? sbp->ToString() : std::string("*");
  };
  if (pattern.size() == 1) return axis(pattern[0]);
  return absl::StrCat("(",
                      absl::StrJoin(pattern, ",",
                                    [&axis](std::string* out, const std::optional<Sbp>& sbp) {
                                      out->append(axis(sbp));
                                    }),
                      ")");
}

absl::Status ValidateNdSbpPattern(const NdSbpPattern& pattern, int tensor_rank, int mesh_rank) {
  if (static_cast<int>(pattern.size()) != mesh_rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        NdSbpPatternToString(pattern), " has ", pattern.size(), " axes, the mesh has ", mesh_rank));
  }
  NdSbp fixed;
  for (const std::optional<Sbp>& sbp : pattern) {
    if (sbp.has_value()) fixed.push_back(*sbp);
  }
  return ValidateNdSbp(fixed, tensor_rank, static_cast<int>(fixed.size()));
}

bool PatternMatches(const NdSbpPattern& pattern, const NdSbp& nd_sbp) {
  if (pattern.size() != nd_sbp.size()) return false;
  for (size_t axis = 0; axis < pattern.size(); ++axis) {
    if (pattern[axis].has_value() && *pattern[axis] != nd_sbp[axis]) return false;
  }
  return true;
}

std::string NdSbpToString(const NdSbp& nd_sbp) {
  if (nd_sbp.size() == 1) return nd_sbp[0].ToString();
  return absl::StrCat(
      "(",
      absl::StrJoin(nd_sbp, ",",
                    [](std::string* out, const Sbp& sbp) { out->append(sbp.ToString()); }),
      ")");
}

absl::Status ValidateNdSbp(const NdSbp& nd_sbp, int tensor_rank, int mesh_rank) {
  if (static_cast<int>(nd_sbp.size()) != mesh_rank) {
    return absl::InvalidArgumentError(absl::StrCat(NdSbpToString(nd_sbp), " has ", nd_sbp.size(),
                                                   " axes, the mesh has ", mesh_rank));
  }
  for (const Sbp& sbp : nd_sbp) {
    if (sbp.is_split() && sbp.axis() >= tensor_rank) {
      return absl::InvalidArgumentError(absl::StrCat(
          sbp.ToString(), " splits dimension ", sbp.axis(), " of a rank-", tensor_rank, " tensor"));
    }
  }
  return absl::OkStatus();
}

bool HasPartial(const NdSbp& nd_sbp) {
  for (const Sbp& sbp : nd_sbp) {
    if (sbp.is_partial()) return true;
  }
  return false;
}

bool IsAllBroadcast(const NdSbp& nd_sbp) {
  for (const Sbp& sbp : nd_sbp) {
    if (!sbp.is_broadcast()) return false;
  }
  return true;
}

}  // namespace sbpflow
