from pathlib import Path

#: the repository root: the working directory and PYTHONPATH of the subprocesses the tests start
ROOT = Path(__file__).resolve().parent.parent
