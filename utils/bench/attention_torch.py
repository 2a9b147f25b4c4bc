"""PyTorch's causal scaled_dot_product_attention (flash backend on an H100) timed like
ingot-cuda-attention-bench: bf16, [batch, t, heads, hd] rows viewed as [batch, heads, t, hd],
forward and backward each over 20 calls after 3 warm-up calls, median of 5 windows. One JSON
line per shape, the same fields as the Ingot bench."""
import json
import sys

import torch
import torch.nn.functional as F


def median_ms(fn):
    for _ in range(3):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    windows = []
    for _ in range(5):
        start.record()
        for _ in range(20):
            fn()
        stop.record()
        stop.synchronize()
        windows.append(start.elapsed_time(stop) / 20)
    return sorted(windows)[2]


def bench(batch, t, heads, hd):
    g = torch.Generator(device="cuda").manual_seed(1)
    def rows():
        return torch.randn(batch, t, heads, hd, device="cuda", dtype=torch.bfloat16, generator=g)
    q, k, v, dout = (rows().transpose(1, 2) for _ in range(4))
    q.requires_grad_(True), k.requires_grad_(True), v.requires_grad_(True)
    with torch.no_grad():
        fwd = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    bwd = median_ms(lambda: torch.autograd.grad(out, (q, k, v), dout, retain_graph=True))
    flops = 4.0 * batch * heads * t * t * hd / 2
    print(json.dumps({"system": "torch sdpa", "batch": batch, "t": t, "heads": heads, "hd": hd,
                      "fwd_ms": round(fwd, 4), "bwd_ms": round(bwd, 4),
                      "fwd_tflops": round(flops / fwd / 1e9, 1),
                      "bwd_tflops": round(2.5 * flops / bwd / 1e9, 1)}))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]] or [16, 1024, 12, 64, 16, 1024, 16, 64, 8, 1024, 25, 64]
    for i in range(0, len(args), 4):
        bench(*args[i:i + 4])
