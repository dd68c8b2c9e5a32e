#include "base/initializer.h"

#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace sbpflow {

std::string Initializer::ToString() const {
  switch (kind) {
    case Kind::kConstant:
      if (a == 0.0) return "zeros";
      if (a == 1.0) return "ones";
      return absl::StrCat("constant(", a, ")");
    case Kind::kNormal:
      return absl::StrCat("normal(", a, ",", b, ")");
    case Kind::kUniform:
      return absl::StrCat("uniform(", a, ",", b, ")");
    case Kind::kXavierUniform:
      return "xavier_uniform";
    case Kind::kKaimingUniform:
      return "kaiming_uniform";
  }
  return "zeros";
}

absl::StatusOr<Initializer> ParseInitializer(absl::string_view text) {
  absl::string_view body = absl::StripAsciiWhitespace(text);
  absl::string_view name = body;
  std::vector<double> args;
  const size_t open = body.find('(');
  if (open != absl::string_view::npos) {
    if (body.back() != ')') {
      return absl::InvalidArgumentError(absl::StrCat("initializer '", text, "': missing ')'"));
    }
    name = absl::StripAsciiWhitespace(body.substr(0, open));
    absl::string_view inside = body.substr(open + 1, body.size() - open - 2);
    for (absl::string_view item : absl::StrSplit(inside, ',')) {
      double value = 0;
      if (!absl::SimpleAtod(absl::StripAsciiWhitespace(item), &value) || !std::isfinite(value)) {
        return absl::InvalidArgumentError(
            absl::StrCat("initializer '", text, "': '", item, "' is not a number"));
      }
      args.push_back(value);
    }
  }
  auto expect = [&](size_t low, size_t high) -> absl::Status {
    if (args.size() < low || args.size() > high) {
      return absl::InvalidArgumentError(absl::StrCat("initializer '", text, "': ", name,
                                                     " takes ", low == high ? "" : "from ", low,
                                                     low == high ? "" : absl::StrCat(" to ", high),
                                                     " argument(s), got ", args.size()));
    }
    return absl::OkStatus();
  };
  Initializer init;
  absl::Status status;
  if (name == "zeros" || name == "ones") {
    status = expect(0, 0);
    init.a = name == "ones" ? 1.0 : 0.0;
  } else if (name == "constant") {
    status = expect(1, 1);
    if (status.ok()) init.a = args[0];
  } else if (name == "normal") {
    status = expect(1, 2);
    init.kind = Initializer::Kind::kNormal;
    if (status.ok()) {
      init.a = args.size() == 2 ? args[0] : 0.0;
      init.b = args.back();
      if (init.b < 0) {
        status = absl::InvalidArgumentError(
            absl::StrCat("initializer '", text, "': std must be >= 0"));
      }
    }
  } else if (name == "uniform") {
    status = expect(2, 2);
    init.kind = Initializer::Kind::kUniform;
    if (status.ok()) {
      init.a = args[0];
      init.b = args[1];
      if (init.b < init.a) {
        status = absl::InvalidArgumentError(
            absl::StrCat("initializer '", text, "': high must be >= low"));
      }
    }
  } else if (name == "xavier_uniform" || name == "kaiming_uniform") {
    status = expect(0, 0);
    init.kind = name == "xavier_uniform" ? Initializer::Kind::kXavierUniform
                                         : Initializer::Kind::kKaimingUniform;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "initializer '", text, "' is unknown (expected zeros, ones, constant(V), normal(STD), "
        "uniform(A,B), xavier_uniform or kaiming_uniform)"));
  }
  if (!status.ok()) return status;
  return init;
}

uint64_t MixBits(uint64_t key, uint64_t counter) {
  uint64_t z = key + 0x9E3779B97F4A7C15ULL * (counter + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double UniformFromCounter(uint64_t key, uint64_t counter) {
  return static_cast<double>(MixBits(key, counter) >> 11) * 0x1.0p-53;
}

uint64_t InitializerKey(uint64_t job_seed, int64_t node_seed, absl::string_view variable_name) {
  // FNV-1a over the name, then mixed with both seeds.
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (char c : variable_name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001B3ULL;
  }
  return MixBits(MixBits(hash, job_seed), static_cast<uint64_t>(node_seed));
}

namespace {

void Fans(const Shape& shape, double* fan_in, double* fan_out) {
  if (shape.rank() == 0) {
    *fan_in = *fan_out = 1;
  } else if (shape.rank() == 1) {
    *fan_in = *fan_out = static_cast<double>(shape.dim(0));
  } else {
    *fan_in = static_cast<double>(shape.NumElements(0, shape.rank() - 1));
    *fan_out = static_cast<double>(shape.dim(shape.rank() - 1));
  }
  *fan_in = std::max(*fan_in, 1.0);
  *fan_out = std::max(*fan_out, 1.0);
}

}  // namespace

double InitializerValue(const Initializer& initializer, const Shape& logical_shape, uint64_t key,
                        int64_t index) {
  const uint64_t counter = static_cast<uint64_t>(index);
  switch (initializer.kind) {
    case Initializer::Kind::kConstant:
      return initializer.a;
    case Initializer::Kind::kNormal: {
      // Box-Muller from two independent uniforms of this element.
      const double u1 = 1.0 - UniformFromCounter(key, 2 * counter);  // (0, 1]
      const double u2 = UniformFromCounter(key, 2 * counter + 1);
      const double gaussian = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
      return initializer.a + initializer.b * gaussian;
    }
    case Initializer::Kind::kUniform:
      return initializer.a + (initializer.b - initializer.a) * UniformFromCounter(key, counter);
    case Initializer::Kind::kXavierUniform:
    case Initializer::Kind::kKaimingUniform: {
      double fan_in = 1;
      double fan_out = 1;
      Fans(logical_shape, &fan_in, &fan_out);
      const double bound = initializer.kind == Initializer::Kind::kXavierUniform
                               ? std::sqrt(6.0 / (fan_in + fan_out))
                               : std::sqrt(6.0 / fan_in);
      return -bound + 2.0 * bound * UniformFromCounter(key, counter);
    }
  }
  return 0.0;
}

}  // namespace sbpflow
