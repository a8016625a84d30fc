"""Prints the wall time of an apex + wildcard issuance on the local stack (median of several runs).

Each run is a forced renew_certificates: new order, DNS-01 for both names through Route53
(emulated) and Pebble's real validation, finalize, store in S3, notify. Pebble reuses valid
authorizations half the time by default; PEBBLE_AUTHZREUSE=0 makes every run solve both.

    .venv/bin/python bench/issuance.py [runs] [--poll SECONDS]

--poll is the ACME/Route53 polling interval: 1 s as deployed; smaller shows the protocol's own cost.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # before the app's logger is built

import boto3

from chalicelib.certificates.renewal import Clocks, renew_certificates
from embedded_stack.aws import REGION
from embedded_stack.stack import running_local_stack

PREFIX = "bench.browser.example.com"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=int, nargs="?", default=7)
    parser.add_argument("--poll", type=float, default=1.0)
    args = parser.parse_args()
    clocks = Clocks(sleep=time.sleep, poll_interval_seconds=args.poll, dns_interval_seconds=args.poll)

    with running_local_stack(pebble_env={"PEBBLE_AUTHZREUSE": "0"}) as stack:
        zone_id = boto3.client("route53").create_hosted_zone(
            Name="example.com", CallerReference="bench")["HostedZone"]["Id"].split("/")[-1]
        boto3.client("s3").create_bucket(Bucket="bench-certs",
                                         CreateBucketConfiguration={"LocationConstraint": REGION})
        os.environ.update(WORKSPACE="bench", ACME_DIRECTORY_URL=stack.pebble.directory_url,
                          CERTIFICATES=json.dumps([{"domains": [f"*.{PREFIX}", PREFIX], "zoneId": zone_id,
                                                    "certStorageBucketName": "bench-certs",
                                                    "certStoragePrefix": PREFIX}]))
        renew_certificates({"force": True}, clocks)  # account registration and warm-up, not timed
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            renew_certificates({"force": True}, clocks)
            samples.append(time.perf_counter() - started)

    print(f"apex + wildcard issuance on the local stack, poll interval {args.poll:g}s, "
          f"{args.runs} runs (no authorization reuse)")
    print(f"  median {statistics.median(samples):.2f}s   min {min(samples):.2f}s   max {max(samples):.2f}s")


if __name__ == "__main__":
    main()
