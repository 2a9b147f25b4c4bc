//===- Report.cpp - The schedule as a table and a Chrome trace ------------===//
#include "compiler/Schedule/Report.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>

using namespace ingot::sched;

namespace {

const char *shortName(StepKind k) {
  switch (k) {
  case StepKind::GradReduce:
    return "AR";
  case StepKind::Optimizer:
    return "AdamW";
  case StepKind::Forward:
    return "F";
  case StepKind::Backward:
    return "BW";
  case StepKind::BackwardInput:
    return "B";
  case StepKind::BackwardWeight:
    return "W";
  }
  return "?";
}

std::string msText(double seconds) { return llvm::formatv("{0:f3}", seconds * 1e3).str(); }

} // namespace

std::string ingot::sched::formatBytes(double bytes) {
  const char *units[] = {"GiB", "MiB", "KiB"};
  for (int i = 0; i < 3; ++i) {
    double unit = double(int64_t(1) << (30 - 10 * i));
    if (bytes >= unit)
      return llvm::formatv("{0:f2} {1}", bytes / unit, units[i]).str();
  }
  return llvm::formatv("{0} bytes", static_cast<int64_t>(bytes)).str();
}

double ingot::sched::stageMemoryBytes(const PlanSummary &plan, const Timeline &timeline,
                                      int64_t s) {
  return plan.stageStaticBytes[s] + timeline.peakActivationBytes[s] + plan.stageWorkspaceBytes[s];
}

void ingot::sched::writeTable(const PlanSummary &plan, const Timeline &timeline,
                              llvm::raw_ostream &os) {
  const Layout &l = plan.layout;
  os << llvm::formatv("schedule {0}: {1} stage{2} x {3} chunk{4}, {5} micro-batch{6}, data "
                      "parallel {7} ({8} ranks)\n",
                      kindName(l.kind), l.stages, l.stages == 1 ? "" : "s", l.chunksPerStage,
                      l.chunksPerStage == 1 ? "" : "s", l.microbatches,
                      l.microbatches == 1 ? "" : "es", plan.data, l.stages * plan.data);
  os << llvm::formatv("{0,5}  {1,-34} {2,9} {3,9} {4,9} {5,9} {6,7} {7,9} {8,11}\n", "stage",
                      "chunks", "F ms", "B ms", "W ms", "busy ms", "idle %", "in flight",
                      "memory");
  for (int64_t s = 0; s < l.stages; ++s) {
    double f = 0, b = 0, w = 0;
    std::string chunks;
    for (int64_t c = s; c < l.numChunks(); c += l.stages) {
      f += plan.costs[c].forward;
      b += plan.costs[c].backwardInput;
      w += plan.costs[c].backwardWeight;
      chunks += (chunks.empty() ? "" : "; ") + llvm::formatv("{0}: ", c).str() +
                plan.chunkLabels[c];
    }
    double idle = timeline.stepTime > 0 ? 1 - timeline.busy[s] / timeline.stepTime : 0;
    os << llvm::formatv("{0,5}  {1,-34} {2,9} {3,9} {4,9} {5,9} {6,7:f1} {7,9} {8,11}\n", s,
                        chunks, msText(f), msText(b), msText(w), msText(timeline.busy[s]),
                        idle * 100, timeline.peakInFlight[s],
                        formatBytes(stageMemoryBytes(plan, timeline, s)));
  }
  // The formula of ../BENCHMARKS.md, evaluated on the slowest stage, for comparison.
  double f = 0, b = 0, w = 0;
  for (int64_t s = 0; s < l.stages; ++s) {
    double fs = 0, bs = 0, ws = 0;
    for (int64_t c = s; c < l.numChunks(); c += l.stages) {
      fs += plan.costs[c].forward;
      bs += plan.costs[c].backwardInput;
      ws += plan.costs[c].backwardWeight;
    }
    if (fs + bs + ws > f + b + w)
      f = fs, b = bs, w = ws;
  }
  double formula = formulaBubble(l, f, b, w);
  double formulaStep = l.microbatches * (f + b + w) + formula;
  os << llvm::formatv("predicted step {0} ms, bubble {1:f1}% of the step (the uniform-stage "
                      "formula on the slowest stage: {2} ms, {3:f1}%)\n",
                      msText(timeline.stepTime), timeline.bubbleFraction() * 100,
                      msText(formulaStep), formulaStep > 0 ? formula / formulaStep * 100 : 0);
}

void ingot::sched::writeChromeTrace(const PlanSummary &plan, const Timeline &timeline,
                                    llvm::ArrayRef<int64_t> ranks, llvm::raw_ostream &os) {
  const Layout &l = plan.layout;
  llvm::json::OStream j(os, /*IndentSize=*/0);
  struct Track {
    int64_t tid, stage;
    std::string name;
  };
  std::vector<Track> tracks;
  if (ranks.empty()) {
    for (int64_t s = 0; s < l.stages; ++s)
      tracks.push_back({s, s,
                        llvm::formatv("stage {0} ({1} replica{2})", s, plan.data,
                                      plan.data == 1 ? "" : "s")
                            .str()});
  } else {
    for (int64_t r : ranks) {
      int64_t stage = r / plan.data, replica = r % plan.data;
      tracks.push_back({r, stage,
                        llvm::formatv("rank {0} (node {1}, device {2}, stage {3}, replica {4})",
                                      r, r / plan.devicesPerNode, r % plan.devicesPerNode,
                                      stage, replica)
                            .str()});
    }
  }
  j.object([&] {
    j.attribute("displayTimeUnit", "ms");
    j.attributeObject("otherData", [&] {
      j.attribute("schedule", kindName(l.kind));
      j.attribute("stages", l.stages);
      j.attribute("chunks_per_stage", l.chunksPerStage);
      j.attribute("microbatches", l.microbatches);
      j.attribute("data", plan.data);
      j.attribute("step_us", timeline.stepTime * 1e6);
      j.attribute("bubble_fraction", timeline.bubbleFraction());
    });
    j.attributeArray("traceEvents", [&] {
      j.object([&] {
        j.attribute("name", "process_name");
        j.attribute("ph", "M");
        j.attribute("pid", 0);
        j.attributeObject("args", [&] {
          j.attribute("name", llvm::formatv("ingot {0} schedule", kindName(l.kind)).str());
        });
      });
      auto event = [&](const Event &e, int64_t tid) {
        j.object([&] {
          std::string name;
          if (e.step.kind == StepKind::Optimizer)
            name = shortName(e.step.kind);
          else if (e.step.kind == StepKind::GradReduce)
            name = llvm::formatv("{0} c{1}", shortName(e.step.kind), e.step.chunk).str();
          else
            name = llvm::formatv("{0}{1} c{2}", shortName(e.step.kind), e.step.microbatch,
                                 e.step.chunk)
                       .str();
          j.attribute("name", name);
          j.attribute("cat", stepKindName(e.step.kind));
          j.attribute("ph", "X");
          j.attribute("pid", 0);
          j.attribute("tid", tid);
          j.attribute("ts", e.start * 1e6);
          j.attribute("dur", (e.end - e.start) * 1e6);
          j.attributeObject("args", [&] {
            if (e.step.microbatch >= 0)
              j.attribute("microbatch", e.step.microbatch);
            j.attribute("chunk", e.step.chunk);
          });
        });
      };
      auto thread = [&](int64_t tid, const std::string &name, int64_t sortIndex) {
        j.object([&] {
          j.attribute("name", "thread_name");
          j.attribute("ph", "M");
          j.attribute("pid", 0);
          j.attribute("tid", tid);
          j.attributeObject("args", [&] { j.attribute("name", name); });
        });
        j.object([&] {
          j.attribute("name", "thread_sort_index");
          j.attribute("ph", "M");
          j.attribute("pid", 0);
          j.attribute("tid", tid);
          j.attributeObject("args", [&] { j.attribute("sort_index", sortIndex); });
        });
      };
      // Gradient all-reduces overlap compute on their own stream: a track of their own, right
      // below the compute track, with an id past every compute track's.
      const int64_t commOffset = ranks.empty() ? l.stages : l.stages * plan.data;
      for (const Track &track : tracks) {
        thread(track.tid, track.name, 2 * track.tid);
        for (const Event &e : timeline.stages[track.stage])
          event(e, track.tid);
        if (timeline.comms[track.stage].empty())
          continue;
        thread(track.tid + commOffset, track.name + " collectives", 2 * track.tid + 1);
        for (const Event &e : timeline.comms[track.stage])
          event(e, track.tid + commOffset);
      }
    });
  });
  os << "\n";
}
