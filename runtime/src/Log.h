//===- Log.h - Per-step logs: stdout and JSONL ------------------*- C++ -*-===//
//
//   step 12/100 | loss 4.123456 | norm 1.2345 | lr 3.00e-04 | 45.2 ms | 11329 tok/s | val 3.900000
//
// (with " | skipped (non-finite)" and "skipped":true when --on-nonfinite=skip dropped the update)
// and the same fields as one JSON object per line in --log FILE (appended to on resume, so a
// resumed run continues the same file). Runs longer than 100 steps also print progress with an
// ETA about every 10% of the steps.
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_LOG_H
#define INGOT_RT_LOG_H

#include <cstdint>
#include <cstdio>
#include <string>

namespace ingot::rt {

struct StepRecord {
  int64_t step = 0, steps = 0;
  double loss = 0, gradNorm = 0, lr = 0;
  double ms = 0;              // wall time of the step
  double tokensPerSecond = 0;
  bool hasVal = false;
  double valLoss = 0;
  bool skipped = false;       // --on-nonfinite=skip dropped this step's update
};

/// The stdout line for one step (no newline).
std::string formatStepLine(const StepRecord &r);
/// The JSONL object for one step (no newline). Losses are printed with 17 significant digits so
/// they read back as the same double.
std::string formatStepJson(const StepRecord &r);

class Logger {
public:
  /// Opens `jsonlPath` (if not empty): appending when `append`, else truncating. Throws Error.
  Logger(const std::string &jsonlPath, bool append, FILE *out = stdout);
  ~Logger();
  Logger(const Logger &) = delete;
  Logger &operator=(const Logger &) = delete;

  /// `firstStep` and `steps`: the run covers steps [firstStep, steps]; for the ETA.
  void start(int64_t firstStep, int64_t steps);
  void step(const StepRecord &r);
  void message(const char *fmt, ...) __attribute__((format(printf, 2, 3)));

private:
  int fd_ = -1;
  std::string path_;
  FILE *out_;
  int64_t firstStep_ = 1, steps_ = 0, nextProgress_ = 0, progressEvery_ = 0;
  double startSeconds_ = 0;
};

/// Seconds on a monotonic clock.
double nowSeconds();

} // namespace ingot::rt

#endif // INGOT_RT_LOG_H
