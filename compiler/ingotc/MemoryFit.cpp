//===- MemoryFit.cpp - Does a stage's memory plan fit its device? ---------===//
#include "compiler/ingotc/MemoryFit.h"
#include "compiler/Transforms/Passes.h"

#include "dialects/Ingot/IngotOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace mlir;

namespace {

struct Buffer {
  std::string what;
  int64_t bytes;
};

/// "1.50 GiB", or "12.25 MiB" below a GiB.
std::string gib(int64_t bytes) {
  if (bytes >= (int64_t(1) << 30))
    return llvm::formatv("{0:f2} GiB", bytes / double(1 << 30)).str();
  return llvm::formatv("{0:f2} MiB", bytes / double(1 << 20)).str();
}

} // namespace

std::string ingot::checkMemoryFit(ModuleOp module, uint64_t deviceBytes,
                                  llvm::StringRef deviceName) {
  auto memory = module->getAttrOfType<DictionaryAttr>("ingot.memory");
  int64_t arena = memory.getAs<IntegerAttr>("arena_bytes").getInt();
  if (static_cast<uint64_t>(arena) <= deviceBytes)
    return "";
  int64_t floatBytes = memory.getAs<IntegerAttr>("float_bytes").getInt();
  std::vector<Buffer> buffers;
  for (ParamOp p : module.getOps<ParamOp>()) {
    RankedTensorType t = p.getTensorType();
    int64_t each = t.getNumElements() * (floatBytes ? floatBytes : 4);
    buffers.push_back({("parameter '" + p.getSymName() + "' with its gradient and moments").str(),
                       4 * each + (p->hasAttr("ingot.shadow") ? t.getNumElements() * 2 : 0)});
  }
  if (auto fb = module.lookupSymbol<func::FuncOp>("forward_backward"))
    fb.walk([&](Operation *op) {
      if (!op->hasAttr("ingot.offsets") || llvm::isa<ParamRefOp, ReshapeOp>(op))
        return;
      for (Value r : op->getResults()) {
        auto t = llvm::cast<RankedTensorType>(r.getType());
        int64_t elementBytes = storedAsBf16(r) ? 2 : ingot::elementBytes(t.getElementType(), floatBytes);
        std::string where;
        if (auto loc = llvm::dyn_cast<FileLineColLoc>(op->getLoc()))
          where = llvm::formatv(" at {0}:{1}:{2}",
                                llvm::sys::path::filename(loc.getFilename().getValue()),
                                loc.getLine(), loc.getColumn())
                      .str();
        buffers.push_back({(op->getName().getStringRef() + where).str(),
                           t.getNumElements() * elementBytes});
      }
    });
  std::stable_sort(buffers.begin(), buffers.end(),
                   [](const Buffer &a, const Buffer &b) { return a.bytes > b.bytes; });
  std::string message = llvm::formatv("stage 0 needs {0} (its static memory plan) but {1} has "
                                      "{2}; the largest buffers:",
                                      gib(arena), deviceName, gib(deviceBytes))
                            .str();
  for (size_t i = 0; i < buffers.size() && i < 5; ++i)
    message += "\n  " + gib(buffers[i].bytes) + "  " + buffers[i].what;
  return message;
}
