"""Prints what importing app.py costs a DNS function's cold start, and pyOpenSSL's share of it.

botocore imports pyOpenSSL (and with it `cryptography`) whenever it is installed, and `acme`
requires pyOpenSSL, so the DNS functions carry it although they never use it. This runs
`import app` in fresh interpreters with pyOpenSSL importable and with it blocked (botocore then
falls back to the standard library's ssl), and prints the medians.

    .venv/bin/python bench/cold_start.py [runs]
"""

import os
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "CLUSTER_ARN": "arn:aws:ecs:eu-west-2:123456789012:cluster/c",
       "DOMAIN_PREFIX": "t.example.com", "HOSTED_ZONE_ID": "Z1", "AWS_DEFAULT_REGION": "eu-west-2"}

MEASURE = """
import sys, time
{prelude}
start = time.perf_counter()
import app
import botocore.httpsession
elapsed = time.perf_counter() - start
print(elapsed * 1000, int(sys.modules.get('OpenSSL') is not None), int('cryptography' in sys.modules))
"""


def measure(prelude: str, runs: int) -> tuple[float, str]:
    samples, flags = [], ""
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", MEASURE.format(prelude=prelude)], cwd=PROJECT,
                             env=ENV, capture_output=True, text=True, check=True).stdout.split()
        samples.append(float(out[0]))
        flags = f"OpenSSL loaded={out[1] == '1'}, cryptography loaded={out[2] == '1'}"
    return statistics.median(samples), flags


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    measure("", 2)  # warm the file cache so both variants read from memory
    with_openssl, with_flags = measure("", runs)
    without_openssl, without_flags = measure("sys.modules['OpenSSL'] = None", runs)
    print(f"import app, median of {runs} fresh interpreters")
    print(f"  pyOpenSSL installed (as packaged): {with_openssl:7.1f} ms  ({with_flags})")
    print(f"  pyOpenSSL blocked:                 {without_openssl:7.1f} ms  ({without_flags})")
    print(f"  pyOpenSSL's cost:                  {with_openssl - without_openssl:7.1f} ms")


if __name__ == "__main__":
    main()
