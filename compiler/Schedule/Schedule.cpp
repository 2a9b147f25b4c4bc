//===- Schedule.cpp - Static pipeline schedules and their simulation ------===//
//
// The step orders follow the published schedules:
//   GPipe        all forwards, then all backwards (Huang et al. 2019).
//   1F1B         stage s runs P - s - 1 warm-up forwards, then alternates one forward and one
//                backward, then drains the backwards (PipeDream-Flush, Narayanan et al. 2021).
//   interleaved  1F1B over v chunks per stage in Megatron-LM's order: micro-batches in groups
//                of P, each group through one chunk before the next; warm-up
//                2 (P - s - 1) + (v - 1) P forwards (Narayanan et al. 2021).
//   ZB-H1        1F1B with the backward split into B (input gradient, on the critical path)
//                and W (weight gradient); stage s runs W of micro-batch j after B of
//                micro-batch j + s, so the W passes that later stages postpone fill the
//                drain at the end while B passes travel back without waiting (Qi et al. 2023).
// The simulator is the judge of all of them: it runs the orders on the predicted times and
// reports the step time and bubble, or the deadlock if an order could never finish.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/Schedule.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <numeric>

using namespace ingot::sched;

std::optional<Kind> ingot::sched::parseKind(llvm::StringRef name) {
  if (name == "gpipe")
    return Kind::GPipe;
  if (name == "1f1b")
    return Kind::OneFOneB;
  if (name == "interleaved")
    return Kind::Interleaved;
  if (name == "zb-h1")
    return Kind::ZeroBubbleH1;
  return std::nullopt;
}

const char *ingot::sched::kindName(Kind kind) {
  switch (kind) {
  case Kind::GPipe:
    return "gpipe";
  case Kind::OneFOneB:
    return "1f1b";
  case Kind::Interleaved:
    return "interleaved";
  case Kind::ZeroBubbleH1:
    return "zb-h1";
  }
  return "?";
}

std::string ingot::sched::checkLayout(const Layout &l) {
  if (l.stages < 1 || l.microbatches < 1 || l.chunksPerStage < 1)
    return llvm::formatv("stages ({0}), microbatches ({1}) and chunks ({2}) must be at least 1",
                         l.stages, l.microbatches, l.chunksPerStage)
        .str();
  if (l.chunksPerStage > 1 && l.kind != Kind::Interleaved)
    return llvm::formatv("chunks = {0} needs schedule \"interleaved\", found \"{1}\"",
                         l.chunksPerStage, kindName(l.kind))
        .str();
  if (l.kind != Kind::GPipe && l.microbatches < l.stages)
    return llvm::formatv("schedule \"{0}\" needs at least as many micro-batches as stages: "
                         "microbatches = {1} < stages = {2}",
                         kindName(l.kind), l.microbatches, l.stages)
        .str();
  // Megatron's interleaved order sends groups of P micro-batches through one chunk at a time.
  if (l.kind == Kind::Interleaved && l.microbatches % l.stages != 0)
    return llvm::formatv("schedule \"interleaved\" runs micro-batches in groups of the stage "
                         "count: microbatches = {0} is not a multiple of stages = {1}",
                         l.microbatches, l.stages)
        .str();
  return "";
}

namespace {

Step step(StepKind kind, int64_t microbatch, int64_t chunk) {
  return {kind, static_cast<int32_t>(microbatch), static_cast<int32_t>(chunk)};
}

std::vector<Step> gpipe(const Layout &l, int64_t s) {
  std::vector<Step> out;
  for (int64_t k = 0; k < l.microbatches; ++k)
    out.push_back(step(StepKind::Forward, k, s));
  for (int64_t k = 0; k < l.microbatches; ++k)
    out.push_back(step(StepKind::Backward, k, s));
  return out;
}

/// 1F1B; with `split`, ZB-H1: B and W separate, W of micro-batch j after B of j + s.
std::vector<Step> oneFOneB(const Layout &l, int64_t s, bool split) {
  std::vector<Step> out;
  int64_t m = l.microbatches;
  int64_t warmup = std::min(l.stages - s - 1, m);
  int64_t nextForward = 0, nextBackward = 0, nextWeight = 0;
  int64_t delay = s;
  auto backward = [&] {
    if (!split) {
      out.push_back(step(StepKind::Backward, nextBackward++, s));
      return;
    }
    out.push_back(step(StepKind::BackwardInput, nextBackward++, s));
    if (nextBackward - 1 - nextWeight >= delay)
      out.push_back(step(StepKind::BackwardWeight, nextWeight++, s));
  };
  for (int64_t i = 0; i < warmup; ++i)
    out.push_back(step(StepKind::Forward, nextForward++, s));
  while (nextForward < m) {
    out.push_back(step(StepKind::Forward, nextForward++, s));
    backward();
  }
  while (nextBackward < m)
    backward();
  while (split && nextWeight < m)
    out.push_back(step(StepKind::BackwardWeight, nextWeight++, s));
  return out;
}

/// Megatron-LM's interleaved 1F1B (forward_backward_pipelining_with_interleaving).
std::vector<Step> interleaved(const Layout &l, int64_t s) {
  int64_t p = l.stages, v = l.chunksPerStage, m = l.microbatches;
  int64_t total = m * v;
  auto microbatchOf = [&](int64_t i) { return (i / (p * v)) * p + i % p; };
  auto forwardChunk = [&](int64_t i) { return ((i % (p * v)) / p) * p + s; };
  auto backwardChunk = [&](int64_t i) { return (v - 1 - (i % (p * v)) / p) * p + s; };
  int64_t warmup = std::min((p - s - 1) * 2 + (v - 1) * p, total);
  std::vector<Step> out;
  int64_t f = 0, b = 0;
  for (; f < warmup; ++f)
    out.push_back(step(StepKind::Forward, microbatchOf(f), forwardChunk(f)));
  for (; f < total; ++f, ++b) {
    out.push_back(step(StepKind::Forward, microbatchOf(f), forwardChunk(f)));
    out.push_back(step(StepKind::Backward, microbatchOf(b), backwardChunk(b)));
  }
  for (; b < total; ++b)
    out.push_back(step(StepKind::Backward, microbatchOf(b), backwardChunk(b)));
  return out;
}

} // namespace

const char *ingot::sched::stepKindName(StepKind k) {
  switch (k) {
  case StepKind::Forward:
    return "forward";
  case StepKind::Backward:
    return "backward";
  case StepKind::BackwardInput:
    return "backward_input";
  case StepKind::BackwardWeight:
    return "backward_weight";
  case StepKind::GradReduce:
    return "gradient_all_reduce";
  case StepKind::Optimizer:
    return "optimizer";
  }
  return "?";
}

std::vector<std::vector<Step>> ingot::sched::buildPrograms(const Layout &l) {
  std::vector<std::vector<Step>> programs;
  for (int64_t s = 0; s < l.stages; ++s) {
    switch (l.kind) {
    case Kind::GPipe:
      programs.push_back(gpipe(l, s));
      break;
    case Kind::OneFOneB:
      programs.push_back(oneFOneB(l, s, /*split=*/false));
      break;
    case Kind::ZeroBubbleH1:
      programs.push_back(oneFOneB(l, s, /*split=*/true));
      break;
    case Kind::Interleaved:
      programs.push_back(interleaved(l, s));
      break;
    }
  }
  return programs;
}

double Timeline::bubbleFraction() const {
  if (stepTime <= 0 || busy.empty())
    return 0;
  double mean = std::accumulate(busy.begin(), busy.end(), 0.0) / busy.size();
  return 1.0 - mean / stepTime;
}

std::optional<Timeline> ingot::sched::simulate(const Layout &l,
                                               const std::vector<std::vector<Step>> &programs,
                                               const std::vector<ChunkCost> &costs,
                                               std::string &error) {
  const int64_t p = l.stages, m = l.microbatches, chunks = l.numChunks();
  if (static_cast<int64_t>(programs.size()) != p ||
      static_cast<int64_t>(costs.size()) != chunks) {
    error = llvm::formatv("internal error: {0} programs and {1} chunk costs for {2} stages and "
                          "{3} chunks",
                          programs.size(), costs.size(), p, chunks)
                .str();
    return std::nullopt;
  }
  const double unknown = -1;
  // End of F, and the time the input gradient of (chunk, micro-batch) is computed.
  std::vector<double> forwardEnd(chunks * m, unknown), gradEnd(chunks * m, unknown);
  auto at = [&](int64_t chunk, int64_t k) { return chunk * m + k; };
  auto stageOf = [&](int64_t chunk) { return chunk % p; };

  Timeline t;
  t.stages.resize(p);
  t.busy.assign(p, 0);
  t.peakActivationBytes.assign(p, 0);
  t.peakInFlight.assign(p, 0);
  std::vector<double> clock(p, 0), liveBytes(p, 0);
  std::vector<int64_t> inFlight(p, 0);
  std::vector<size_t> next(p, 0);
  size_t remaining = 0;
  for (const auto &program : programs)
    remaining += program.size();

  while (remaining > 0) {
    bool progressed = false;
    for (int64_t s = 0; s < p; ++s) {
      const auto &program = programs[s];
      while (next[s] < program.size()) {
        const Step &st = program[next[s]];
        int64_t c = st.chunk, k = st.microbatch;
        if (c < 0 || c >= chunks || k < 0 || k >= m || stageOf(c) != s) {
          error = llvm::formatv("stage {0} runs micro-batch {1} on chunk {2}, which is not one "
                                "of its steps",
                                s, k, c)
                      .str();
          return std::nullopt;
        }
        const ChunkCost &cost = costs[c];
        double ready = 0, duration = 0;
        bool blocked = false;
        switch (st.kind) {
        case StepKind::Forward:
          if (c > 0) {
            double prev = forwardEnd[at(c - 1, k)];
            blocked = prev == unknown;
            ready = prev + (stageOf(c - 1) != s ? costs[c - 1].transfer : 0);
          }
          duration = cost.forward;
          break;
        case StepKind::Backward:
        case StepKind::BackwardInput: {
          double own = forwardEnd[at(c, k)];
          blocked = own == unknown;
          ready = own;
          if (c + 1 < chunks) {
            double after = gradEnd[at(c + 1, k)];
            blocked |= after == unknown;
            ready = std::max(ready, after + (stageOf(c + 1) != s ? cost.transfer : 0));
          }
          duration = cost.backwardInput +
                     (st.kind == StepKind::Backward ? cost.backwardWeight : 0);
          break;
        }
        case StepKind::BackwardWeight:
          ready = gradEnd[at(c, k)];
          blocked = ready == unknown;
          duration = cost.backwardWeight;
          break;
        case StepKind::GradReduce:
        case StepKind::Optimizer:
          error = llvm::formatv("stage {0}'s program names a {1} step; the simulator adds "
                                "those itself",
                                s, stepKindName(st.kind))
                      .str();
          return std::nullopt;
        }
        if (blocked)
          break;
        double start = std::max(clock[s], ready), end = start + duration;
        clock[s] = end;
        t.busy[s] += duration;
        t.stages[s].push_back({static_cast<int32_t>(s), st, start, end});
        if (st.kind == StepKind::Forward) {
          forwardEnd[at(c, k)] = end;
          liveBytes[s] += cost.activationBytes;
          ++inFlight[s];
          t.peakActivationBytes[s] = std::max(t.peakActivationBytes[s], liveBytes[s]);
          t.peakInFlight[s] = std::max(t.peakInFlight[s], inFlight[s]);
        } else if (st.kind != StepKind::BackwardWeight) {
          gradEnd[at(c, k)] = end;
        }
        if (st.kind == StepKind::Backward || st.kind == StepKind::BackwardWeight) {
          liveBytes[s] -= cost.activationBytes;
          --inFlight[s];
        }
        ++next[s];
        --remaining;
        progressed = true;
      }
    }
    if (!progressed) {
      std::string waits;
      for (int64_t s = 0; s < p; ++s) {
        if (next[s] >= programs[s].size())
          continue;
        const Step &st = programs[s][next[s]];
        waits += llvm::formatv("{0}stage {1} waits at the {2} of micro-batch {3} on chunk {4}",
                               waits.empty() ? "" : "; ", s, stepKindName(st.kind), st.microbatch,
                               st.chunk)
                     .str();
      }
      error = "the stage programs deadlock: " + waits;
      return std::nullopt;
    }
  }
  // After the compute: each chunk's gradient all-reduce, in the order the chunks' last backward
  // steps end, one at a time on the stage's communication stream; then the optimizer.
  t.comms.resize(p);
  for (int64_t s = 0; s < p; ++s) {
    std::vector<std::pair<double, int64_t>> ready; // (last backward end, chunk)
    for (int64_t c = s; c < chunks; c += p) {
      double last = 0;
      for (const Event &e : t.stages[s])
        if (e.step.chunk == c && e.step.kind != StepKind::Forward)
          last = std::max(last, e.end);
      ready.push_back({last, c});
    }
    std::sort(ready.begin(), ready.end());
    double comm = 0, optimizer = 0;
    for (auto [last, c] : ready) {
      optimizer += costs[c].optimizer;
      if (costs[c].gradReduce <= 0)
        continue;
      double start = std::max(comm, last);
      comm = start + costs[c].gradReduce;
      t.comms[s].push_back({static_cast<int32_t>(s),
                            {StepKind::GradReduce, -1, static_cast<int32_t>(c)}, start, comm});
    }
    if (optimizer > 0) {
      double start = std::max(comm, clock[s]);
      t.stages[s].push_back({static_cast<int32_t>(s),
                             {StepKind::Optimizer, -1, static_cast<int32_t>(s)}, start,
                             start + optimizer});
      t.busy[s] += optimizer;
    }
    double end = std::max(comm, t.stages[s].empty() ? 0.0 : t.stages[s].back().end);
    t.stepTime = std::max(t.stepTime, end);
  }
  return t;
}

double ingot::sched::formulaBubble(const Layout &l, double f, double b, double w) {
  double p1 = static_cast<double>(l.stages - 1);
  switch (l.kind) {
  case Kind::GPipe:
  case Kind::OneFOneB:
    return p1 * (f + b + w);
  case Kind::Interleaved:
    return p1 * (f + b + w) / static_cast<double>(l.chunksPerStage);
  case Kind::ZeroBubbleH1:
    return p1 * (f + b - w);
  }
  return 0;
}
