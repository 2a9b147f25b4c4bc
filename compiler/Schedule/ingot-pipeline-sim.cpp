//===- ingot-pipeline-sim.cpp - Simulate a schedule on given stage times --===//
//
// ingot-pipeline-sim --schedule=1f1b --stages=4 --microbatches=8 [--chunks=v]
//                    [--forward=F --backward-input=B --backward-weight=W --transfer=T]
//                    [--trace=FILE]
//
// Runs the programs pipeline-schedule builds on uniform stages (every stage takes F, B and W
// seconds per micro-batch, split evenly over its chunks) and prints the simulated step time and
// bubble as one JSON object. The schedule tests compare these with the formulas of
// BENCHMARKS.md; people use it to see what P, M and v cost before compiling a model.
//
//===----------------------------------------------------------------------===//
#include "compiler/Schedule/Report.h"
#include "compiler/Schedule/Schedule.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/WithColor.h"

namespace cl = llvm::cl;
using namespace ingot::sched;

static cl::OptionCategory category("ingot-pipeline-sim options");
static cl::opt<std::string> scheduleName("schedule", cl::desc("gpipe | 1f1b | interleaved | zb-h1"),
                                         cl::init("1f1b"), cl::cat(category));
static cl::opt<int64_t> stages("stages", cl::desc("Pipeline stages P"), cl::init(4),
                               cl::cat(category));
static cl::opt<int64_t> microbatches("microbatches", cl::desc("Micro-batches M"), cl::init(8),
                                     cl::cat(category));
static cl::opt<int64_t> chunks("chunks", cl::desc("Chunks per stage v (interleaved)"),
                               cl::init(1), cl::cat(category));
static cl::opt<double> forward("forward", cl::desc("F: seconds of one micro-batch's forward "
                                                   "on one stage"),
                               cl::init(1.0), cl::cat(category));
static cl::opt<double> backwardInput("backward-input", cl::desc("B: input-gradient seconds"),
                                     cl::init(1.0), cl::cat(category));
static cl::opt<double> backwardWeight("backward-weight", cl::desc("W: weight-gradient seconds"),
                                      cl::init(1.0), cl::cat(category));
static cl::opt<double> transfer("transfer", cl::desc("Seconds to move one activation or "
                                                     "gradient between stages"),
                                cl::init(0.0), cl::cat(category));
static cl::opt<std::string> traceFile("trace", cl::desc("Also write the Chrome trace here"),
                                      cl::value_desc("file"), cl::cat(category));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  if (!cl::ParseCommandLineOptions(argc, argv, "Pipeline schedule simulator\n", &llvm::errs()))
    return 1;
  auto fail = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "ingot-pipeline-sim") << message << "\n";
    return 1;
  };
  std::optional<Kind> kind = parseKind(scheduleName);
  if (!kind)
    return fail("--schedule must be gpipe, 1f1b, interleaved or zb-h1, found '" + scheduleName +
                "'");
  if (!(forward >= 0 && backwardInput >= 0 && backwardWeight >= 0 && transfer >= 0))
    return fail("times must not be negative");
  Layout layout{*kind, stages, chunks, microbatches};
  std::string problem = checkLayout(layout);
  if (!problem.empty())
    return fail(problem);

  double v = static_cast<double>(chunks);
  PlanSummary plan;
  plan.layout = layout;
  for (int64_t c = 0; c < layout.numChunks(); ++c) {
    plan.costs.push_back({forward / v, backwardInput / v, backwardWeight / v, transfer, 0});
    plan.chunkLabels.push_back("uniform");
  }
  plan.stageStaticBytes.assign(stages, 0);
  plan.stageWorkspaceBytes.assign(stages, 0);
  std::string error;
  std::optional<Timeline> timeline =
      simulate(layout, buildPrograms(layout), plan.costs, error);
  if (!timeline)
    return fail(error);

  if (!traceFile.empty()) {
    std::error_code ec;
    llvm::raw_fd_ostream out(traceFile, ec);
    if (ec)
      return fail("cannot write '" + traceFile + "': " + ec.message());
    writeChromeTrace(plan, *timeline, {}, out);
  }
  double meanBusy = 0;
  for (double b : timeline->busy)
    meanBusy += b / static_cast<double>(stages);
  llvm::json::OStream j(llvm::outs());
  j.object([&] {
    j.attribute("schedule", kindName(*kind));
    j.attribute("stages", static_cast<int64_t>(stages));
    j.attribute("microbatches", static_cast<int64_t>(microbatches));
    j.attribute("chunks", static_cast<int64_t>(chunks));
    j.attribute("forward", static_cast<double>(forward));
    j.attribute("backward_input", static_cast<double>(backwardInput));
    j.attribute("backward_weight", static_cast<double>(backwardWeight));
    j.attribute("step_time", timeline->stepTime);
    j.attribute("bubble_time", timeline->stepTime - meanBusy);
    j.attribute("bubble_fraction", timeline->bubbleFraction());
    j.attributeArray("peak_in_flight", [&] {
      for (int64_t n : timeline->peakInFlight)
        j.value(n);
    });
  });
  llvm::outs() << "\n";
  return 0;
}
