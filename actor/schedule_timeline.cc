// ASCII rendering of a simulated schedule: one fixed-width cell per time
// unit, so the ranks' rows line up and bubbles show as dots.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actor/schedule.h"

namespace sbpflow {

std::string RenderTimeline(const Simulation& simulation, const Schedule& schedule) {
  // The shortest compute is one cell; longer ones span several cells.
  double unit = 0;
  size_t label_width = 1;
  for (const auto& rank : simulation.ranks) {
    for (const SimulatedInstruction& run : rank) {
      const double duration = run.end - run.start;
      if (duration > 0 && (unit == 0 || duration < unit)) unit = duration;
      label_width =
          std::max(label_width, InstructionToString(run.instruction, schedule.chunks).size());
    }
  }
  if (simulation.ranks.empty()) return "";
  if (unit == 0) unit = 1;
  const int cells = static_cast<int>(std::lround(simulation.makespan / unit));
  const std::string rank_width = absl::StrCat(simulation.ranks.size() - 1);
  std::string text;
  for (size_t rank = 0; rank < simulation.ranks.size(); ++rank) {
    std::vector<std::string> row(cells, ".");
    for (const SimulatedInstruction& run : simulation.ranks[rank]) {
      const int begin = static_cast<int>(std::lround(run.start / unit));
      const int end = static_cast<int>(std::lround(run.end / unit));
      for (int cell = begin; cell < end && cell < cells; ++cell) {
        row[cell] = InstructionToString(run.instruction, schedule.chunks);
      }
    }
    std::string rank_label = absl::StrCat(rank);
    text += absl::StrCat("rank ", std::string(rank_width.size() - rank_label.size(), ' '),
                         rank_label, " |");
    for (const std::string& cell : row) {
      text += absl::StrCat(" ", cell, std::string(label_width - cell.size(), ' '));
    }
    // No trailing blanks: the last cell's padding is dropped.
    while (!text.empty() && text.back() == ' ') text.pop_back();
    text += "\n";
  }
  return text;
}

}  // namespace sbpflow
