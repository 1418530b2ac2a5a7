"""A command trial without the SDK: reads the trial from the environment, prints ``val_acc=<value>`` (the fallback).

Trial 1 crashes, trial 2 hangs until the worker's timeout stops it (its pid goes to ``<dir>/hang.pid``)."""

import json
import os
import sys
import time

trial = json.loads(os.environ["ZONE_EXPLORER_TRIAL"])
print(f"trial {trial['number']} with {trial['values']}", flush=True)
if trial["number"] == 1:
    print("about to fail", flush=True)
    raise SystemExit("boom: this trial crashes on purpose")
if trial["number"] == 2:
    with open(os.path.join(sys.argv[1], "hang.pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)
print(f"val_acc={1.0 / (1.0 + trial['values']['c_scaling'])}")
