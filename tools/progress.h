// The training progress display on stderr: step, loss, samples/s and ETA.
// On a terminal one line is redrawn at most ten times a second; otherwise a
// line is printed every 5% of the steps, so logs stay short.
#ifndef SBPFLOW_TOOLS_PROGRESS_H_
#define SBPFLOW_TOOLS_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <ostream>

namespace sbpflow {

class ProgressBar {
 public:
  ProgressBar(std::ostream* out, int64_t total_steps, int64_t samples_per_step, bool terminal);

  // Call after every step (1-based).
  void Update(int64_t step, double loss);
  // Ends the display (newline on a terminal).
  void Finish();

  double elapsed_seconds() const;
  double samples_per_second() const;

 private:
  void Draw(int64_t step, double loss);

  std::ostream* out_;
  int64_t total_steps_;
  int64_t samples_per_step_;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
  int64_t last_step_ = 0;
  int64_t printed_every_;
  bool drawn_ = false;
};

}  // namespace sbpflow

#endif  // SBPFLOW_TOOLS_PROGRESS_H_
