#include "base/box.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "glog/logging.h"

namespace sbpflow {

Box FullBox(const Shape& shape) {
  Box box;
  box.reserve(shape.rank());
  for (int64_t dim : shape.dims()) box.push_back(Interval{0, dim});
  return box;
}

Shape BoxShape(const Box& box) {
  std::vector<int64_t> dims;
  dims.reserve(box.size());
  for (const Interval& interval : box) dims.push_back(interval.size());
  return Shape(std::move(dims));
}

int64_t BoxNumElements(const Box& box) {
  int64_t count = 1;
  for (const Interval& interval : box) count *= interval.size();
  return count;
}

std::optional<Box> IntersectBoxes(const Box& a, const Box& b) {
  CHECK_EQ(a.size(), b.size());
  Box result(a.size());
  for (size_t axis = 0; axis < a.size(); ++axis) {
    result[axis].begin = std::max(a[axis].begin, b[axis].begin);
    result[axis].end = std::min(a[axis].end, b[axis].end);
    if (result[axis].end < result[axis].begin) return std::nullopt;
    if (result[axis].end == result[axis].begin && a[axis].size() > 0 && b[axis].size() > 0) {
      return std::nullopt;
    }
  }
  return result;
}

std::string BoxToString(const Box& box) {
  if (box.empty()) return "scalar";
  return absl::StrJoin(box, "x", [](std::string* out, const Interval& interval) {
    absl::StrAppend(out, "[", interval.begin, ",", interval.end, ")");
  });
}

Interval BalancedPart(int64_t size, int64_t parts, int64_t index) {
  CHECK_GT(parts, 0);
  CHECK(index >= 0 && index < parts);
  const int64_t base = size / parts;
  const int64_t extra = size % parts;
  const int64_t begin = index * base + std::min(index, extra);
  return Interval{begin, begin + base + (index < extra ? 1 : 0)};
}

namespace {

// Walks the rows (all dimensions but the last) of `region`, calling
// row(src_offset, dst_offset, count) in elements.
template <typename RowFn>
void ForEachRow(const Box& src_box, const Box& dst_box, const Box& region, RowFn row) {
  const int rank = static_cast<int>(region.size());
  if (BoxNumElements(region) == 0) return;
  if (rank == 0) {
    row(0, 0, 1);
    return;
  }
  const std::vector<int64_t> src_strides = RowMajorStrides(BoxShape(src_box));
  const std::vector<int64_t> dst_strides = RowMajorStrides(BoxShape(dst_box));
  std::vector<int64_t> index(rank);
  for (int axis = 0; axis < rank; ++axis) index[axis] = region[axis].begin;
  const int64_t count = region[rank - 1].size();
  while (true) {
    int64_t src_offset = 0;
    int64_t dst_offset = 0;
    for (int axis = 0; axis < rank; ++axis) {
      src_offset += (index[axis] - src_box[axis].begin) * src_strides[axis];
      dst_offset += (index[axis] - dst_box[axis].begin) * dst_strides[axis];
    }
    row(src_offset, dst_offset, count);
    int axis = rank - 2;
    for (; axis >= 0; --axis) {
      if (++index[axis] < region[axis].end) break;
      index[axis] = region[axis].begin;
    }
    if (axis < 0) return;
  }
}

}  // namespace

void CopyRegion(const void* src, const Box& src_box, void* dst, const Box& dst_box,
                const Box& region, int64_t element_size) {
  const char* src_bytes = static_cast<const char*>(src);
  char* dst_bytes = static_cast<char*>(dst);
  ForEachRow(src_box, dst_box, region, [&](int64_t src_offset, int64_t dst_offset, int64_t count) {
    std::memcpy(dst_bytes + dst_offset * element_size, src_bytes + src_offset * element_size,
                count * element_size);
  });
}

template <typename T>
void AddRegion(const T* src, const Box& src_box, T* dst, const Box& dst_box, const Box& region) {
  ForEachRow(src_box, dst_box, region, [&](int64_t src_offset, int64_t dst_offset, int64_t count) {
    const T* in = src + src_offset;
    T* out = dst + dst_offset;
    for (int64_t i = 0; i < count; ++i) out[i] += in[i];
  });
}

std::optional<std::vector<std::vector<BoxCopy>>> PlanBoxCopies(
    const std::vector<std::optional<Box>>& inputs,
    const std::vector<std::optional<Box>>& outputs) {
  const int count = static_cast<int>(inputs.size());
  std::vector<std::vector<BoxCopy>> plan(count);
  for (int target = 0; target < count; ++target) {
    if (!outputs[target].has_value()) continue;
    const Box& out = *outputs[target];
    // Distinct input boxes are disjoint or identical (a grid of slices, maybe
    // replicated); read each distinct box once, from the target itself when it
    // holds it, else from its lowest-ranked holder.
    std::vector<int> order;
    if (inputs[target].has_value()) order.push_back(target);
    for (int source = 0; source < count; ++source) {
      if (source != target && inputs[source].has_value()) order.push_back(source);
    }
    std::vector<Box> used;
    int64_t covered = 0;
    for (int source : order) {
      const Box& in = *inputs[source];
      bool duplicate = false;
      for (const Box& box : used) duplicate = duplicate || box == in;
      if (duplicate) continue;
      used.push_back(in);
      std::optional<Box> region = IntersectBoxes(in, out);
      if (!region.has_value() || BoxNumElements(*region) == 0) continue;
      covered += BoxNumElements(*region);
      plan[target].push_back(BoxCopy{source, *region});
    }
    if (covered != BoxNumElements(out)) return std::nullopt;
  }
  return plan;
}

template void AddRegion<float>(const float*, const Box&, float*, const Box&, const Box&);
template void AddRegion<double>(const double*, const Box&, double*, const Box&, const Box&);
template void AddRegion<int32_t>(const int32_t*, const Box&, int32_t*, const Box&, const Box&);
template void AddRegion<int64_t>(const int64_t*, const Box&, int64_t*, const Box&, const Box&);

}  // namespace sbpflow
