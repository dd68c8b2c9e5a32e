#include "tools/progress.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

namespace sbpflow {

ProgressBar::ProgressBar(std::ostream* out, int64_t total_steps, int64_t samples_per_step,
                         bool terminal)
    : out_(out),
      total_steps_(total_steps),
      samples_per_step_(samples_per_step),
      terminal_(terminal),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      printed_every_(std::max<int64_t>(1, total_steps / 20)) {}

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::samples_per_second() const {
  const double elapsed = elapsed_seconds();
  return elapsed > 0 ? static_cast<double>(last_step_ * samples_per_step_) / elapsed : 0.0;
}

void ProgressBar::Update(int64_t step, double loss) {
  last_step_ = step;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (step == total_steps_ || now - last_draw_ > std::chrono::milliseconds(100)) {
      last_draw_ = now;
      Draw(step, loss);
    }
  } else if (step % printed_every_ == 0 || step == total_steps_) {
    Draw(step, loss);
  }
}

void ProgressBar::Draw(int64_t step, double loss) {
  const double rate = samples_per_second();
  const double per_step = step > 0 ? elapsed_seconds() / static_cast<double>(step) : 0;
  const int64_t eta = static_cast<int64_t>(per_step * static_cast<double>(total_steps_ - step));
  constexpr int kWidth = 24;
  const int filled = total_steps_ > 0 ? static_cast<int>(kWidth * step / total_steps_) : kWidth;
  std::ostringstream line;
  if (terminal_) line << "\r";
  line << "[" << std::string(filled, '=') << std::string(kWidth - filled, ' ') << "] step "
       << step << "/" << total_steps_ << "  loss " << std::fixed << std::setprecision(4) << loss
       << "  " << std::setprecision(1) << rate << " samples/s  ETA " << eta / 60 << ":"
       << std::setw(2) << std::setfill('0') << eta % 60;
  if (!terminal_) line << "\n";
  *out_ << line.str() << std::flush;
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (terminal_ && drawn_) *out_ << "\n" << std::flush;
}

}  // namespace sbpflow
