// Index boxes: the part of a logical tensor a device holds, one half-open
// interval per dimension. Used by SBP (shard ranges), boxing and
// communication (slice intersections), variable initialization and
// checkpoints (assembling logical tensors).
#ifndef SBPFLOW_BASE_BOX_H_
#define SBPFLOW_BASE_BOX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/shape.h"

namespace sbpflow {

struct Interval {
  int64_t begin = 0;
  int64_t end = 0;

  int64_t size() const { return end > begin ? end - begin : 0; }
  bool operator==(const Interval& other) const {
    return begin == other.begin && end == other.end;
  }
};

using Box = std::vector<Interval>;

// The box covering all of `shape`.
Box FullBox(const Shape& shape);
// The extents of a box.
Shape BoxShape(const Box& box);
int64_t BoxNumElements(const Box& box);
// Per-dimension intersection; nullopt when it is empty in some dimension
// (a zero-size box is still returned when both inputs are zero-size there).
std::optional<Box> IntersectBoxes(const Box& a, const Box& b);
// "[0,3)x[0,4)".
std::string BoxToString(const Box& box);

// Balanced split of `size` elements into `parts`: the first size % parts parts
// get one element more. Returns part `index`.
Interval BalancedPart(int64_t size, int64_t parts, int64_t index);

// Copies the elements of `region` (a box in logical coordinates contained in
// both `src_box` and `dst_box`) from a row-major buffer holding `src_box` to
// one holding `dst_box`. `element_size` in bytes. AddRegion adds instead of
// copying.
void CopyRegion(const void* src, const Box& src_box, void* dst, const Box& dst_box,
                const Box& region, int64_t element_size);
template <typename T>
void AddRegion(const T* src, const Box& src_box, T* dst, const Box& dst_box, const Box& region);

// One piece of a copy between participants: read `region` (logical
// coordinates) from participant `source`.
struct BoxCopy {
  int source = 0;
  Box region;
};

// Plans a copy among participants (in rank order) that hold `inputs` and
// want `outputs` (nullopt: holds or wants nothing). Distinct input boxes must
// be disjoint or identical (one layout: a grid of slices, maybe replicated).
// Each distinct box is read once, from the participant itself when it holds
// it, else from its lowest-ranked holder. Returns the copies per participant,
// or nullopt when some wanted element is held by nobody.
std::optional<std::vector<std::vector<BoxCopy>>> PlanBoxCopies(
    const std::vector<std::optional<Box>>& inputs, const std::vector<std::optional<Box>>& outputs);

}  // namespace sbpflow

#endif  // SBPFLOW_BASE_BOX_H_
