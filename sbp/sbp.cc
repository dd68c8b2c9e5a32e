#include "sbp/sbp.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

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
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown SBP '", text,
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

absl::StatusOr<NdSbp> ParseNdSbp(absl::string_view text) {
  absl::string_view body = absl::StripAsciiWhitespace(text);
  NdSbp result;
  // "(S(0),B)" is a tuple; "S(0)" a single axis.
  if (!body.empty() && body.front() == '(' && body.back() == ')') {
    body = body.substr(1, body.size() - 2);
    // Split on commas at nesting depth 0.
    int depth = 0;
    size_t start = 0;
    for (size_t i = 0; i <= body.size(); ++i) {
      if (i == body.size() || (body[i] == ',' && depth == 0)) {
        auto sbp = ParseSbp(body.substr(start, i - start));
        if (!sbp.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("in '", text, "': ", sbp.status().message()));
        }
        result.push_back(*sbp);
        start = i + 1;
      } else if (body[i] == '(') {
        ++depth;
      } else if (body[i] == ')') {
        --depth;
      }
    }
    return result;
  }
  auto sbp = ParseSbp(body);
  if (!sbp.ok()) return sbp.status();
  result.push_back(*sbp);
  return result;
}

std::string NdSbpToString(const NdSbp& nd_sbp) {
  if (nd_sbp.size() == 1) return nd_sbp[0].ToString();
  return absl::StrCat("(", absl::StrJoin(nd_sbp, ",", [](std::string* out, const Sbp& sbp) {
                        out->append(sbp.ToString());
                      }),
                      ")");
}

absl::Status ValidateNdSbp(const NdSbp& nd_sbp, int tensor_rank, int mesh_rank) {
  if (static_cast<int>(nd_sbp.size()) != mesh_rank) {
    return absl::InvalidArgumentError(absl::StrCat(NdSbpToString(nd_sbp), " has ",
                                                   nd_sbp.size(), " axes, the mesh has ",
                                                   mesh_rank));
  }
  for (const Sbp& sbp : nd_sbp) {
    if (sbp.is_split() && sbp.axis() >= tensor_rank) {
      return absl::InvalidArgumentError(absl::StrCat(sbp.ToString(), " splits dimension ",
                                                     sbp.axis(), " of a rank-", tensor_rank,
                                                     " tensor"));
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
