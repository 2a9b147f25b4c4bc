//===- Flags.cpp - The trainer's command line -----------------------------===//
#include "Flags.h"

#include "Error.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace ingot::rt {

const char *lrScheduleName(LrSchedule s) {
  switch (s) {
  case LrSchedule::constant: return "constant";
  case LrSchedule::cosine: return "cosine";
  case LrSchedule::linear: return "linear";
  }
  return "unknown";
}

static bool parseSchedule(const std::string &s, LrSchedule *out) {
  if (s == "constant") *out = LrSchedule::constant;
  else if (s == "cosine") *out = LrSchedule::cosine;
  else if (s == "linear") *out = LrSchedule::linear;
  else return false;
  return true;
}

namespace {

enum class Kind { flag, string, count, positive, real, nonNegReal, fraction, beta, positiveReal,
                  schedule, seed, nonFinite, onOff, endOfData };

struct FlagSpec {
  const char *name;
  Kind kind;
  const char *valueName; // for --help
  const char *help;
};

// One row per flag; the order is the --help order.
const FlagSpec kFlags[] = {
    {"--data", Kind::string, "PATTERN", "training token shards (glob, e.g. 'data/train_*.bin'); required to train"},
    {"--val", Kind::string, "PATTERN", "validation token shards (glob)"},
    {"--steps", Kind::count, "N", "optimizer steps in total; required to train"},
    {"--lr", Kind::nonNegReal, "X", "peak learning rate"},
    {"--lr-schedule", Kind::schedule, "S", "constant | cosine | linear (decay after warmup)"},
    {"--warmup", Kind::count, "N", "linear warmup steps from 0 to --lr"},
    {"--lr-final", Kind::fraction, "F", "lr at the last step, as a fraction of --lr (cosine, linear)"},
    {"--beta1", Kind::beta, "X", "AdamW beta1"},
    {"--beta2", Kind::beta, "X", "AdamW beta2"},
    {"--eps", Kind::positiveReal, "X", "AdamW epsilon"},
    {"--weight-decay", Kind::nonNegReal, "X", "AdamW weight decay (rank-1 parameters are not decayed)"},
    {"--clip", Kind::nonNegReal, "X", "global gradient-norm clip; 0 disables"},
    {"--seed", Kind::seed, "N", "seed of the parameter init and of the data order with --shuffle on (default 1234)"},
    {"--ckpt-dir", Kind::string, "DIR", "write checkpoints to DIR/step_NNNNNNNN/"},
    {"--ckpt-every", Kind::count, "N", "checkpoint every N steps (and always at the end); 0 = only at the end"},
    {"--ckpt-keep", Kind::count, "K", "keep only the newest K checkpoints; 0 = keep all (default)"},
    {"--save-initial", Kind::flag, nullptr, "with --ckpt-dir: also save the step-0 checkpoint (the initialized weights) before training"},
    {"--resume", Kind::string, "DIR|latest", "resume from a checkpoint directory, or the newest one in --ckpt-dir"},
    {"--log", Kind::string, "FILE", "append one JSON object per step to FILE (JSONL)"},
    {"--eval-every", Kind::count, "N", "validation loss every N steps; 0 = only at the last step"},
    {"--eval-batches", Kind::positive, "N", "validation batches per evaluation (default 10)"},
    {"--shuffle", Kind::onOff, "on|off", "off (default): shards and their sequences in file order (llm.c's); on: every epoch permutes the shards and each shard's sequences, from --seed"},
    {"--end-of-data", Kind::endOfData, "wrap|stop", "once every training batch was read: wrap (default) into the next epoch, reshuffled; or stop the run there (with a checkpoint if --ckpt-dir)"},
    {"--on-nonfinite", Kind::nonFinite, "stop|skip", "a step whose loss or gradient is NaN/Inf: stop (exit 3, naming the step and the parameter; the default) or skip its update and continue"},
    {"--threads", Kind::positive, "N", "OpenMP threads (default: OpenMP's default)"},
    {"--gradcheck", Kind::positive, "N", "check the gradient against finite differences along N random directions (f64 trainers, ingotc --f64) and exit"},
    {"--collective-timeout", Kind::positiveReal, "SECONDS", "multi-rank runs: a send, receive or collective not done in SECONDS ends the whole job (exit 4, naming the rank, step and operation; default 300)"},
    {"--master-addr", Kind::string, "HOST", "cuda target without mpirun/srun: the rendezvous host (rank 0's; default $MASTER_ADDR)"},
    {"--master-port", Kind::positive, "PORT", "cuda target without mpirun/srun: the rendezvous TCP port (default $MASTER_PORT)"},
    {"--describe", Kind::flag, nullptr, "print the model's manifest (JSON) and exit"},
    {"--help", Kind::flag, nullptr, "print this help and exit"},
};

const char *expectedText(Kind kind) {
  switch (kind) {
  case Kind::flag: return "no value";
  case Kind::string: return "a value";
  case Kind::count: return "a non-negative integer";
  case Kind::positive: return "a positive integer";
  case Kind::seed: return "a non-negative integer below 2^64";
  case Kind::real: return "a number";
  case Kind::nonNegReal: return "a non-negative number";
  case Kind::positiveReal: return "a positive number";
  case Kind::fraction: return "a number in [0, 1]";
  case Kind::beta: return "a number in [0, 1)";
  case Kind::schedule: return "one of constant, cosine, linear";
  case Kind::nonFinite: return "stop or skip";
  case Kind::onOff: return "on or off";
  case Kind::endOfData: return "wrap or stop";
  }
  return "a value";
}

[[noreturn]] void badValue(const FlagSpec &spec, const std::string &value) {
  throw UsageError(format("%s: expected %s, found '%s'", spec.name, expectedText(spec.kind),
                          value.c_str()));
}

int64_t parseInt(const FlagSpec &spec, const std::string &value, int64_t minimum) {
  const char *s = value.c_str();
  if (value.empty() || !(std::isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+'))
    badValue(spec, value);
  errno = 0;
  char *end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < minimum)
    badValue(spec, value);
  return v;
}

uint64_t parseSeed(const FlagSpec &spec, const std::string &value) {
  const char *s = value.c_str();
  if (value.empty() || !std::isdigit((unsigned char)s[0]))
    badValue(spec, value);
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    badValue(spec, value);
  return v;
}

double parseReal(const FlagSpec &spec, const std::string &value) {
  const char *s = value.c_str();
  if (value.empty() || std::isspace((unsigned char)s[0]))
    badValue(spec, value);
  errno = 0;
  char *end = nullptr;
  double v = std::strtod(s, &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v))
    badValue(spec, value);
  switch (spec.kind) {
  case Kind::nonNegReal: if (v < 0) badValue(spec, value); break;
  case Kind::positiveReal: if (v <= 0) badValue(spec, value); break;
  case Kind::fraction: if (v < 0 || v > 1) badValue(spec, value); break;
  case Kind::beta: if (v < 0 || v >= 1) badValue(spec, value); break;
  default: break;
  }
  return v;
}

size_t editDistance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
      diag = up;
    }
  }
  return row[b.size()];
}

const FlagSpec *findFlag(const std::string &name) {
  for (const FlagSpec &spec : kFlags)
    if (name == spec.name)
      return &spec;
  return nullptr;
}

} // namespace

std::string usageText(const ModelDesc &model, const char *argv0) {
  std::string out = format("usage: %s --data PATTERN --steps N [flags]\n"
                           "Trains the model '%s' (compiled by ingotc for target '%s').\n\nflags:\n",
                           argv0 ? argv0 : "trainer", model.name, model.target);
  for (const FlagSpec &spec : kFlags) {
    std::string left = spec.name;
    if (spec.valueName)
      left += std::string(" ") + spec.valueName;
    out += format("  %-26s %s\n", left.c_str(), spec.help);
  }
  const TrainDefaults &d = model.defaults;
  out += format("\nthis model's defaults: --lr %g --lr-schedule %s --warmup %lld --lr-final %g "
                "--beta1 %g --beta2 %g --eps %g --weight-decay %g --clip %g\n",
                d.lr, d.lrSchedule ? d.lrSchedule : "constant", (long long)d.warmup, d.lrFinal,
                d.beta1, d.beta2, d.eps, d.weightDecay, d.clip);
  out += "exit status: 0 done, 1 bad data/checkpoint, I/O error or a machine that does not "
         "match the manifest (startup check), 2 bad command line, "
         "3 non-finite loss, 4 communication failure or timeout (multi-rank)\n";
  return out;
}

Options parseFlags(const ModelDesc &model, int argc, char **argv) {
  Options o;
  const TrainDefaults &d = model.defaults;
  o.lr = d.lr;
  o.beta1 = d.beta1;
  o.beta2 = d.beta2;
  o.eps = d.eps;
  o.weightDecay = d.weightDecay;
  o.clip = d.clip;
  o.warmup = d.warmup;
  o.lrFinal = d.lrFinal;
  if (d.lrSchedule && !parseSchedule(d.lrSchedule, &o.lrSchedule))
    throw UsageError(format("the model's default lr schedule '%s' is not one of constant, "
                            "cosine, linear", d.lrSchedule));

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string name = arg, value;
    bool hasInlineValue = false;
    if (arg.rfind("--", 0) == 0) {
      size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        hasInlineValue = true;
      }
    } else {
      throw UsageError(format("unexpected argument '%s' (every argument is a --flag; see --help)",
                              arg.c_str()));
    }
    const FlagSpec *spec = findFlag(name);
    if (!spec) {
      const FlagSpec *best = nullptr;
      size_t bestDistance = 3;
      for (const FlagSpec &candidate : kFlags) {
        size_t dist = editDistance(name, candidate.name);
        if (dist < bestDistance) {
          bestDistance = dist;
          best = &candidate;
        }
      }
      if (best)
        throw UsageError(format("unknown flag '%s'; did you mean '%s'? (see --help)",
                                name.c_str(), best->name));
      throw UsageError(format("unknown flag '%s' (see --help)", name.c_str()));
    }
    if (spec->kind == Kind::flag) {
      if (hasInlineValue)
        throw UsageError(format("%s: expected no value, found '%s'", spec->name, value.c_str()));
    } else if (!hasInlineValue) {
      if (i + 1 >= argc)
        throw UsageError(format("%s: expected %s, found the end of the command line", spec->name,
                                expectedText(spec->kind)));
      value = argv[++i];
    }

    std::string n = spec->name;
    switch (spec->kind) {
    case Kind::flag:
      if (n == "--help") o.help = true;
      else if (n == "--describe") o.describe = true;
      else if (n == "--save-initial") o.saveInitial = true;
      break;
    case Kind::string:
      if (value.empty())
        throw UsageError(format("%s: expected %s, found an empty string", spec->name,
                                spec->valueName));
      if (n == "--data") o.data = value;
      else if (n == "--val") o.val = value;
      else if (n == "--ckpt-dir") o.ckptDir = value;
      else if (n == "--resume") o.resume = value;
      else if (n == "--log") o.logPath = value;
      else if (n == "--master-addr") o.masterAddr = value;
      break;
    case Kind::count:
    case Kind::positive: {
      int64_t v = parseInt(*spec, value, spec->kind == Kind::positive ? 1 : 0);
      if (n == "--steps") o.steps = v;
      else if (n == "--warmup") o.warmup = v;
      else if (n == "--ckpt-every") o.ckptEvery = v;
      else if (n == "--ckpt-keep") o.ckptKeep = v;
      else if (n == "--eval-every") o.evalEvery = v;
      else if (n == "--eval-batches") o.evalBatches = v;
      else if (n == "--gradcheck") o.gradcheck = v;
      else if (n == "--master-port") {
        if (v > 65535)
          badValue(*spec, value);
        o.masterPort = int(v);
      }
      else if (n == "--threads") {
        if (v > 4096)
          badValue(*spec, value);
        o.threads = int(v);
      }
      break;
    }
    case Kind::seed:
      o.seed = parseSeed(*spec, value);
      o.seedGiven = true;
      break;
    case Kind::real:
    case Kind::nonNegReal:
    case Kind::positiveReal:
    case Kind::fraction:
    case Kind::beta: {
      double v = parseReal(*spec, value);
      if (n == "--lr") o.lr = v;
      else if (n == "--lr-final") o.lrFinal = v;
      else if (n == "--beta1") o.beta1 = v;
      else if (n == "--beta2") o.beta2 = v;
      else if (n == "--eps") o.eps = v;
      else if (n == "--weight-decay") o.weightDecay = v;
      else if (n == "--clip") o.clip = v;
      else if (n == "--collective-timeout") {
        if (v > 1e7) // 115 days: surely a unit mix-up (milliseconds for seconds)
          throw UsageError(format("--collective-timeout: expected at most 1e7 seconds, found "
                                  "'%s'", value.c_str()));
        o.collectiveTimeout = v;
      }
      break;
    }
    case Kind::schedule:
      if (!parseSchedule(value, &o.lrSchedule))
        badValue(*spec, value);
      break;
    case Kind::nonFinite:
      if (value == "stop") o.onNonFinite = OnNonFinite::stop;
      else if (value == "skip") o.onNonFinite = OnNonFinite::skip;
      else badValue(*spec, value);
      break;
    case Kind::onOff:
      if (value == "on") o.shuffle = true;
      else if (value == "off") o.shuffle = false;
      else badValue(*spec, value);
      o.shuffleGiven = true;
      break;
    case Kind::endOfData:
      if (value == "wrap") o.endOfData = EndOfData::wrap;
      else if (value == "stop") o.endOfData = EndOfData::stop;
      else badValue(*spec, value);
      break;
    }
  }

  if (o.help || o.describe)
    return o;
  // What a training run needs, and combinations that cannot mean anything.
  if (o.data.empty())
    throw UsageError("--data: required to train (a glob of token shards, e.g. "
                     "--data 'data/train_*.bin')");
  if (o.steps < 0 && o.gradcheck == 0)
    throw UsageError("--steps: required to train (the number of optimizer steps)");
  if (o.resume == "latest" && o.ckptDir.empty())
    throw UsageError("--resume latest: needs --ckpt-dir to look in");
  if (o.ckptEvery > 0 && o.ckptDir.empty())
    throw UsageError("--ckpt-every: needs --ckpt-dir");
  if (o.ckptKeep > 0 && o.ckptDir.empty())
    throw UsageError("--ckpt-keep: needs --ckpt-dir");
  if (o.saveInitial && o.ckptDir.empty())
    throw UsageError("--save-initial: needs --ckpt-dir");
  if (o.saveInitial && !o.resume.empty())
    throw UsageError("--save-initial: cannot be combined with --resume (the initial weights are "
                     "those of a fresh run)");
  if (o.evalEvery > 0 && o.val.empty())
    throw UsageError("--eval-every: needs --val");
  return o;
}

} // namespace ingot::rt
