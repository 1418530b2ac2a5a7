"""A command trial with the SDK that reports an epoch every 20 ms until stopped; records its pid and last epoch."""

import os
import sys
import time

import zone_explorer as ze

out = sys.argv[1]
trial = ze.trial()
with open(os.path.join(out, f"{trial.number}.pid"), "w") as f:  # complete before the first epoch file appears
    f.write(str(os.getpid()))
for epoch in range(1, 100_000):
    time.sleep(0.02)
    path = os.path.join(out, f"{trial.number}.epoch")
    with open(path + ".tmp", "w") as f:
        f.write(str(epoch))
    os.replace(path + ".tmp", path)  # atomic: the test never reads a half-written file
    trial.report(epoch, 0.5)
