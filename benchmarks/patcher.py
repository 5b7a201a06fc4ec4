"""Play the kubelet for a burst or at a steady rate, from a process of its own.

The burst benchmark runs the daemon in-process; patching 1,000 pod statuses
through the kubernetes client from that same process would make the daemon
and the client fight over one GIL, so the figure would measure the benchmark.
This worker sends strategic merge patches of the pods' status with plain
urllib3 (keep-alive, one pool, N threads) and prints, as JSON, when the first
was sent and the last answered (``time.monotonic`` is system-wide on Linux, so
the parent can compare it with its own clock).

``--body image-pull-backoff`` (the default) is what the kubelet writes when the
image cannot be pulled: a failure. ``--body probe`` stamps the Ready condition's
``lastProbeTime``, a status update that changes nothing the daemon judges (each pod
is patched once, so every patch is a change and an event). ``--rate R`` paces the
patches at R per second (patch i is sent at ``i / R`` seconds) instead of as fast as
the threads go.

    python -m benchmarks.patcher API_URL TOKEN CA_FILE NAMESPACE THREADS \
        [--rate R] [--body image-pull-backoff|probe] < pod-names
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import urllib3

STRATEGIC = "application/strategic-merge-patch+json"
IMAGE_PULL_BACKOFF = json.dumps({"status": {"phase": "Pending", "containerStatuses": [{
    "name": "agent", "state": {"waiting": {"reason": "ImagePullBackOff", "message": ""}},
    "ready": False, "restartCount": 0, "image": "registry.invalid/agent:latest",
    "imageID": ""}]}}).encode()


def probe_body() -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"status": {"conditions": [
        {"type": "Ready", "status": "True", "lastProbeTime": stamp}]}}).encode()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.patcher")
    for name in ("api_url", "token", "ca_file", "namespace"):
        parser.add_argument(name)
    parser.add_argument("threads", type=int)
    parser.add_argument("--rate", type=float, default=0.0, help="patches per second (0: all)")
    parser.add_argument("--body", choices=("image-pull-backoff", "probe"),
                        default="image-pull-backoff")
    args = parser.parse_args(argv)
    names = [line.strip() for line in sys.stdin if line.strip()]
    pool = urllib3.PoolManager(maxsize=args.threads, ca_certs=args.ca_file,
                               cert_reqs="CERT_REQUIRED")
    headers = {"Authorization": f"Bearer {args.token}", "Content-Type": STRATEGIC}
    started = 0.0

    def patch(item: tuple[int, str]) -> float:
        index, name = item
        if args.rate > 0:
            time.sleep(max(0.0, started + index / args.rate - time.monotonic()))
        body = IMAGE_PULL_BACKOFF if args.body == "image-pull-backoff" else probe_body()
        url = f"{args.api_url}/api/v1/namespaces/{args.namespace}/pods/{name}/status"
        response = pool.request("PATCH", url, body=body, headers=headers, retries=False)
        if response.status >= 300:
            raise RuntimeError(f"patch of {name}: HTTP {response.status}")
        return time.monotonic()

    with ThreadPoolExecutor(args.threads) as workers:
        for _ in range(args.threads):  # open the connections before the clock starts
            workers.submit(pool.request, "GET", f"{args.api_url}/readyz",
                           headers=headers).result()
        started = time.monotonic()
        answered = max(workers.map(patch, enumerate(names)))
    print(json.dumps({"started": started, "answered": answered, "count": len(names)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
