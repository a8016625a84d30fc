"""Imported first by every benchmark: the repository on the path and the app's output quiet.

Run as `python bench/<name>.py`, a benchmark has bench/ on its path, not the repository; and the
app builds its logger and metrics on import, so their settings must be in place before.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
# The functions' metrics (EMF lines on stdout) would bury the table: the benchmarks count themselves.
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
