"""Shared pieces of the benchmark harness: model sizes, the MFU formula of
/work/shared/BENCHMARKS.md, and the one-line JSON result."""
import json
import statistics

SIZES = {  # name: (layers, dim, heads)
    "124m": (12, 768, 12),
    "350m": (24, 1024, 16),
    "1558m": (48, 1600, 25),
}
VOCAB = 50304        # 50257 padded to a multiple of 128, as examples/gpt2/gpt2.ingot
VOCAB_REAL = 50257
CONTEXT = 1024
PEAK_FLOPS = 989.4e12  # H100 SXM dense bf16


def param_count(L, d, vocab=VOCAB):
    """N: every parameter except the position embeddings; the tied wte/lm head once."""
    per_layer = 12 * d * d + 13 * d  # qkv, proj, fc, fc_proj weights+biases, 2 LayerNorms
    return vocab * d + L * per_layer + 2 * d


def flops_per_token(L, d, T, vocab=VOCAB):
    return 6 * param_count(L, d, vocab) + 12 * L * d * T


def result(system, size, B, T, step_ms, losses, peak_bytes, extra=None):
    """step_ms: per-window mean ms/step values (or per-step); the median is reported."""
    L, d, _ = SIZES[size]
    ms = statistics.median(step_ms)
    tps = B * T / (ms / 1e3)
    out = {
        "system": system, "model": size, "B": B, "T": T,
        "tokens_per_s": round(tps, 1),
        "ms_per_step": round(ms, 3),
        "mfu": round(tps * flops_per_token(L, d, T) / PEAK_FLOPS, 4),
        "peak_mem_gib": round(peak_bytes / 2**30, 2) if peak_bytes is not None else None,
        "loss_first": round(float(losses[0]), 4),
        "loss_last": round(float(losses[-1]), 4),
        "loss_finite": all(x == x and abs(x) != float("inf") for x in map(float, losses)),
        "loss_falling": float(losses[-1]) < float(losses[0]),
        "windows_ms": [round(x, 3) for x in step_ms],
        "n_params_no_wpe": param_count(L, d),
    }
    if extra:
        out.update(extra)
    print(json.dumps(out), flush=True)
    return out
