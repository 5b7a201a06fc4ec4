"""Play the kubelet for a burst, from a process of its own.

The burst benchmark runs the daemon in-process; patching 1,000 pod statuses
through the kubernetes client from that same process would make the daemon
and the client fight over one GIL, so the figure would measure the benchmark.
This worker sends the same strategic merge patches with plain urllib3 (keep-
alive, one pool, N threads) and prints, as JSON, when the first was sent and
the last answered (``time.monotonic`` is system-wide on Linux, so the parent
can compare it with its own clock).

    python -m benchmarks.patcher API_URL TOKEN CA_FILE NAMESPACE THREADS < pod-names
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import urllib3

STRATEGIC = "application/strategic-merge-patch+json"
BODY = json.dumps({"status": {"phase": "Pending", "containerStatuses": [{
    "name": "agent", "state": {"waiting": {"reason": "ImagePullBackOff", "message": ""}},
    "ready": False, "restartCount": 0, "image": "registry.invalid/agent:latest",
    "imageID": ""}]}}).encode()


def main(argv: list[str]) -> int:
    api_url, token, ca_file, namespace, threads = argv
    names = [line.strip() for line in sys.stdin if line.strip()]
    pool = urllib3.PoolManager(maxsize=int(threads), ca_certs=ca_file, cert_reqs="CERT_REQUIRED")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": STRATEGIC}

    def patch(name: str) -> float:
        url = f"{api_url}/api/v1/namespaces/{namespace}/pods/{name}/status"
        response = pool.request("PATCH", url, body=BODY, headers=headers, retries=False)
        if response.status >= 300:
            raise RuntimeError(f"patch of {name}: HTTP {response.status}")
        return time.monotonic()

    with ThreadPoolExecutor(int(threads)) as workers:
        for _ in range(int(threads)):  # open the connections before the clock starts
            workers.submit(pool.request, "GET", f"{api_url}/readyz", headers=headers).result()
        started = time.monotonic()
        answered = max(workers.map(patch, names))
    print(json.dumps({"started": started, "answered": answered, "count": len(names)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
