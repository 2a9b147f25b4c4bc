//===- Trainer.cpp - The training loop ------------------------------------===//
//
// One optimizer step:
//   zero the gradient region
//   for each micro-batch: the loader writes tokens and targets; forwardBackward(arena)
//   loss = mean of the micro-batch losses; lr from the schedule; optimizerStep(arena, scalars)
//   log; maybe evaluate; maybe checkpoint
// With D data-parallel replicas (P = 1), a step's global batch is the one a one-rank run with
// D * M micro-batches reads, in the same order: replica r trains on global micro-batches
// r*M .. r*M+M-1 (every replica reads all of them and keeps its own, so the loader position,
// and with it every checkpoint, is the same on every rank). The gradients are then summed over
// the replicas in ascending rank order (Comm.h), so every replica takes the same optimizer step.
// With P pipeline stages, each rank (world rank stage * D + replica) runs its stage's segments
// of its replica's step in its schedule's order (PipelineRunner); each gradient is then non-zero
// on one stage's replicas only, and the same sum over the world (zeros elsewhere) gives every
// rank the sum over the replicas in ascending order, so every rank takes the same step.
// Nothing here depends on state that a checkpoint does not hold (weights, moments, step, data
// position, seed), so a resumed run reproduces an uninterrupted one bit for bit.
//
//===----------------------------------------------------------------------===//
#include "Trainer.h"
#include "GradCheck.h"

#include "Checkpoint.h"
#include "ingot/rt/Comm.h"
#include "DataLoader.h"
#include "Error.h"
#include "Init.h"
#include "Log.h"
#include "ModelUtil.h"
#include "Pipeline.h"
#include "Startup.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <omp.h>
#include <vector>

namespace ingot::rt {

double learningRate(const Options &o, int64_t step, int64_t steps) {
  if (o.warmup > 0 && step <= o.warmup)
    return o.lr * double(step) / double(o.warmup);
  if (o.lrSchedule == LrSchedule::constant || steps <= o.warmup)
    return o.lr;
  // progress runs over (0, 1] from the first step after warmup to the last step.
  double progress = double(step - o.warmup) / double(steps - o.warmup);
  progress = std::min(1.0, std::max(0.0, progress));
  double lrMin = o.lr * o.lrFinal;
  if (o.lrSchedule == LrSchedule::cosine)
    return lrMin + (o.lr - lrMin) * 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.lr - (o.lr - lrMin) * progress;
}

namespace {

/// The one allocation of the run: 256-byte aligned and zeroed; on the device when the model
/// brings its own allocator (the cuda target).
class Arena {
public:
  Arena(const ModelDesc &model, uint64_t bytes) : free_(model.freeArena) {
    if (model.allocArena) {
      base_ = static_cast<char *>(model.allocArena(bytes));
      return;
    }
    uint64_t rounded = (std::max<uint64_t>(bytes, 1) + 255) / 256 * 256;
    base_ = static_cast<char *>(std::aligned_alloc(256, rounded));
    if (!base_)
      throw Error(kExitError, format("cannot allocate the model's arena of %llu bytes (%.2f GiB)",
                                     (unsigned long long)bytes, double(bytes) / (1 << 30)));
    std::memset(base_, 0, rounded);
  }
  ~Arena() {
    if (free_)
      free_(base_);
    else
      std::free(base_);
  }
  Arena(const Arena &) = delete;
  Arena &operator=(const Arena &) = delete;
  char *get() const { return base_; }

private:
  char *base_ = nullptr;
  void (*free_)(void *) = nullptr;
};

/// Where the loader writes a micro-batch: straight into a host arena, or into host staging that
/// upload() copies to a device arena.
class BatchSlots {
public:
  BatchSlots(const ModelDesc &model, char *arena) : model_(model), arena_(arena) {
    if (arenaOnDevice(model)) {
      staging_.resize(2 * model.microBatch * model.seqLen);
      tokens_ = staging_.data();
      targets_ = tokens_ + model.microBatch * model.seqLen;
    } else {
      tokens_ = reinterpret_cast<int32_t *>(arena + model.tokens.offset);
      targets_ = reinterpret_cast<int32_t *>(arena + model.targets.offset);
    }
  }
  int32_t *tokens() const { return tokens_; }
  int32_t *targets() const { return targets_; }
  void upload() {
    if (staging_.empty())
      return;
    writeArena(model_, arena_, model_.tokens.offset, tokens_, model_.tokens.bytes);
    writeArena(model_, arena_, model_.targets.offset, targets_, model_.targets.bytes);
  }

private:
  const ModelDesc &model_;
  char *arena_;
  std::vector<int32_t> staging_;
  int32_t *tokens_ = nullptr, *targets_ = nullptr;
};

/// The first parameter whose gradient holds a NaN or Inf, or null. Reads every gradient: called
/// only once a step has been found non-finite.
const ParamDesc *firstNonFiniteGradient(const ModelDesc &model, const char *arena) {
  std::vector<char> host;
  for (int i = 0; i < model.numParams; ++i) {
    const TensorDesc &g = model.params[i].grad;
    host.resize(g.bytes);
    readArena(model, arena, g.offset, host.data(), g.bytes);
    for (int64_t k = 0, n = g.numel(); k < n; ++k) {
      bool finite = true;
      if (g.dtype == DType::f32) {
        float x;
        std::memcpy(&x, host.data() + 4 * k, 4);
        finite = std::isfinite(x);
      } else if (g.dtype == DType::f64) {
        double x;
        std::memcpy(&x, host.data() + 8 * k, 8);
        finite = std::isfinite(x);
      } else if (g.dtype == DType::bf16) {
        uint16_t x;
        std::memcpy(&x, host.data() + 2 * k, 2);
        finite = (x & 0x7F80u) != 0x7F80u; // exponent all ones: Inf or NaN
      }
      if (!finite)
        return &model.params[i];
    }
  }
  return nullptr;
}

/// Test hook INGOT_INJECT_NAN="STEP:PARAM" (e.g. "3:wte"): after the forward/backward passes of
/// step STEP, the first element of PARAM's gradient becomes NaN. test/e2e/nonfinite.test uses it.
struct NanInjection {
  int64_t step = -1;
  const ParamDesc *param = nullptr;
};

NanInjection parseNanInjection(const ModelDesc &model) {
  NanInjection out;
  const char *env = std::getenv("INGOT_INJECT_NAN");
  if (!env || !*env)
    return out;
  std::string spec = env;
  size_t colon = spec.find(':');
  char *end = nullptr;
  long long step = colon == std::string::npos ? -1 : std::strtoll(spec.c_str(), &end, 10);
  if (colon == std::string::npos || end != spec.c_str() + colon || step < 1)
    throw UsageError(format("INGOT_INJECT_NAN: expected STEP:PARAM, found '%s'", env));
  std::string name = spec.substr(colon + 1);
  for (int i = 0; i < model.numParams; ++i)
    if (name == model.params[i].value.name)
      out.param = &model.params[i];
  if (!out.param)
    throw UsageError(format("INGOT_INJECT_NAN: this model has no parameter '%s'", name.c_str()));
  out.step = step;
  return out;
}

void injectNan(const ModelDesc &model, char *arena, const TensorDesc &g) {
  if (g.dtype == DType::f32) {
    float x = std::nanf("");
    writeArena(model, arena, g.offset, &x, sizeof(x));
  } else if (g.dtype == DType::f64) {
    double x = std::nan("");
    writeArena(model, arena, g.offset, &x, sizeof(x));
  } else if (g.dtype == DType::bf16) {
    uint16_t x = 0x7FC0;
    writeArena(model, arena, g.offset, &x, sizeof(x));
  }
}

/// The layout this trainer was compiled for and the Comm that carries it.
struct Parallel {
  int stages = 1, replicas = 1, replica = 0, stage = 0;
  Comm *comm = nullptr;
  bool multiRank() const { return comm && comm->size() > 1; }
  bool leader() const { return !comm || comm->rank() == 0; }
};

/// The Comm of this run: the one-rank Comm, or the backend the generated code names. argc/argv
/// are runTrainer's copies (MPI_Init may read them).
std::unique_ptr<Comm> startComm(const ModelDesc &model, const Options &o, int *argc,
                                char ***argv) {
  const int stages = std::max(model.stages, 1), replicas = std::max(model.dataParallel, 1);
  if (stages * replicas == 1)
    return makeSingleComm();
  if (stages > 1 && !model.pipeline)
    throw Error(kExitError, format("this trainer was compiled for %d pipeline stages x %d "
                                   "replicas but has no stage programs (a bug in ingotc; please "
                                   "report it)", stages, replicas));
  if (!model.makeComm)
    throw Error(kExitError, format("the compiled model has %d ranks but no Comm backend (a bug "
                                   "in ingotc; please report it)", stages * replicas));
  CommOptions options;
  options.ranks = stages * replicas;
  options.timeoutSeconds = o.collectiveTimeout;
  options.argc = argc;
  options.argv = argv;
  options.masterAddr = o.masterAddr;
  options.masterPort = o.masterPort;
  std::unique_ptr<Comm> comm = model.makeComm(options);
  comm->setTimeout(o.collectiveTimeout);
  return comm;
}

/// Sums the gradient region over the data-parallel replicas, in buckets of at most
/// kGradientBucketBytes so that no message is huge and a timeout names the part that stalled.
/// Padding between gradients is zero on every rank, so it sums to zero.
constexpr uint64_t kGradientBucketBytes = 4u << 20;

void reduceGradients(const ModelDesc &model, char *arena, Comm &comm, int64_t step) {
  const DType dtype = model.params[0].grad.dtype;
  const uint64_t element = dtypeBytes(dtype);
  const uint64_t buckets = (model.gradsBytes + kGradientBucketBytes - 1) / kGradientBucketBytes;
  for (uint64_t b = 0; b < buckets; ++b) {
    uint64_t begin = b * kGradientBucketBytes;
    uint64_t bytes = std::min(kGradientBucketBytes, model.gradsBytes - begin);
    std::string what = format("all-reduce of gradient bucket %llu of %llu (bytes %llu..%llu of "
                              "the gradients), step %lld", (unsigned long long)b,
                              (unsigned long long)buckets, (unsigned long long)begin,
                              (unsigned long long)(begin + bytes), (long long)step);
    char *data = arena + model.gradsOffset + begin;
    if (dtype == DType::f32)
      comm.allReduceSum(reinterpret_cast<float *>(data), bytes / element, comm.world(), what);
    else if (dtype == DType::f64)
      comm.allReduceSum(reinterpret_cast<double *>(data), bytes / element, comm.world(), what);
    else
      throw Error(kExitError, format("data parallelism needs f32 or f64 gradients, found %s",
                                     dtypeName(dtype)));
  }
}

/// The mean loss of the global batch from each replica's micro-batch losses, summed in global
/// micro-batch order: the same additions, in the same order, as a one-rank run's.
double globalMeanLoss(const std::vector<double> &mine, const Parallel &par, int64_t step) {
  const size_t perReplica = mine.size();
  std::vector<double> all(perReplica * size_t(par.replicas), 0.0);
  for (size_t k = 0; k < perReplica; ++k)
    all[size_t(par.replica) * perReplica + k] = mine[k];
  if (par.multiRank()) // each slot is one replica's loss plus zeros: exact
    par.comm->allReduceSum(all.data(), all.size(), par.comm->world(),
                           format("all-reduce of the micro-batch losses, step %lld",
                                  (long long)step));
  double sum = 0;
  for (double x : all)
    sum += x;
  return sum / double(all.size());
}

double evaluate(const ModelDesc &model, char *arena, DataLoader &val, int64_t batches) {
  val.reset();
  BatchSlots slots(model, arena);
  double sum = 0;
  for (int64_t b = 0; b < batches; ++b) {
    val.next(slots.tokens(), slots.targets());
    slots.upload();
    model.forward(arena);
    sum += readLoss(model, arena);
  }
  return sum / double(batches);
}

/// A resumed run continues its checkpoint's data order from its position, over the same data:
/// a --shuffle or --seed that contradicts the checkpoint is refused (it would silently change
/// which batches come next), and so are --data files whose token counts differ.
void restoreDataState(const Options &o, TrainState &state, DataLoader &data,
                      const std::string &checkpoint) {
  if (o.shuffleGiven && o.shuffle != state.dataOrder.shuffle)
    throw UsageError(format("--shuffle %s: the checkpoint %s was written by a run with --shuffle "
                            "%s, and a resumed run continues its data order (leave out --shuffle, "
                            "or start a new run)", o.shuffle ? "on" : "off", checkpoint.c_str(),
                            state.dataOrder.shuffle ? "on" : "off"));
  if (o.seedGiven && o.seed != state.seed)
    throw UsageError(format("--seed %llu: the checkpoint %s was written by a run with --seed "
                            "%llu, and a resumed run continues its data order (leave out --seed, "
                            "or start a new run)", (unsigned long long)o.seed, checkpoint.c_str(),
                            (unsigned long long)state.seed));
  const std::vector<Shard> &shards = data.shards();
  std::vector<int64_t> tokens;
  for (const Shard &s : shards)
    tokens.push_back(s.tokens);
  if (!state.shardTokens.empty() && state.shardTokens != tokens) {
    std::string what;
    if (state.shardTokens.size() != tokens.size())
      what = format("it read %zu --data file(s), --data now matches %zu", state.shardTokens.size(),
                    tokens.size());
    for (size_t i = 0; what.empty(); ++i)
      if (state.shardTokens[i] != tokens[i])
        what = format("--data file %zu (%s) has %lld tokens, the run that wrote it read %lld", i,
                      shards[i].path.c_str(), (long long)tokens[i],
                      (long long)state.shardTokens[i]);
    throw CheckpointError(format("checkpoint %s: the training data changed since it was written: "
                                 "%s (an exact resume needs the same files)",
                                 checkpoint.c_str(), what.c_str()));
  }
  state.shardTokens = tokens;
  data.setOrder(state.dataOrder);
  try {
    data.setPosition(state.data);
  } catch (const DataError &e) {
    throw CheckpointError(format("checkpoint %s: %s", checkpoint.c_str(), e.what()));
  }
}

int train(const ModelDesc &model, int argc, char **argv, std::unique_ptr<Comm> &commOut) {
  std::string inconsistent = checkModelDesc(model);
  if (!inconsistent.empty())
    throw Error(kExitError, format("the compiled model description is inconsistent: %s (a bug in "
                                   "ingotc; please report it)", inconsistent.c_str()));
  Options o = parseFlags(model, argc, argv);
  if (o.help) {
    std::fputs(usageText(model, argc > 0 ? argv[0] : nullptr).c_str(), stdout);
    return kExitOk;
  }
  if (o.describe) {
    std::printf("%s\n", model.manifestJson);
    return kExitOk;
  }
  // The machine against the manifest (rank count, GPU count, model, memory, driver), before
  // any work: nothing is read, allocated or written on a machine the trainer was not built for.
  checkStartup(model);
  if (o.threads > 0)
    omp_set_num_threads(o.threads);
  if (o.gradcheck > 0 && std::max(model.stages, 1) * std::max(model.dataParallel, 1) > 1)
    throw Error(kExitUsage, "--gradcheck runs in one-rank trainers only");
  commOut = startComm(model, o, &argc, &argv);
  Parallel par;
  par.comm = commOut.get();
  par.stages = std::max(model.stages, 1);
  par.replicas = std::max(model.dataParallel, 1);
  par.replica = par.comm->rank() % par.replicas;
  par.stage = par.comm->rank() / par.replicas;

  const int64_t B = model.microBatch, T = model.seqLen;
  DataLoader trainData(o.data, "--data", B, T, model.vocab, DataOrder{o.shuffle, o.seed});
  std::unique_ptr<DataLoader> valData;
  int64_t evalBatches = 0;
  if (!o.val.empty()) {
    valData = std::make_unique<DataLoader>(o.val, "--val", B, T, model.vocab);
    evalBatches = std::min(o.evalBatches, valData->batchesPerEpoch());
  }

  if (o.gradcheck > 0 && arenaOnDevice(model))
    throw Error(kExitUsage, "--gradcheck runs on the host target only (compile with --target=host "
                            "--f64)");
  Arena arena(model, model.arenaBytes);
  char *base = arena.get();
  if (o.gradcheck > 0) {
    initParameters(model, base, o.seed);
    trainData.next(reinterpret_cast<int32_t *>(base + model.tokens.offset),
                   reinterpret_cast<int32_t *>(base + model.targets.offset));
    return checkGradient(model, base, o.gradcheck, o.seed) ? kExitOk : kExitError;
  }
  TrainState state;
  state.seed = o.seed;
  state.dataOrder = trainData.order();
  for (const Shard &s : trainData.shards())
    state.shardTokens.push_back(s.tokens);
  std::string resumedFrom;
  if (!o.resume.empty()) {
    resumedFrom = o.resume;
    if (o.resume == "latest") {
      if (par.leader())
        resumedFrom = findLatestCheckpoint(o.ckptDir);
      if (par.multiRank()) { // rank 0's choice, so that every replica loads the same step
        uint64_t length = resumedFrom.size();
        par.comm->broadcast(&length, sizeof(length), 0, par.comm->world(),
                            "broadcast of the --resume latest checkpoint's name");
        resumedFrom.resize(length);
        par.comm->broadcast(resumedFrom.data(), length, 0, par.comm->world(),
                            "broadcast of the --resume latest checkpoint's name");
      }
      if (resumedFrom.empty())
        throw CheckpointError(format("--resume latest: no complete checkpoint (step_NNNNNNNN/) "
                                     "in --ckpt-dir %s", o.ckptDir.c_str()));
    }
    state = loadCheckpoint(model, base, resumedFrom);
    restoreDataState(o, state, trainData, resumedFrom);
  } else {
    initParameters(model, base, o.seed);
  }

  // Rank 0 speaks for the job: the other ranks' logs would be the same lines.
  std::unique_ptr<FILE, int (*)(FILE *)> quiet(nullptr, fclose);
  if (!par.leader()) {
    quiet.reset(std::fopen("/dev/null", "w"));
    if (!quiet)
      throw Error(kExitError, "cannot open /dev/null");
  }
  Logger log(par.leader() ? o.logPath : std::string(), /*append=*/!o.resume.empty(),
             par.leader() ? stdout : quiet.get());
  const int64_t tokensStep = tokensPerStep(model) * par.replicas;
  int64_t trainTokens = 0;
  for (const Shard &s : trainData.shards())
    trainTokens += s.tokens;
  log.message("model %s (%s, %s) | %lld parameters | B %lld x T %lld x %lld micro-batches%s = "
              "%lld tokens/step", model.name, model.target, dtypeName(model.computeType),
              (long long)parameterCount(model), (long long)B, (long long)T,
              (long long)model.microbatches,
              par.replicas > 1 ? format(" x %d replicas", par.replicas).c_str() : "",
              (long long)tokensStep);
  log.message("data %s: %zu shard(s), %lld tokens%s | lr %.2e %s, warmup %lld | threads %d",
              o.data.c_str(), trainData.shards().size(), (long long)trainTokens,
              valData ? format(" | val %s: %lld batches per eval", o.val.c_str(),
                               (long long)evalBatches).c_str() : "",
              o.lr, lrScheduleName(o.lrSchedule), (long long)o.warmup, omp_get_max_threads());
  if (par.multiRank() && par.stages > 1)
    log.message("layout: %d pipeline stages%s, %s schedule x %lld micro-batches (%s, %d ranks) "
                "| collective timeout %g s", par.stages,
                par.replicas > 1 ? format(" x %d data-parallel replicas", par.replicas).c_str()
                                 : "",
                model.pipeline->schedule, (long long)model.microbatches, par.comm->backend(),
                par.comm->size(), o.collectiveTimeout);
  else if (par.multiRank())
    log.message("layout: %d data-parallel replicas x %lld micro-batches (%s, %d ranks) | "
                "collective timeout %g s", par.replicas, (long long)model.microbatches,
                par.comm->backend(), par.comm->size(), o.collectiveTimeout);
  if (!resumedFrom.empty())
    log.message("resumed from %s at step %lld (data shard %lld, token %lld, epoch %lld)",
                resumedFrom.c_str(), (long long)state.step, (long long)state.data.shard,
                (long long)state.data.offset, (long long)state.data.epoch);
  if (trainData.order().shuffle)
    log.message("data order: shuffled with seed %llu (%lld batches per epoch)",
                (unsigned long long)trainData.order().seed,
                (long long)trainData.batchesPerEpoch());
  // Every save also clears what crashed saves left behind (never a complete checkpoint).
  auto checkpoint = [&](const char *note) {
    // Rank 0 writes the one copy (the replicas' weights are identical); the others wait.
    std::string barrier = format("barrier while rank 0 saves the checkpoint of step %lld",
                                 (long long)state.step);
    if (!par.leader()) {
      par.comm->barrier(par.comm->world(), barrier);
      return;
    }
    std::string path = saveCheckpoint(model, base, o.ckptDir, state);
    for (const std::string &stale : removeStaleTemporaries(o.ckptDir))
      log.message("removed %s, left by a save that did not finish", stale.c_str());
    if (o.ckptKeep > 0)
      pruneCheckpoints(o.ckptDir, o.ckptKeep);
    log.message("checkpoint %s%s", path.c_str(), note);
    if (par.multiRank())
      par.comm->barrier(par.comm->world(), barrier);
  };
  if (o.saveInitial) {
    state.data = trainData.position();
    checkpoint(" (the initial weights)");
  }
  if (state.step >= o.steps) {
    if (resumedFrom.empty())
      log.message("nothing to do: --steps is %lld", (long long)o.steps);
    else
      log.message("nothing to do: the checkpoint is at step %lld and --steps is %lld",
                  (long long)state.step, (long long)o.steps);
    return kExitOk;
  }

  const NanInjection inject = parseNanInjection(model);
  int64_t skippedSteps = state.skippedSteps; // since step 1, across resumes
  // Batches one optimizer step reads from the training data.
  const int64_t batchesPerStep = model.microbatches * par.replicas;
  int64_t lastSaved = resumedFrom.empty() && !o.saveInitial ? -1 : state.step;
  BatchSlots slots(model, base);
  // The other replicas' micro-batches are read (to keep one loader position) into these.
  std::vector<int32_t> othersTokens, othersTargets;
  if (par.replicas > 1) {
    othersTokens.resize(size_t(model.microBatch * model.seqLen));
    othersTargets.resize(othersTokens.size());
  }
  std::vector<double> microLosses(size_t(model.microbatches));
  // Pipeline stages: every stage reads its replica's micro-batches of the step (the first needs
  // the tokens, the last the targets, and the loader position stays the one-rank run's on every
  // rank).
  std::unique_ptr<PipelineRunner> pipeline;
  std::vector<std::vector<int32_t>> stepTokens, stepTargets;
  if (par.stages > 1) {
    pipeline = std::make_unique<PipelineRunner>(model, *par.comm, par.stage, par.replica,
                                                par.replicas);
    stepTokens.assign(size_t(model.microbatches),
                      std::vector<int32_t>(size_t(model.microBatch * model.seqLen)));
    stepTargets = stepTokens;
  }
  log.start(state.step + 1, o.steps);
  for (int64_t step = state.step + 1; step <= o.steps; ++step) {
    // --end-of-data=stop: the data is read at most once. The first step that would need a
    // batch of a second pass is not taken; the run ends here, cleanly, with a checkpoint.
    if (o.endOfData == EndOfData::stop &&
        (trainData.position().epoch > 0 || trainData.batchesLeftInEpoch() < batchesPerStep)) {
      log.message("end of data: the %lld batch(es) of one pass over --data are used up after "
                  "step %lld (step %lld needs %lld more); stopping (--end-of-data=stop)",
                  (long long)trainData.batchesPerEpoch(), (long long)(step - 1), (long long)step,
                  (long long)batchesPerStep);
      if (!o.ckptDir.empty() && lastSaved != step - 1) {
        state.step = step - 1;
        state.data = trainData.position();
        state.skippedSteps = skippedSteps;
        checkpoint("");
      }
      break;
    }
    const int64_t epochBefore = trainData.position().epoch;
    double t0 = nowSeconds();
    par.comm->setContext(par.stage, step);
    zeroArena(model, base, model.gradsOffset, model.gradsBytes);
    if (pipeline) {
      // Replica r's pipeline takes global micro-batches r*M .. r*M+M-1, as without stages.
      for (int64_t global = 0; global < model.microbatches * par.replicas; ++global) {
        if (global / model.microbatches != par.replica) {
          trainData.next(othersTokens.data(), othersTargets.data());
          continue;
        }
        const size_t m = size_t(global % model.microbatches);
        trainData.next(stepTokens[m].data(), stepTargets[m].data());
      }
      pipeline->step(base, stepTokens, stepTargets, microLosses);
    }
    for (int64_t global = 0; !pipeline && global < model.microbatches * par.replicas; ++global) {
      if (global / model.microbatches != par.replica) {
        trainData.next(othersTokens.data(), othersTargets.data());
        continue;
      }
      trainData.next(slots.tokens(), slots.targets());
      slots.upload();
      model.forwardBackward(base);
      microLosses[size_t(global % model.microbatches)] = readLoss(model, base);
    }
    double loss = globalMeanLoss(microLosses, par, step);
    if (step == inject.step)
      injectNan(model, base, inject.param->grad);
    if (par.multiRank())
      reduceGradients(model, base, *par.comm, step);

    StepScalars scalars;
    std::memset(&scalars, 0, sizeof(scalars));
    scalars.lr = learningRate(o, step, o.steps);
    scalars.beta1 = o.beta1;
    scalars.beta2 = o.beta2;
    scalars.eps = o.eps;
    scalars.weightDecay = o.weightDecay;
    scalars.clip = o.clip;
    scalars.step = step;
    // A non-finite loss skips the optimizer altogether; a non-finite gradient makes it return
    // before the update (scalars.nonFinite). Only then are the gradients scanned.
    bool lossFinite = std::isfinite(loss);
    if (lossFinite)
      model.optimizerStep(base, &scalars);
    bool skipped = false;
    bool nonFinite = !lossFinite || scalars.nonFinite || !std::isfinite(scalars.gradNorm);
    // Every replica holds the same gradients, so they agree; checked, because a replica that
    // updated while another skipped would silently fork the weights.
    if (par.multiRank() &&
        par.comm->anyTrue(nonFinite, par.comm->world(),
                          format("agreement on the non-finite check, step %lld",
                                 (long long)step)) != nonFinite)
      throw CommError(format("rank %d: step %lld: the replicas disagree on whether the step is "
                             "non-finite (this rank: %s); their gradients differ (a bug)",
                             par.comm->rank(), (long long)step, nonFinite ? "yes" : "no"));
    if (nonFinite) {
      std::string what;
      if (!lossFinite) {
        what = format("step %lld: the loss is %g (non-finite)", (long long)step, loss);
      } else {
        const ParamDesc *bad = firstNonFiniteGradient(model, base);
        what = format("step %lld: the gradient norm is %g (non-finite); %s", (long long)step,
                      scalars.gradNorm,
                      bad ? format("the first parameter with a non-finite gradient is '%s'",
                                   bad->value.name).c_str()
                          : "every parameter's gradient is finite");
      }
      if (o.onNonFinite == OnNonFinite::stop)
        throw Error(kExitNonFinite, what + "; stopping before the update");
      log.message("%s; skipping the update (--on-nonfinite=skip)", what.c_str());
      skipped = true;
      ++skippedSteps;
    }
    double seconds = nowSeconds() - t0;

    StepRecord record;
    record.step = step;
    record.steps = o.steps;
    record.loss = loss;
    record.gradNorm = scalars.gradNorm;
    record.lr = scalars.lr;
    record.ms = seconds * 1e3;
    record.tokensPerSecond = seconds > 0 ? double(tokensStep) / seconds : 0;
    record.skipped = skipped;
    bool evalNow = valData && evalBatches > 0 &&
                   ((o.evalEvery > 0 && step % o.evalEvery == 0) || step == o.steps);
    if (evalNow) {
      record.hasVal = true;
      record.valLoss = evaluate(model, base, *valData, evalBatches);
    }
    log.step(record);
    if (o.endOfData == EndOfData::wrap && trainData.position().epoch != epochBefore)
      log.message("data: epoch %lld begins after step %lld%s", (long long)trainData.position().epoch,
                  (long long)step, trainData.order().shuffle ? " (reshuffled)" : "");

    bool ckptNow = !o.ckptDir.empty() &&
                   ((o.ckptEvery > 0 && step % o.ckptEvery == 0) || step == o.steps);
    if (ckptNow) {
      state.step = step;
      state.data = trainData.position();
      state.skippedSteps = skippedSteps;
      checkpoint("");
      lastSaved = step;
    }
  }
  if (o.onNonFinite == OnNonFinite::skip || skippedSteps > 0)
    log.message("skipped %lld step(s) with non-finite values (--on-nonfinite=skip)",
                (long long)skippedSteps);
  return kExitOk;
}

} // namespace

/// After an error on a rank of a multi-rank job, ends every rank (the others would otherwise
/// wait for this one until their collective timeout); else returns the status.
static int finish(std::unique_ptr<Comm> &comm, int status) {
  if (comm && comm->size() > 1)
    comm->abortJob(status);
  return status;
}

int runTrainer(const ModelDesc &model, int argc, char **argv) {
  std::unique_ptr<Comm> comm;
  try {
    return train(model, argc, argv, comm);
  } catch (const CommError &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return finish(comm, kExitComm);
  } catch (const Error &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s%s\n",
                 comm && comm->size() > 1 ? format("rank %d: ", comm->rank()).c_str() : "",
                 e.what());
    return finish(comm, e.exitCode());
  } catch (const std::bad_alloc &) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: out of memory\n");
    return finish(comm, kExitError);
  } catch (const std::exception &e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: internal error: %s\n", e.what());
    return finish(comm, kExitError);
  }
}

} // namespace ingot::rt
