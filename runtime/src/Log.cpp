//===- Log.cpp - Per-step logs: stdout and JSONL --------------------------===//
#include "Log.h"

#include "Error.h"

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace ingot::rt {

double nowSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string formatStepLine(const StepRecord &r) {
  std::string line = format("step %lld/%lld | loss %.6f | norm %.4f | lr %.2e | %.1f ms | %.0f tok/s",
                            (long long)r.step, (long long)r.steps, r.loss, r.gradNorm, r.lr, r.ms,
                            r.tokensPerSecond);
  if (r.hasVal)
    line += format(" | val %.6f", r.valLoss);
  if (r.skipped)
    line += " | skipped (non-finite)";
  return line;
}

// JSON has no NaN or Infinity: write those as null.
static std::string jsonNumber(double x, const char *fmt) {
  if (!std::isfinite(x))
    return "null";
  return format(fmt, x);
}

std::string formatStepJson(const StepRecord &r) {
  std::string s = format("{\"step\":%lld,\"steps\":%lld", (long long)r.step, (long long)r.steps);
  s += ",\"loss\":" + jsonNumber(r.loss, "%.17g");
  s += ",\"norm\":" + jsonNumber(r.gradNorm, "%.9g");
  s += ",\"lr\":" + jsonNumber(r.lr, "%.9g");
  s += ",\"ms\":" + jsonNumber(r.ms, "%.3f");
  s += ",\"tok_per_s\":" + jsonNumber(r.tokensPerSecond, "%.1f");
  if (r.hasVal)
    s += ",\"val\":" + jsonNumber(r.valLoss, "%.17g");
  if (r.skipped)
    s += ",\"skipped\":true";
  return s + "}";
}

Logger::Logger(const std::string &jsonlPath, bool append, FILE *out) : path_(jsonlPath), out_(out) {
  if (jsonlPath.empty())
    return;
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  fd_ = ::open(jsonlPath.c_str(), flags, 0644);
  if (fd_ < 0)
    throw Error(kExitError, format("--log %s: cannot open for writing: %s", jsonlPath.c_str(),
                                   std::strerror(errno)));
}

Logger::~Logger() {
  if (fd_ >= 0)
    ::close(fd_);
}

static std::string durationText(double seconds) {
  long long s = (long long)std::llround(seconds);
  if (s >= 3600)
    return format("%lldh%02lldm%02llds", s / 3600, (s / 60) % 60, s % 60);
  if (s >= 60)
    return format("%lldm%02llds", s / 60, s % 60);
  return format("%llds", s);
}

void Logger::start(int64_t firstStep, int64_t steps) {
  firstStep_ = firstStep;
  steps_ = steps;
  startSeconds_ = nowSeconds();
  int64_t run = steps - firstStep + 1;
  progressEvery_ = steps > 100 ? (steps + 9) / 10 : 0;
  nextProgress_ = 0;
  if (progressEvery_ > 0 && run > 0)
    nextProgress_ = ((firstStep - 1) / progressEvery_ + 1) * progressEvery_;
}

void Logger::message(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  std::vfprintf(out_, fmt, args);
  va_end(args);
  std::fputc('\n', out_);
  std::fflush(out_);
}

void Logger::step(const StepRecord &r) {
  std::fprintf(out_, "%s\n", formatStepLine(r).c_str());
  if (progressEvery_ > 0 && r.step >= nextProgress_ && r.step < r.steps) {
    double elapsed = nowSeconds() - startSeconds_;
    double done = double(r.step - firstStep_ + 1);
    double eta = elapsed / done * double(r.steps - r.step);
    std::fprintf(out_, "progress %lld%% (%lld/%lld steps) | elapsed %s | eta %s\n",
                 (long long)(100 * r.step / r.steps), (long long)r.step, (long long)r.steps,
                 durationText(elapsed).c_str(), durationText(eta).c_str());
    nextProgress_ += progressEvery_;
    while (nextProgress_ <= r.step)
      nextProgress_ += progressEvery_;
  }
  std::fflush(out_);
  if (fd_ < 0)
    return;
  std::string line = formatStepJson(r) + "\n";
  const char *p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw Error(kExitError, format("--log %s: write failed: %s", path_.c_str(),
                                     std::strerror(errno)));
    p += n;
    left -= size_t(n);
  }
}

} // namespace ingot::rt
