//===- EmitCommon.cpp - What the host and cuda emitters share -------------===//
#include "compiler/Target/EmitCommon.h"
#include "compiler/Transforms/Passes.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace ingot;
using namespace ingot::codegen;

RankedTensorType codegen::typeOf(Value v) { return llvm::cast<RankedTensorType>(v.getType()); }

int64_t codegen::product(ArrayRef<int64_t> dims) {
  int64_t n = 1;
  for (int64_t d : dims)
    n *= d;
  return n;
}

std::string codegen::list(ArrayRef<int64_t> values) {
  std::string s = "{";
  for (size_t i = 0; i < values.size(); ++i)
    s += (i ? ", " : "") + std::to_string(values[i]);
  return s + "}";
}

std::string codegen::number(double v) { return llvm::formatv("{0:e17}", v).str(); }

SmallVector<int64_t> codegen::broadcastStrides(ArrayRef<int64_t> shape, ArrayRef<int64_t> out) {
  SmallVector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  int64_t lead = out.size() - shape.size();
  for (int64_t d = shape.size() - 1; d >= 0; --d) {
    strides[d + lead] = shape[d] == out[d + lead] ? stride : 0;
    stride *= shape[d];
  }
  return strides;
}

std::string codegen::locationComment(Location loc) {
  if (auto file = llvm::dyn_cast<FileLineColLoc>(loc))
    return llvm::formatv("{0}:{1}:{2}", llvm::sys::path::filename(file.getFilename().getValue()),
                         file.getLine(), file.getColumn())
        .str();
  return "";
}

std::string codegen::cxxString(StringRef s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n\"\n\"";
      continue;
    }
    out += c;
  }
  return out;
}

FailureOr<MatmulGeometry> codegen::matmulGeometry(MatmulOp m, StringRef target) {
  auto a = typeOf(m.getLhs()).getShape(), b = typeOf(m.getRhs()).getShape();
  auto c = typeOf(m.getResult()).getShape();
  MatmulGeometry g;
  g.transA = m.getTransposeLhs();
  g.transB = m.getTransposeRhs();
  g.rows = c[c.size() - 2];
  g.cols = c.back();
  g.k = g.transA ? a[a.size() - 2] : a.back();
  ArrayRef<int64_t> batchC = c.drop_back(2);
  g.batch = product(batchC);
  g.strideA = g.strideB = 0;
  g.strideC = c[c.size() - 2] * g.cols;
  if (b.size() == 2 && !g.transA) { // a weight shared by the batch: fold the batch into rows
    g.rows *= g.batch;
    g.batch = 1;
    return g;
  }
  auto partial = [&]() -> FailureOr<MatmulGeometry> {
    return m->emitError("the " + target + " target cannot broadcast matmul batch dimensions "
                        "partially");
  };
  if (a.size() > 2) {
    if (a.drop_back(2) != batchC)
      return partial();
    g.strideA = a[a.size() - 2] * a.back();
  }
  if (b.size() > 2) {
    if (b.drop_back(2) != batchC)
      return partial();
    g.strideB = b[b.size() - 2] * b.back();
  }
  return g;
}

AxisSplit codegen::around(ArrayRef<int64_t> shape, int64_t axis) {
  return {product(shape.take_front(axis)), shape[axis], product(shape.drop_front(axis + 1))};
}

FailureOr<AxisSplit> codegen::reductionSplit(Operation *op, ArrayRef<int64_t> x,
                                          SmallVector<int64_t> axes, StringRef target) {
  llvm::sort(axes);
  for (size_t i = 1; i < axes.size(); ++i)
    if (axes[i] != axes[i - 1] + 1)
      return op->emitError("the " + target + " target reduces over consecutive axes only");
  if (axes.empty())
    return AxisSplit{1, 1, product(x)};
  return AxisSplit{product(x.take_front(axes.front())), product(x.slice(axes.front(), axes.size())),
                   product(x.drop_front(axes.back() + 1))};
}

LogicalResult ArenaPlan::read(ModuleOp module, int64_t floatBytes, StringRef target) {
  memory = module->getAttrOfType<DictionaryAttr>("ingot.memory");
  forwardBackward = module.lookupSymbol<func::FuncOp>("forward_backward");
  forward = module.lookupSymbol<func::FuncOp>("forward");
  optimizerStep = module.lookupSymbol<func::FuncOp>("optimizer_step");
  if (!memory || !forwardBackward || !forward || !optimizerStep)
    return module.emitError("the " + target +
                            " emitter needs the training step, the optimizer step and "
                            "the memory plan (ingot-autodiff, ingot-optimizer, ingot-plan-memory)");
  if (memory.getAs<IntegerAttr>("float_bytes").getInt() != floatBytes)
    return module.emitError("the memory plan was made for another float size");
  this->floatBytes = floatBytes;
  llvm::append_range(inputOffsets, memory.getAs<DenseI64ArrayAttr>("input_offsets").asArrayRef());
  lossOffset = memory.getAs<IntegerAttr>("loss_offset").getInt();
  for (ParamOp p : module.getOps<ParamOp>())
    params[p.getSymName()] = p;
  return success();
}

int64_t ArenaPlan::offset(Value v) const {
  if (auto arg = llvm::dyn_cast<BlockArgument>(v))
    return inputOffsets[arg.getArgNumber()];
  auto offsets = v.getDefiningOp()->getAttrOfType<DenseI64ArrayAttr>("ingot.offsets");
  return offsets[llvm::cast<OpResult>(v).getResultNumber()];
}

int64_t ArenaPlan::bytes(Value v) const {
  RankedTensorType t = typeOf(v);
  return t.getNumElements() * (storedAsBf16(v) ? 2 : elementBytes(t.getElementType(), floatBytes));
}

int64_t ArenaPlan::paramOffset(ParamOp p, StringRef key) {
  return p->getAttrOfType<IntegerAttr>(key).getInt();
}

void codegen::emitModelDesc(ModuleOp module, const TargetEmitOptions &options, const ArenaPlan &plan,
                         StringRef target, int64_t arenaBytes, StringRef backendHooks,
                         raw_ostream &os) {
  auto memory = plan.memory;
  auto train = module->getAttrOfType<DictionaryAttr>("ingot.train");
  auto parallel = module->getAttrOfType<DictionaryAttr>("ingot.parallel");
  auto mem = [&](StringRef key) { return memory.getAs<IntegerAttr>(key).getInt(); };
  auto tf = [&](StringRef key) { return number(train.getAs<FloatAttr>(key).getValueAsDouble()); };
  const char *dtype = options.f64 ? "ingot::rt::DType::f64" : "ingot::rt::DType::f32";
  int64_t floatBytes = options.f64 ? 8 : 4;

  auto tensor = [&](StringRef name, const char *dt, ArrayRef<int64_t> shape, int64_t off,
                    int64_t elementBytes) {
    SmallVector<int64_t> padded(shape);
    padded.resize(6, 0);
    return llvm::formatv("{\"{0}\", {1}, {2}, {3}, {4}u, {5}u}", name, dt, shape.size(),
                         list(padded), off, product(shape) * elementBytes)
        .str();
  };

  os << "const ingot::rt::ParamDesc kParams[] = {\n";
  for (ParamOp p : module.getOps<ParamOp>()) {
    auto shape = p.getTensorType().getShape();
    auto off = [&](StringRef key) { return ArenaPlan::paramOffset(p, key); };
    std::string name = p.getSymName().str();
    ArrayRef<double> args = p.getInitArgs();
    os << "    {" << tensor(name, dtype, shape, off("ingot.offset"), floatBytes) << ",\n     "
       << tensor(name + ".grad", dtype, shape, off("ingot.grad_offset"), floatBytes) << ",\n     "
       << tensor(name + ".m", dtype, shape, off("ingot.m_offset"), floatBytes) << ",\n     "
       << tensor(name + ".v", dtype, shape, off("ingot.v_offset"), floatBytes) << ",\n     {\""
       << p.getInit() << "\", {" << number(args.size() > 0 ? args[0] : 0) << ", "
       << number(args.size() > 1 ? args[1] : 0) << "}}, "
       << (shape.size() >= 2 ? "true" : "false") << "},\n";
  }
  os << "};\n\n";

  func::FuncOp fwd = plan.forward;
  auto tokens = typeOf(fwd.getArgument(0)).getShape();
  // The vocabulary every token must be below: the smallest table or class count they index.
  int64_t vocab = INT64_MAX;
  fwd.walk([&](EmbeddingOp e) {
    if (e.getIndices() == fwd.getArgument(0))
      vocab = std::min(vocab, typeOf(e.getTable()).getDimSize(0));
  });
  fwd.walk([&](CrossEntropyOp c) { vocab = std::min(vocab, typeOf(c.getLogits()).getShape().back()); });

  os << "const char kManifest[] = \"" << cxxString(describeModule(module, options, target))
     << "\";\n\n";
  os << "const ingot::rt::ModelDesc kModel = {\n";
  os << "    \"" << module.getName().value_or("model") << "\", \"" << target << "\", kManifest, "
     << options.sourceHash << "ull,\n";
  os << "    " << tokens[0] << ", " << tokens[1] << ", " << vocab << ", "
     << parallel.getAs<IntegerAttr>("microbatches").getInt() << ", " << dtype << ",\n";
  os << "    " << std::distance(module.getOps<ParamOp>().begin(), module.getOps<ParamOp>().end())
     << ", kParams, " << arenaBytes << "u, " << mem("grads_offset") << "u, "
     << mem("grads_bytes") << "u,\n";
  os << "    " << tensor("tokens", "ingot::rt::DType::i32", tokens, plan.inputOffsets[0], 4)
     << ",\n";
  os << "    " << tensor("targets", "ingot::rt::DType::i32", tokens, plan.inputOffsets[1], 4)
     << ",\n";
  os << "    " << tensor("loss", dtype, {}, plan.lossOffset, floatBytes) << ",\n";
  os << "    {" << tf("lr") << ", " << tf("beta1") << ", " << tf("beta2") << ", " << tf("eps")
     << ", " << tf("weight_decay") << ", " << tf("clip") << ", \""
     << train.getAs<StringAttr>("lr_schedule").getValue() << "\", "
     << train.getAs<IntegerAttr>("warmup").getInt() << ", " << tf("lr_final") << "},\n";
  // The arena hooks are spelled out when the target has none (aggregate initialization is
  // positional, and more fields follow).
  os << "    forwardBackward, forward, optimizerStep,\n"
     << (backendHooks.empty() ? StringRef("    nullptr, nullptr, nullptr, nullptr, nullptr,\n")
                              : backendHooks);
  // What the machine must be (ModelDesc's startup block): checked before any work.
  os << "    /*clusterName=*/\"" << cxxString(options.clusterName) << "\", /*deviceKind=*/\""
     << cxxString(options.deviceKind) << "\", /*deviceModel=*/\""
     << cxxString(options.deviceModel) << "\",\n"
     << "    /*nodes=*/" << options.nodes << ", /*devicesPerNode=*/" << options.devicesPerNode
     << ", /*checkDevice=*/" << (target == "cuda" ? "ingot_cuda_check_device" : "nullptr")
     << ",\n";
  // The layout block of ModelDesc, only for multi-rank trainers (one-rank ones leave it zero
  // and link no Comm backend).
  auto layout = [&](StringRef name) -> int64_t {
    auto a = parallel.getAs<IntegerAttr>(name);
    return a ? std::max<int64_t>(1, a.getInt()) : 1;
  };
  int64_t stages = layout("stages"), data = layout("data");
  if (stages * data > 1) {
    os << "    /*stages=*/" << stages << ", /*dataParallel=*/" << data << ", "
       << (target == "cuda" ? "ingot::rt::makeNcclComm" : "ingot::rt::makeMpiComm") << ",\n";
    // The stage programs (kPipeline, written by the target's emitter before this struct).
    if (stages > 1)
      os << "    /*pipeline=*/&kPipeline,\n";
  }
  os << "};\n";
}

std::string ingot::describeModule(ModuleOp module, const TargetEmitOptions &options,
                                  StringRef target) {
  std::string out;
  llvm::raw_string_ostream os(out);
  int64_t count = 0;
  for (ParamOp p : module.getOps<ParamOp>())
    count += p.getTensorType().getNumElements();
  // bf16 where ingot-assign-storage narrowed activations (fp32 masters and accumulation).
  bool bf16 = false;
  module.walk([&](Operation *op) {
    if (auto storage = op->getAttrOfType<ArrayAttr>("ingot.storage"))
      for (Attribute a : storage)
        bf16 |= llvm::cast<StringAttr>(a).getValue() == "bf16";
  });
  const char *computeDtype = options.f64 ? "f64" : bf16 ? "bf16" : "f32";
  os << "{\n  \"model\": \"" << module.getName().value_or("model") << "\",\n"
     << "  \"source\": \"" << llvm::sys::path::filename(options.sourceName) << "\",\n"
     << "  \"source_hash\": \"" << llvm::format_hex(options.sourceHash, 18) << "\",\n"
     << "  \"compiler\": \"ingotc " << options.compilerVersion << "\",\n"
     << "  \"target\": \"" << target << "\",\n"
     << "  \"compute_dtype\": \"" << computeDtype << "\",\n"
     << "  \"parameters\": " << count << ",\n";
  // The cost model's arithmetic per micro-batch (IngotCostOpInterface).
  auto flops = [&](StringRef fn) {
    uint64_t total = 0;
    if (auto f = module.lookupSymbol<func::FuncOp>(fn))
      f.walk([&](IngotCostOpInterface op) { total += op.getFlops(); });
    return total;
  };
  os << "  \"flops\": {\"forward\": " << flops("forward")
     << ", \"forward_backward\": " << flops("forward_backward")
     << ", \"optimizer_step\": " << flops("optimizer_step") << "},\n";
  auto dict = [&](StringRef key) {
    os << "  \"" << key.drop_front(6) << "\": {";
    auto attr = module->getAttrOfType<DictionaryAttr>(key);
    bool first = true;
    for (NamedAttribute a : attr) {
      os << (first ? "" : ", ") << "\"" << a.getName().getValue() << "\": ";
      first = false;
      if (auto b = llvm::dyn_cast<BoolAttr>(a.getValue()))
        os << (b.getValue() ? "true" : "false");
      else if (auto i = llvm::dyn_cast<IntegerAttr>(a.getValue()))
        os << i.getInt();
      else if (auto f = llvm::dyn_cast<FloatAttr>(a.getValue()))
        os << llvm::format("%.9g", f.getValueAsDouble());
      else if (auto s = llvm::dyn_cast<StringAttr>(a.getValue()))
        os << "\"" << s.getValue() << "\"";
      else if (auto arr = llvm::dyn_cast<DenseI64ArrayAttr>(a.getValue()))
        os << "[" << llvm::join(llvm::map_range(arr.asArrayRef(),
                                                [](int64_t v) { return std::to_string(v); }),
                                ", ")
           << "]";
      else
        os << "null";
    }
    os << "}";
  };
  dict("ingot.train");
  os << ",\n";
  dict("ingot.parallel");
  os << ",\n";
  dict("ingot.memory");
  // What the trainer checks at startup (ModelDesc's startup block).
  os << ",\n  \"startup\": {\"cluster\": \"" << options.clusterName << "\", \"device_kind\": \""
     << options.deviceKind << "\", \"device_model\": \"" << options.deviceModel
     << "\", \"nodes\": " << options.nodes << ", \"devices_per_node\": "
     << options.devicesPerNode << ", \"ranks\": " << options.nodes * options.devicesPerNode
     << "}";
  os << "\n}\n";
  return out;
}
