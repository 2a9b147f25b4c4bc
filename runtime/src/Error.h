//===- Error.h - The runtime's user-facing errors ----------------*- C++ -*-===//
//
// Every problem a user can cause (a bad flag, a bad data file, a checkpoint that does not fit) is
// thrown as an Error carrying the process exit status; runTrainer() catches it, prints
// "error: <message>" on stderr and returns the status. Nothing in the runtime calls exit().
//
//   exit 1  bad input files (data shards, checkpoints), I/O failures, a machine that does not
//           match the manifest (Startup.h)
//   exit 2  bad command line
//   exit 3  the training diverged (non-finite loss or gradient norm)
//
//===----------------------------------------------------------------------===//
#ifndef INGOT_RT_ERROR_H
#define INGOT_RT_ERROR_H

#include <cstdarg>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace ingot::rt {

enum ExitCode : int { kExitOk = 0, kExitError = 1, kExitUsage = 2, kExitNonFinite = 3 };

class Error : public std::runtime_error {
public:
  Error(int exitCode, const std::string &message)
      : std::runtime_error(message), exitCode_(exitCode) {}
  int exitCode() const { return exitCode_; }

private:
  int exitCode_;
};

/// A bad command line (exit 2).
struct UsageError : Error {
  explicit UsageError(const std::string &message) : Error(kExitUsage, message) {}
};
/// A bad or unreadable data shard (exit 1).
struct DataError : Error {
  explicit DataError(const std::string &message) : Error(kExitError, message) {}
};
/// A checkpoint that cannot be written, read or does not fit this model (exit 1).
struct CheckpointError : Error {
  explicit CheckpointError(const std::string &message) : Error(kExitError, message) {}
};

/// printf-style formatting into a std::string.
inline std::string format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? size_t(n) : 0, '\0');
  if (n > 0)
    std::vsnprintf(out.data(), size_t(n) + 1, fmt, args);
  va_end(args);
  return out;
}

} // namespace ingot::rt

#endif // INGOT_RT_ERROR_H
