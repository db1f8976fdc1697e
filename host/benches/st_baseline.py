"""sentence-transformers on the same sentences as benches/local_embed.rs.

    python3 st_baseline.py MODEL_DIR SENTENCES.json THREADS BATCH [BATCH ...]

Prints one JSON object: sentences per second per batch size (best of
$WAFER_BENCH_RUNS runs, default 3, on THREADS threads) and the process RSS
with the model loaded.
"""

import json
import os
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


torch.set_num_threads(int(sys.argv[3]))
model = SentenceTransformer(sys.argv[1], device="cpu")
sentences = json.load(open(sys.argv[2]))
model.encode(sentences[:8])  # warm-up
out = {"rss_mb": rss_mb(), "per_second": {}}
for batch in map(int, sys.argv[4:]):
    best = 0.0
    for _ in range(int(os.environ.get("WAFER_BENCH_RUNS", "3"))):
        t = time.perf_counter()
        model.encode(sentences, batch_size=batch)
        best = max(best, len(sentences) / (time.perf_counter() - t))
    out["per_second"][str(batch)] = best
out["rss_mb_after"] = rss_mb()
print(json.dumps(out))
