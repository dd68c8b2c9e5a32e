// Strategy: between congruent placements (the same mesh over other devices,
// as pipeline ranks are). Every device sends its shard as it is, partial or
// not, to the device at its mesh position, and the layout change runs as it
// would on one placement, before or after the move, whichever the link model
// finds cheaper. Either way the arithmetic is that of the same change on one
// placement: a partial sum is never reduced early because its tensor crosses
// a stage boundary, so where the pipeline is cut does not change a single
// bit.
#include "sbp/boxing/strategies.h"

namespace sbpflow::boxing {
namespace {

// One send_recv per mesh position: rank k of `from`'s placement to rank k of
// `to`'s, which holds the same box (same mesh, same NdSbp).
BoxingStep MoveStep(const BoxingRequest& request, const Layout& from, const Layout& to) {
  std::vector<std::vector<Device>> pairs;
  for (int rank = 0; rank < from.placement.size(); ++rank) {
    pairs.push_back({from.placement.devices()[rank], to.placement.devices()[rank]});
  }
  return MakeStep(BoxingKind::kSendRecv, -1, from, to, std::move(pairs), request.shape,
                  request.dtype);
}

BoxingPlan Chain(BoxingPlan first, const BoxingPlan& second, const LinkModel& link) {
  for (const BoxingStep& step : second.steps) first.steps.push_back(step);
  first.cost_seconds = 0;
  for (const BoxingStep& step : first.steps) first.cost_seconds += StepCost(step, link);
  return first;
}

}  // namespace

BoxingPlan PlanCongruentMove(const BoxingRequest& request) {
  const Layout arrived{request.to.placement, request.from.nd_sbp};
  BoxingPlan move;
  move.steps.push_back(MoveStep(request, request.from, arrived));
  const BoxingPlan move_first =
      Chain(move,
            PlanSamePlacement(
                BoxingRequest{request.shape, request.dtype, arrived, request.to, request.link}),
            request.link);
  const Layout converted{request.from.placement, request.to.nd_sbp};
  BoxingPlan move_converted;
  move_converted.steps.push_back(MoveStep(request, converted, request.to));
  const BoxingPlan convert_first =
      Chain(PlanSamePlacement(
                BoxingRequest{request.shape, request.dtype, request.from, converted, request.link}),
            move_converted, request.link);
  // Ties move first: the consumer's devices then run the change when they
  // need its result.
  return convert_first.cost_seconds < move_first.cost_seconds ? convert_first : move_first;
}

}  // namespace sbpflow::boxing
