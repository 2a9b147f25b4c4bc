//===- ingotc.cpp - The Ingot compiler driver -----------------------------===//
//
// ingotc model.ingot [--target=host] [--emit=STAGE] [-o FILE] [--set NAME=VALUE]...
//
// Reads a model, checks it, lowers it, and prints the stage that --emit names, or, with a
// --target and no --emit, builds the training executable: the generated program compiled with
// the host C++ compiler and linked with libingot_rt. Every error names file:line:col with the
// source line and a caret; any error exits with status 1.
//
//===----------------------------------------------------------------------===//
#include "compiler/Target/Cuda/CudaEmitter.h"
#include "compiler/ClusterMap/ClusterMap.h"
#include "compiler/Schedule/Driver.h"
#include "compiler/Target/Host/HostEmitter.h"
#include "compiler/ingotc/MemoryFit.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Pipeline/PipelineOps.h"
#include "lang/MLIRGen.h"
#include "lang/Parser.h"
#include "lang/Sema.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/WithColor.h"

#include <map>

#ifndef INGOT_VERSION
#define INGOT_VERSION "dev"
#endif

namespace cl = llvm::cl;
using namespace ingot;

namespace {
enum class Emit { AST, Ingot, Train, Pipeline, Schedule, Planned, Host, Cuda, Exe };
enum class Target { None, Host, Cuda };

cl::OptionCategory category("ingotc options");
cl::opt<std::string> inputFile(cl::Positional, cl::desc("<model.ingot>"), cl::Required,
                               cl::cat(category));
cl::opt<std::string> outputFile("o", cl::desc("Output file (default: standard output)"),
                                cl::value_desc("file"), cl::init("-"), cl::cat(category));
cl::opt<Emit> emit(
    "emit", cl::desc("The stage to print (default: ingot, or exe with --target)"),
    cl::values(clEnumValN(Emit::AST, "ast", "the syntax tree"),
               clEnumValN(Emit::Ingot, "ingot", "the model in the ingot dialect (forward only)"),
               clEnumValN(Emit::Train, "train",
                          "the training step: unrolled blocks, autodiff, optimizer"),
               clEnumValN(Emit::Pipeline, "pipeline",
                          "the training step with its pipeline plan: stage programs and "
                          "collectives (needs --cluster)"),
               clEnumValN(Emit::Schedule, "schedule",
                          "the predicted timeline as Chrome trace JSON, its table on stderr "
                          "(needs --cluster)"),
               clEnumValN(Emit::Planned, "planned",
                          "the training step with its memory plan (arena offsets)"),
               clEnumValN(Emit::Host, "host", "the generated C++ of the host target"),
               clEnumValN(Emit::Cuda, "cuda", "the generated CUDA of the cuda target"),
               clEnumValN(Emit::Exe, "exe", "the training executable (needs --target)")),
    cl::cat(category));
cl::opt<Target> target("target", cl::desc("What the executable runs on"), cl::init(Target::None),
                       cl::values(clEnumValN(Target::Host, "host",
                                             "portable C++ with OpenMP (reference, CI)"),
                                  clEnumValN(Target::Cuda, "cuda",
                                             "one NVIDIA GPU (sm_90a): CUDA kernels and cuBLAS")),
                       cl::cat(category));
cl::opt<bool> useF64("f64", cl::desc("Host target in float64 (gradient checks; tests only)"),
                     cl::cat(category));
cl::opt<std::string> clusterFile(
    "cluster", cl::desc("The cluster map (JSON, runtime/schema/cluster.fbs): devices and layout"),
    cl::value_desc("map.json"), cl::cat(category));
cl::opt<bool> keepSource("keep-source",
                         cl::desc("Keep the generated source beside the executable (FILE.cpp, "
                                  "or FILE.cu for the cuda target)"),
                         cl::cat(category));
cl::list<std::string> overrides("set", cl::desc("Override a model constant: --set layers=24"),
                                cl::value_desc("name=value"), cl::cat(category));
cl::list<int64_t> traceRanks(
    "trace-ranks",
    cl::desc("--emit=schedule: one trace track per listed rank instead of one per stage"),
    cl::value_desc("r0,r1,..."), cl::CommaSeparated, cl::cat(category));
cl::opt<bool> noLocations("no-locations",
                          cl::desc("Print IR without its .ingot source locations"),
                          cl::cat(category));
cl::opt<bool> verifyDiagnostics(
    "verify-diagnostics",
    cl::desc("Check the errors against '// expected-error' comments in the input (tests)"),
    cl::cat(category));
} // namespace

static int printIR(mlir::ModuleOp module, llvm::raw_ostream &os) {
  mlir::OpPrintingFlags flags;
  if (!noLocations)
    flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false).useLocalScope();
  module.print(os, flags);
  os << "\n";
  return 0;
}

/// FNV-1a of the source and the overrides: a checkpoint is only loaded by a trainer compiled
/// from the same model.
static uint64_t sourceHash(llvm::SourceMgr &sourceMgr, llvm::ArrayRef<lang::ConstOverride> sets) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](llvm::StringRef bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(sourceMgr.getMemoryBuffer(sourceMgr.getMainFileID())->getBuffer());
  for (const lang::ConstOverride &o : sets) {
    mix("\n--set ");
    mix(o.name);
    mix("=");
    mix(o.value);
  }
  return h;
}

/// One line on stderr: the arena and its parts, the peak of the one stage.
static void reportMemory(mlir::ModuleOp module) {
  auto memory = module->getAttrOfType<mlir::DictionaryAttr>("ingot.memory");
  auto mib = [&](llvm::StringRef key) {
    return static_cast<double>(memory.getAs<mlir::IntegerAttr>(key).getInt()) / (1 << 20);
  };
  llvm::errs() << llvm::format("ingotc: memory plan, stage 0: arena %.2f MiB = parameters, "
                               "gradients and moments %.2f MiB + activations peak %.2f MiB\n",
                               mib("arena_bytes"), mib("persistent_bytes"),
                               std::max(mib("forward_backward_peak_bytes"),
                                        mib("forward_peak_bytes")));
}

/// Moves each stage's order of compute steps from the pipeline plan into the module attribute
/// `ingot.stage_programs` (per stage, (chunk, micro-batch, phase) triples: phase 0 forward, 1
/// backward, 2 input-gradient backward, 3 weight-gradient backward) that the host
/// emitter reads, and drops the plan: the trainer's transfers are derived from the ops' chunks.
static mlir::LogicalResult recordStagePrograms(mlir::ModuleOp module) {
  ingot::pipeline::PlanOp plan;
  module.walk([&](ingot::pipeline::PlanOp p) { plan = p; });
  if (!plan)
    return module.emitError("internal error: no pipeline.plan after planning the pipeline");
  std::vector<llvm::SmallVector<int64_t>> programs(plan.getStages());
  plan.walk([&](ingot::pipeline::ProgramOp program) {
    auto &steps = programs[program.getStage()];
    for (mlir::Operation &op : program.getBody().front()) {
      if (auto f = llvm::dyn_cast<ingot::pipeline::ForwardOp>(op))
        steps.append({int64_t(f.getChunk()), int64_t(f.getMicrobatch()), 0});
      else if (auto b = llvm::dyn_cast<ingot::pipeline::BackwardOp>(op))
        steps.append({int64_t(b.getChunk()), int64_t(b.getMicrobatch()), 1});
      else if (auto b = llvm::dyn_cast<ingot::pipeline::BackwardInputOp>(op))
        steps.append({int64_t(b.getChunk()), int64_t(b.getMicrobatch()), 2});
      else if (auto b = llvm::dyn_cast<ingot::pipeline::BackwardWeightOp>(op))
        steps.append({int64_t(b.getChunk()), int64_t(b.getMicrobatch()), 3});
    }
  });
  mlir::Builder b(module.getContext());
  llvm::SmallVector<mlir::Attribute> attrs;
  for (auto &steps : programs)
    attrs.push_back(b.getDenseI64ArrayAttr(steps));
  module->setAttr("ingot.stage_programs", b.getArrayAttr(attrs));
  plan.erase();
  return mlir::success();
}

/// ZB-H1 runs a chunk's backward as two steps: its input gradients (B), then, later, its weight
/// gradients (W). So that the one-rank memory plan keeps what W reads alive across B, each
/// chunk's weight-gradient ops (`ingot.grad = "weight"`) of @forward_backward move to right
/// after the chunk's last other backward op, in their order: the same ops and values (so the
/// same numbers), in the order the stages run them. Fails when an op of B uses a weight-gradient
/// op's result (the split would not be a valid order).
static mlir::LogicalResult splitBackwardOrder(mlir::ModuleOp module) {
  mlir::func::FuncOp fb = module.lookupSymbol<mlir::func::FuncOp>("forward_backward");
  if (!fb)
    return module.emitError("internal error: no @forward_backward to split for zb-h1");
  mlir::Block &body = fb.getBody().front();
  auto chunkOf = [](mlir::Operation *op) -> int64_t {
    auto c = op->getAttrOfType<mlir::IntegerAttr>("pipeline.chunk");
    return c ? c.getInt() : -1;
  };
  auto isWeight = [](mlir::Operation *op) {
    auto g = op->getAttrOfType<mlir::StringAttr>("ingot.grad");
    return g && g.getValue() == "weight";
  };
  bool backward = false;
  std::map<int64_t, mlir::Operation *> lastInput; // chunk -> its last backward op that is not W
  for (mlir::Operation &op : body) {
    backward |= op.hasAttr("ingot.grad");
    if (backward && !isWeight(&op) && !op.hasTrait<mlir::OpTrait::IsTerminator>())
      lastInput[chunkOf(&op)] = &op;
  }
  std::map<int64_t, llvm::SmallVector<mlir::Operation *>> moving;
  backward = false;
  for (mlir::Operation &op : body) {
    backward |= op.hasAttr("ingot.grad");
    if (!backward || !isWeight(&op))
      continue;
    auto last = lastInput.find(chunkOf(&op));
    if (last != lastInput.end() && op.isBeforeInBlock(last->second))
      moving[chunkOf(&op)].push_back(&op);
  }
  for (auto &[chunk, ops] : moving) {
    llvm::SmallPtrSet<mlir::Operation *, 16> moved(ops.begin(), ops.end());
    mlir::Operation *last = lastInput[chunk];
    for (mlir::Operation *op : ops)
      for (mlir::Operation *user : op->getUsers())
        if (!moved.contains(user) && !last->isBeforeInBlock(user))
          return user->emitError("zb-h1: this input-gradient op of chunk ")
                 << chunk << " uses a weight-gradient result (" << op->getName()
                 << "), so the chunk's backward cannot be split into B and W steps";
    mlir::Operation *after = last;
    for (mlir::Operation *op : ops) {
      op->moveAfter(after);
      after = op;
    }
  }
  return mlir::success();
}

static std::string generatedProgram;
/// Ranks of the layout (--cluster), for the link: multi-rank trainers link a Comm backend.
static int64_t layoutRanks = 1;

/// The stage to produce: --emit, or by default the IR (no --target) or the executable.
static Emit effectiveStage() {
  if (emit.getNumOccurrences())
    return emit.getValue();
  return target == Target::None ? Emit::Ingot : Emit::Exe;
}

/// Reads --cluster, applies its layout over the model's parallel section, and checks that the
/// layout fits the map and the model. Errors go to stderr; nullopt after any.
static std::optional<ingot::ClusterMap> readCluster(lang::ModelInfo &info) {
  auto fail = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "ingotc") << message << "\n";
    return std::nullopt;
  };
  auto buffer = llvm::MemoryBuffer::getFile(clusterFile, /*IsText=*/true);
  if (std::error_code ec = buffer.getError())
    return fail("cannot read the cluster map '" + clusterFile + "': " + ec.message());
  std::string errors;
  auto map = ingot::parseClusterMap((*buffer)->getBuffer(), clusterFile, errors);
  if (!map) {
    llvm::errs() << errors;
    return std::nullopt;
  }
  lang::ParallelConfig &p = info.parallel;
  std::string layout = ingot::checkLayout(*map, p.stages, p.data, p.microbatches, p.schedule,
                                          p.chunks);
  if (!layout.empty())
    return fail(clusterFile + ": " + layout);
  int64_t layers = 0;
  for (const lang::BlockInfo &b : info.blocks)
    layers += b.count;
  if (p.stages * p.chunks > std::max<int64_t>(layers, 1))
    return fail(llvm::formatv("{0}: {1} stages x {2} chunks need at least as many repeated "
                              "layers, but the model has {3}",
                              clusterFile, p.stages, p.chunks, layers)
                    .str());
  bool gpuTarget = target == Target::Cuda;
  if (target != Target::None && gpuTarget != (map->deviceKind == "gpu"))
    return fail(clusterFile + ": the map's devices are '" + map->deviceKind + "' but --target=" +
                (gpuTarget ? "cuda" : "host") + " needs " + (gpuTarget ? "'gpu'" : "'cpu'"));
  // A plan and its predicted schedule are made for any layout; only trainers are limited.
  if (effectiveStage() == Emit::Pipeline || effectiveStage() == Emit::Schedule)
    return map;
  // Pipeline trainers, on both targets (with any number of replicas per stage), under the
  // GPipe, 1F1B, interleaved (chunks >= 1 per stage) or ZB-H1 schedule. What the emitters
  // cannot cut into stages is refused there, at the op.
  if (p.stages > 1 && p.schedule != "gpipe" && p.schedule != "1f1b" &&
      p.schedule != "interleaved" && p.schedule != "zb-h1")
    return fail(llvm::formatv("{0}: pipeline parallelism (stages = {1}) is implemented for the "
                              "gpipe, 1f1b, interleaved and zb-h1 schedules; not implemented "
                              "yet: the {2} schedule",
                              clusterFile, p.stages, p.schedule)
                    .str());
  if (p.stages > 1 && target != Target::None && !INGOT_HAVE_MPI)
    return fail(llvm::formatv("{0}: stages = {1} needs MPI, but this ingotc was built where no "
                              "MPI was found (install libopenmpi-dev and rebuild)",
                              clusterFile, p.stages)
                    .str());
  if (p.data > 1 && target != Target::None && !INGOT_HAVE_MPI)
    return fail(llvm::formatv("{0}: data = {1} needs MPI, but this ingotc was built where no "
                              "MPI was found (install libopenmpi-dev and rebuild)",
                              clusterFile, p.data)
                    .str());
  layoutRanks = p.stages * p.data;
  return map;
}

static int compile(llvm::SourceMgr &sourceMgr, mlir::MLIRContext &context, llvm::raw_ostream &os) {
  std::vector<lang::ConstOverride> sets;
  for (const std::string &s : overrides) {
    auto [name, value] = llvm::StringRef(s).split('=');
    if (name.empty() || value.empty() || !llvm::StringRef(s).contains('=')) {
      llvm::WithColor::error(llvm::errs(), "ingotc")
          << "--set expects NAME=VALUE, found '" << s << "'\n";
      return 1;
    }
    sets.push_back({name.trim().str(), value.trim().str()});
  }

  lang::Diagnostics diags(sourceMgr, context);
  lang::Parser parser(diags, sourceMgr.getMainFileID());
  lang::Module module = parser.parseModule();
  if (diags.errorCount() > 0)
    return 1;
  if (effectiveStage() == Emit::AST) {
    lang::dumpAST(module, os);
    return 0;
  }
  lang::ModelInfo info;
  if (!lang::analyze(module, diags, sets, info))
    return 1;
  if (effectiveStage() >= Emit::Host && target == Target::None) {
    llvm::WithColor::error(llvm::errs(), "ingotc")
        << "--emit=host, --emit=cuda and --emit=exe need --target=host or --target=cuda\n";
    return 1;
  }
  std::optional<ingot::ClusterMap> cluster;
  if (!clusterFile.empty()) {
    cluster = readCluster(info);
    if (!cluster)
      return 1;
  }
  if ((effectiveStage() == Emit::Host && target != Target::Host) ||
      (effectiveStage() == Emit::Cuda && target != Target::Cuda)) {
    llvm::WithColor::error(llvm::errs(), "ingotc")
        << "--emit=" << (effectiveStage() == Emit::Host ? "host" : "cuda") << " needs --target="
        << (effectiveStage() == Emit::Host ? "host" : "cuda") << "\n";
    return 1;
  }
  mlir::OwningOpRef<mlir::ModuleOp> ir = lang::mlirGen(module, info, diags);
  if (!ir)
    return 1;
  Emit stage = effectiveStage();
  if (stage == Emit::Ingot)
    return printIR(*ir, os);

  // The training step, shared by every target.
  mlir::PassManager pm(&context);
  pm.addPass(ingot::createIngotUnrollBlocks());
  pm.addPass(ingot::createIngotAutodiff());
  pm.addPass(ingot::createIngotOptimizer());
  if (mlir::failed(pm.run(*ir)))
    return 1;
  if (stage == Emit::Train)
    return printIR(*ir, os);
  if (stage == Emit::Pipeline || stage == Emit::Schedule) {
    if (!cluster) {
      llvm::WithColor::error(llvm::errs(), "ingotc")
          << "--emit=pipeline and --emit=schedule need --cluster map.json: the plan is made for "
             "the map's devices and layout\n";
      return 1;
    }
    if (mlir::failed(ingot::planPipeline(*ir, *cluster)))
      return 1;
    if (stage == Emit::Pipeline)
      return printIR(*ir, os);
    std::string error = ingot::writeSchedule(*ir, traceRanks, os, llvm::errs());
    if (!error.empty()) {
      llvm::WithColor::error(llvm::errs(), "ingotc") << error << "\n";
      return 1;
    }
    return 0;
  }

  // Pipeline stages: partition and schedule as --emit=pipeline does; the emitters read each
  // stage's program (`ingot.stage_programs`) and cut @forward_backward by `pipeline.chunk`
  // (compiler/Target/PipelineSegments.h).
  if (cluster && layoutRanks > 1 && std::max<int64_t>(info.parallel.stages, 1) > 1) {
    if (mlir::failed(ingot::planPipeline(*ir, *cluster)))
      return 1;
    if (mlir::failed(recordStagePrograms(*ir)))
      return 1;
    if (info.parallel.schedule == "zb-h1" && mlir::failed(splitBackwardOrder(*ir)))
      return 1;
  }

  mlir::PassManager plan(&context);
  plan.addPass(ingot::createIngotPadSumsToConcat());
  // The cuda target stores activations as bf16 when the model's precision is bf16 (DESIGN.md,
  // Numerics); the host target computes and stores f32 (or f64) throughout.
  if (target == Target::Cuda && !useF64)
    plan.addPass(ingot::createIngotAssignStorage());
  // The cuda attention kernels read q, k, v and write dq, dk, dv with row strides: no copies.
  if (target == Target::Cuda)
    plan.addPass(ingot::createIngotAttentionViews());
  plan.addPass(ingot::createIngotPlanMemory({/*floatBytes=*/useF64 ? 8 : 4}));
  if (mlir::failed(plan.run(*ir)))
    return 1;
  reportMemory(*ir);
  if (cluster) {
    std::string fit = ingot::checkMemoryFit(*ir, cluster->deviceMemoryBytes, cluster->deviceModel);
    if (!fit.empty()) {
      llvm::WithColor::error(llvm::errs(), "ingotc") << clusterFile << ": " << fit << "\n";
      return 1;
    }
  }
  if (stage == Emit::Planned)
    return printIR(*ir, os);

  ingot::HostEmitOptions hostOptions;
  hostOptions.f64 = useF64;
  hostOptions.sourceName = inputFile;
  hostOptions.sourceHash = sourceHash(sourceMgr, sets);
  hostOptions.compilerVersion = INGOT_VERSION;
  if (cluster) { // the trainer refuses, at startup, a machine that does not match the map
    hostOptions.clusterName = cluster->name;
    hostOptions.deviceKind = cluster->deviceKind;
    hostOptions.deviceModel = cluster->deviceModel;
    hostOptions.nodes = cluster->nodes;
    hostOptions.devicesPerNode = cluster->devicesPerNode;
  }
  std::string program;
  llvm::raw_string_ostream programStream(program);
  if (mlir::failed(target == Target::Cuda
                       ? ingot::emitCudaProgram(*ir, hostOptions, programStream)
                       : ingot::emitHostProgram(*ir, hostOptions, programStream)))
    return 1;
  if (stage == Emit::Host || stage == Emit::Cuda) {
    os << program;
    return 0;
  }
  generatedProgram = std::move(program);
  return -1; // main builds the executable from it
}

/// Runs `args` (args[0] is the program), failing with the whole command line.
static bool runTool(llvm::StringRef what, llvm::ArrayRef<std::string> args) {
  llvm::SmallVector<llvm::StringRef> argRefs(args.begin(), args.end());
  std::string errorMessage;
  int rc = llvm::sys::ExecuteAndWait(args[0], argRefs, std::nullopt, {}, 0, 0, &errorMessage);
  if (rc == 0)
    return true;
  llvm::WithColor::error(llvm::errs(), "ingotc")
      << what << " failed (" << (errorMessage.empty() ? "exit " + std::to_string(rc) : errorMessage)
      << "): " << llvm::join(args, " ") << "\n";
  return false;
}

/// Compiles the generated program (the host C++ compiler; nvcc first for the cuda target) and
/// links libingot_rt, found beside this executable (../lib of the build tree or the install
/// prefix).
static int buildExecutable(const char *argv0, const std::string &program) {
  auto fail = [](const llvm::Twine &message) {
    llvm::WithColor::error(llvm::errs(), "ingotc") << message << "\n";
    return 1;
  };
  if (outputFile == "-")
    return fail("the executable needs a file name: -o FILE");
  const bool cuda = target == Target::Cuda;
  std::string self = llvm::sys::fs::getMainExecutable(argv0, (void *)&buildExecutable);
  llvm::SmallString<256> libDir(llvm::sys::path::parent_path(llvm::sys::path::parent_path(self)));
  llvm::sys::path::append(libDir, "lib");
  llvm::SmallString<256> rt(libDir), rtMain(libDir), rtCuda(libDir);
  llvm::sys::path::append(rt, "libingot_rt.a");
  llvm::sys::path::append(rtMain, "libingot_rt_main.a");
  llvm::sys::path::append(rtCuda, "libingot_rt_cuda.a");
  if (!llvm::sys::fs::exists(rt) || !llvm::sys::fs::exists(rtMain))
    return fail("cannot find libingot_rt.a and libingot_rt_main.a in '" + libDir +
                "' (build the ingot_rt and ingot_rt_main targets)");
  if (cuda && !llvm::sys::fs::exists(rtCuda))
    return fail("cannot find libingot_rt_cuda.a in '" + libDir +
                "': the cuda target needs Ingot built where nvcc was found (INGOT_NVCC)");

  std::string source = outputFile + (cuda ? ".cu" : ".cpp");
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(source, ec);
    if (ec)
      return fail("cannot write '" + source + "': " + ec.message());
    out << program;
  }
  const char *cxxEnv = std::getenv("INGOT_CXX");
  std::string cxx = cxxEnv && *cxxEnv ? cxxEnv : INGOT_CXX_COMPILER;
  auto cxxPath = llvm::sys::findProgramByName(cxx);
  if (!cxxPath)
    return fail("cannot find the C++ compiler '" + cxx + "' (set INGOT_CXX)");
  llvm::SmallVector<std::string> includes;
  for (llvm::StringRef dir : llvm::split(INGOT_RUNTIME_INCLUDE_DIRS, '|'))
    includes.push_back(("-I" + dir).str());

  llvm::SmallVector<std::string> link = {*cxxPath, "-std=c++17", "-O2", "-fopenmp", "-w"};
  std::string object = outputFile + ".o";
  if (cuda) {
    const char *nvccEnv = std::getenv("INGOT_NVCC");
    std::string nvcc = nvccEnv && *nvccEnv ? nvccEnv : INGOT_NVCC;
    auto nvccPath = llvm::sys::findProgramByName(nvcc);
    if (!nvccPath)
      return fail("cannot find nvcc '" + nvcc + "' (set INGOT_NVCC)");
    // --default-stream per-thread: the stream the step's CUDA graph is captured from, as
    // libingot_rt_cuda is compiled.
    llvm::SmallVector<std::string> compile = {*nvccPath, "-std=c++17", "-O2", "-arch=sm_90a",
                                              "--default-stream", "per-thread",
                                              "-ccbin", INGOT_CUDA_HOST_COMPILER, "-w"};
    compile.append(includes.begin(), includes.end());
    compile.append({"-c", source, "-o", object});
    if (!runTool("nvcc", compile))
      return 1;
    link.append({object, std::string(rtMain), std::string(rt), std::string(rtCuda),
                 "-L" INGOT_CUDA_LIB_DIR, "-Wl,-rpath," INGOT_CUDA_LIB_DIR, "-lcublasLt", "-lcublas",
                 "-lcudart", "-o", outputFile});
  } else {
    link.append(includes.begin(), includes.end());
    link.append({source, std::string(rtMain)});
    // Only multi-rank trainers link MPI (Comm.h): a one-rank trainer runs without it installed.
    if (layoutRanks > 1) {
      llvm::SmallString<256> rtMpi(libDir);
      llvm::sys::path::append(rtMpi, "libingot_rt_mpi.a");
      if (!llvm::sys::fs::exists(rtMpi))
        return fail("cannot find libingot_rt_mpi.a in '" + libDir +
                    "' (build the ingot_rt_mpi target; it needs MPI)");
      llvm::StringRef mpiLib = INGOT_MPI_LIBRARY;
      link.append({std::string(rtMpi), std::string(rt), mpiLib.str(),
                   ("-Wl,-rpath," + llvm::sys::path::parent_path(mpiLib)).str()});
    } else {
      link.push_back(std::string(rt));
    }
    link.append({"-o", outputFile});
  }
  // Multi-rank cuda trainers link the NCCL Comm, and MPI for its bootstrap under mpirun/srun.
  if (cuda && layoutRanks > 1) {
    llvm::SmallString<256> rtNccl(libDir), rtMpi(libDir);
    llvm::sys::path::append(rtNccl, "libingot_rt_nccl.a");
    llvm::sys::path::append(rtMpi, "libingot_rt_mpi.a");
    if (!llvm::sys::fs::exists(rtNccl) || !llvm::sys::fs::exists(rtMpi))
      return fail("cannot find libingot_rt_nccl.a and libingot_rt_mpi.a in '" + libDir +
                  "': multi-rank cuda trainers need Ingot built where nvcc, NCCL and MPI were "
                  "found");
    llvm::StringRef mpiLib = INGOT_MPI_LIBRARY;
    auto out = std::find(link.begin(), link.end(), std::string("-o"));
    link.insert(out, {std::string(rtNccl), std::string(rtMpi), std::string(rt), "-lnccl",
                      mpiLib.str(),
                      ("-Wl,-rpath," + llvm::sys::path::parent_path(mpiLib)).str()});
  }
  if (!runTool(cuda ? "linking the trainer" : "the host compiler", link))
    return 1;
  if (cuda)
    llvm::sys::fs::remove(object);
  if (!keepSource)
    llvm::sys::fs::remove(source);
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::SetVersionPrinter([](llvm::raw_ostream &os) { os << "ingotc " << INGOT_VERSION << "\n"; });
  cl::HideUnrelatedOptions(category);
  if (!cl::ParseCommandLineOptions(argc, argv, "Ingot: model description -> training executable\n",
                                   &llvm::errs()))
    return 1;

  auto buffer = llvm::MemoryBuffer::getFileOrSTDIN(inputFile, /*IsText=*/false);
  if (std::error_code ec = buffer.getError()) {
    llvm::WithColor::error(llvm::errs(), "ingotc")
        << "cannot read '" << inputFile << "': " << ec.message() << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(*buffer), llvm::SMLoc());

  mlir::MLIRContext context;
  lang::registerFrontendDialects(context);

  if (effectiveStage() == Emit::Exe) {
    // The executable is written by the host compiler, not through `output`.
    mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
    llvm::raw_null_ostream sink;
    int status = compile(sourceMgr, context, sink);
    if (status == -1)
      status = buildExecutable(argv[0], generatedProgram);
    return status;
  }
  std::string errorMessage;
  auto output = mlir::openOutputFile(outputFile, &errorMessage);
  if (!output) {
    llvm::WithColor::error(llvm::errs(), "ingotc") << errorMessage << "\n";
    return 1;
  }

  int status;
  if (verifyDiagnostics) {
    mlir::SourceMgrDiagnosticVerifierHandler handler(sourceMgr, &context);
    compile(sourceMgr, context, output->os());
    status = mlir::failed(handler.verify()) ? 1 : 0;
  } else {
    mlir::SourceMgrDiagnosticHandler handler(sourceMgr, &context);
    status = compile(sourceMgr, context, output->os());
  }
  if (status == 0)
    output->keep();
  return status;
}
