//===- SemaSections.cpp - The train and parallel sections ---===//
#include "lang/Analyzer.h"

using namespace ingot::lang;
using namespace ingot::lang::detail;

//===----------------------------------------------------------------------===//
// Sections
//===----------------------------------------------------------------------===//

std::optional<ConstValue> Analyzer::evalSetting(const Setting &s) { return evalConst(*s.value); }

namespace {
/// Reads the named arguments of a call like `adamw(lr = 3e-4, beta2 = 0.95)` into doubles.
struct CallReader {
  Diagnostics &diags;
  const Expr &call;
  bool ok = true;

  void number(const char *name, double &out, std::function<std::optional<ConstValue>(const Expr &)> eval,
              double min, bool exclusiveMin) {
    for (const NamedArg &a : call.namedArgs) {
      if (a.name != name)
        continue;
      auto v = eval(*a.value);
      if (!v || !v->isNumber()) {
        if (v)
          diags.error(a.value->loc) << "'" << name << "' must be a number, found " << v->describe();
        ok = false;
        return;
      }
      double d = v->asDouble();
      if (d < min || (exclusiveMin && d == min)) {
        diags.error(a.value->loc) << "'" << name << "' must be " << (exclusiveMin ? "> " : ">= ")
                                  << formatNumber(min) << ", found " << formatNumber(d);
        ok = false;
        return;
      }
      out = d;
    }
  }
  void integer(const char *name, int64_t &out,
               std::function<std::optional<ConstValue>(const Expr &)> eval, int64_t min) {
    for (const NamedArg &a : call.namedArgs) {
      if (a.name != name)
        continue;
      auto v = eval(*a.value);
      if (!v || v->kind != ConstValue::Kind::Int || v->i < min) {
        if (v)
          diags.error(a.value->loc) << "'" << name << "' must be an integer >= " << min
                                    << ", found " << v->describe();
        ok = false;
        return;
      }
      out = v->i;
    }
  }
  void onlyKnown(std::initializer_list<const char *> names) {
    if (!call.operands.empty()) {
      diags.error(call.operands.front()->loc) << "'" << call.text << "' takes named arguments only";
      ok = false;
    }
    for (const NamedArg &a : call.namedArgs)
      if (!llvm::is_contained(names, a.name)) {
        diags.error(a.loc) << "'" << call.text << "' has no argument named '" << a.name << "'";
        ok = false;
      }
  }
};
} // namespace

void Analyzer::checkTrain() {
  TrainConfig &t = info.train;
  if (!module.train) {
    error(module.forward ? module.forward->loc : fileStart())
        << "missing 'train' section (micro_batch and seq_len at least)";
    return;
  }
  auto evalFn = [&](const Expr &x) { return evalConst(x); };
  bool haveBatch = false, haveSeq = false;
  llvm::StringMap<llvm::SMLoc> seen;
  for (const Setting &s : module.train->settings) {
    if (auto [it, inserted] = seen.try_emplace(s.key, s.loc); !inserted) {
      auto diag = error(s.loc);
      diag << "setting '" << s.key << "' given twice";
      noteDefinedHere(diag, it->second);
      continue;
    }
    if (s.key == "micro_batch" || s.key == "seq_len") {
      auto v = evalPositiveInt(*s.value, "'" + s.key + "'");
      if (v)
        (s.key == "micro_batch" ? t.microBatch : t.seqLen) = *v;
      (s.key == "micro_batch" ? haveBatch : haveSeq) = v.has_value();
      continue;
    }
    auto v = evalSetting(s);
    if (!v)
      continue;
    if (s.key == "precision") {
      if (v->kind == ConstValue::Kind::Symbol && (v->s == "bf16" || v->s == "f32"))
        t.precision = *parseDType(v->s);
      else
        error(s.value->loc) << "'precision' must be bf16 or f32, found " << v->describe();
    } else if (s.key == "clip") {
      if (v->isNumber() && v->asDouble() >= 0)
        t.clip = v->asDouble();
      else
        error(s.value->loc) << "'clip' must be a number >= 0 (0 turns clipping off), found "
                            << v->describe();
    } else if (s.key == "optimizer") {
      if (v->kind != ConstValue::Kind::Call || v->s != "adamw") {
        error(s.value->loc) << "'optimizer' must be adamw(...), found " << v->describe();
        continue;
      }
      CallReader r{diags, *v->call};
      r.onlyKnown({"lr", "beta1", "beta2", "eps", "weight_decay"});
      r.number("lr", t.optimizer.lr, evalFn, 0, true);
      r.number("beta1", t.optimizer.beta1, evalFn, 0, false);
      r.number("beta2", t.optimizer.beta2, evalFn, 0, false);
      r.number("eps", t.optimizer.eps, evalFn, 0, true);
      r.number("weight_decay", t.optimizer.weightDecay, evalFn, 0, false);
      if (r.ok && (t.optimizer.beta1 >= 1 || t.optimizer.beta2 >= 1))
        error(s.value->loc) << "adamw betas must be below 1";
    } else if (s.key == "lr_schedule") {
      if (v->kind == ConstValue::Kind::Symbol && v->s == "constant") {
        t.lrSchedule.kind = "constant";
        continue;
      }
      if (v->kind != ConstValue::Kind::Call || (v->s != "cosine" && v->s != "linear")) {
        error(s.value->loc) << "'lr_schedule' must be constant, cosine(...) or linear(...), found "
                            << v->describe();
        continue;
      }
      t.lrSchedule.kind = v->s;
      t.lrSchedule.finalFraction = 0.0;
      CallReader r{diags, *v->call};
      r.onlyKnown({"warmup", "final"});
      r.integer("warmup", t.lrSchedule.warmup, evalFn, 0);
      r.number("final", t.lrSchedule.finalFraction, evalFn, 0, false);
      if (r.ok && t.lrSchedule.finalFraction > 1)
        error(s.value->loc) << "'final' is a fraction of the peak learning rate, at most 1";
    } else if (s.key == "recompute") {
      if (v->kind == ConstValue::Kind::Symbol && (v->s == "none" || v->s == "block"))
        t.recompute = v->s;
      else
        error(s.value->loc) << "'recompute' must be none or block, found " << v->describe();
    } else {
      error(s.loc) << "unknown train setting '" << s.key
                   << "' (expected micro_batch, seq_len, precision, optimizer, clip, "
                      "lr_schedule or recompute)";
    }
  }
  if (!haveBatch && !seen.count("micro_batch"))
    error(module.train->loc) << "the train section needs 'micro_batch'";
  if (!haveSeq && !seen.count("seq_len"))
    error(module.train->loc) << "the train section needs 'seq_len'";
}

void Analyzer::checkParallel() {
  ParallelConfig &p = info.parallel;
  if (!module.parallel)
    return; // one GPU, one microbatch: the defaults
  llvm::StringMap<llvm::SMLoc> seen;
  for (const Setting &s : module.parallel->settings) {
    if (auto [it, inserted] = seen.try_emplace(s.key, s.loc); !inserted) {
      auto diag = error(s.loc);
      diag << "setting '" << s.key << "' given twice";
      noteDefinedHere(diag, it->second);
      continue;
    }
    int64_t *slot = llvm::StringSwitch<int64_t *>(s.key)
                        .Case("stages", &p.stages)
                        .Case("data", &p.data)
                        .Case("microbatches", &p.microbatches)
                        .Case("chunks", &p.chunks)
                        .Default(nullptr);
    if (slot) {
      if (auto v = evalPositiveInt(*s.value, "'" + s.key + "'"))
        *slot = *v;
      continue;
    }
    auto v = evalSetting(s);
    if (!v)
      continue;
    if (s.key == "schedule") {
      static const char *kSchedules[] = {"gpipe", "1f1b", "interleaved", "zb-h1"};
      if (v->kind == ConstValue::Kind::String && llvm::is_contained(kSchedules, v->s))
        p.schedule = v->s;
      else
        error(s.value->loc) << "'schedule' must be \"gpipe\", \"1f1b\", \"interleaved\" or "
                               "\"zb-h1\", found "
                            << v->describe();
    } else if (s.key == "zero1") {
      if (v->kind == ConstValue::Kind::Bool)
        p.zero1 = v->b;
      else
        error(s.value->loc) << "'zero1' must be true or false, found " << v->describe();
    } else {
      error(s.loc) << "unknown parallel setting '" << s.key
                   << "' (expected stages, data, microbatches, schedule, chunks or zero1)";
    }
  }
  if (p.chunks > 1 && p.schedule != "interleaved")
    error(module.parallel->loc) << "chunks = " << p.chunks
                                << " needs schedule = \"interleaved\"";
}
