"""The built-in trainer: turns a dataset into a model bundle with numpy and onnx (no torch)."""

import os

# OpenBLAS's threads spin for about a tenth of a second after each of numpy's matrix products, on the cores
# that onnxruntime's next run needs, and the trainer alternates the two: a 640 px image's feature pass took
# 80-110 ms after a product against 45 without (docs/quality.md, "Threads that wait asleep"). Told to sleep
# at once, they cost a wake-up per product instead. OpenBLAS reads this when numpy loads: a process that
# imports the trainer's package first has it (the fork server that starts training processes loads it
# before numpy: backend.training.PRELOADED; the bench's workers, the tests).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
