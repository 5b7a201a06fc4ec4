"""Decoding + translating raw pod watch events into views, vs the kubernetes client's models.

Three paths over the same realistic pod JSON (``benchmarks/podjson.py``):

- the informer's path: ``POD.decode_event(line)`` (what ``watching.iter_events`` calls
  for every line of a watch stream: one msgspec pass over the line into the small wire
  structs, then the translation into a ``PodView``);
- the two-step path: ``decode_watch_line(line)`` then ``POD.decode_item(event.raw)``;
- the object alone: ``POD.decode_item(object_json)`` vs ``ApiClient().deserialize`` of the
  same JSON into ``V1Pod`` (what ``kubernetes.watch.Watch`` / ``list_namespaced_pod``
  do with a preloaded response), side by side in one run.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s_client

from benchmarks.common import Row, median, timed_runs
from benchmarks.podjson import pod_json, watch_line
from zombiewatch.adapters.kubernetes.decoding import POD, decode_watch_line
from zombiewatch.domain.views import PodView

NAME = "decode"
DISTINCT = 2_000
"""Distinct pods cycled through (different names, uids, timestamps)."""
CLIENT_PODS = 300
"""The client is ~2 orders of magnitude slower: fewer pods keep the run short."""


class _FakeResponse:
    """What older clients' ``deserialize`` reads: an object with ``.data``."""

    def __init__(self, data: str) -> None:
        self.data = data


def client_deserializer() -> Callable[[str], Any]:
    """``ApiClient().deserialize(..., 'V1Pod')`` for this client version's signature.

    Client 37 takes ``(response_text, response_type, content_type)``; older clients take a
    response object with ``.data``.
    """
    api: Any = k8s_client.ApiClient()
    params = list(inspect.signature(api.deserialize).parameters)
    if params and params[0] == "response_text":
        return lambda text: api.deserialize(text, "V1Pod", "application/json")
    return lambda text: api.deserialize(_FakeResponse(text), "V1Pod")


def run(*, quick: bool) -> list[Row]:
    repeats = 3 if quick else 7
    lines = [watch_line(i) for i in range(DISTINCT)]
    objects = [pod_json(i) for i in range(DISTINCT)]
    texts = [o.decode() for o in objects[:CLIENT_PODS]]
    size = median([float(len(o)) for o in objects])

    # Sanity: every path yields a view, and the client a V1Pod with our pod's name.
    first = POD.decode_event(lines[0])
    assert first.item is not None
    assert isinstance(first.item.result, PodView)
    assert isinstance(POD.decode_item(decode_watch_line(lines[0]).raw).result, PodView)
    deserialize = client_deserializer()
    v1pod = deserialize(texts[0])
    assert v1pod.metadata.name == json.loads(texts[0])["metadata"]["name"]

    def informer_path() -> None:
        decode_event = POD.decode_event
        for line in lines:
            decode_event(line)

    def two_step() -> None:
        decode = POD.decode_item
        for line in lines:
            decode(decode_watch_line(line).raw)

    def ours_object() -> None:
        decode = POD.decode_item
        for data in objects[:CLIENT_PODS]:
            decode(data)

    def client_object() -> None:
        for text in texts:
            deserialize(text)

    # Interleave the alternatives so background load hits all of them alike.
    samples: dict[str, list[float]] = {"informer": [], "two_step": [], "ours": [],
                                       "client": []}
    for _ in range(repeats):
        samples["informer"] += timed_runs(informer_path, 1)
        samples["two_step"] += timed_runs(two_step, 1)
        samples["ours"] += timed_runs(ours_object, 1)
        samples["client"] += timed_runs(client_object, 1, warmup=0)
    informer_rate = [DISTINCT / s for s in samples["informer"]]
    two_step_rate = [DISTINCT / s for s in samples["two_step"]]
    ours_us = [s / CLIENT_PODS * 1e6 for s in samples["ours"]]
    client_us = [s / CLIENT_PODS * 1e6 for s in samples["client"]]
    ratio = median(client_us) / median(ours_us)
    detail = f"{DISTINCT} distinct pod watch lines of ~{size / 1024:.1f} KiB, median of {repeats}"
    return [
        Row(NAME, "pod watch events decoded+translated (informer: POD.decode_event)",
            median(informer_rate), "events/s", 100_000, ">=", detail,
            tuple(informer_rate)),
        Row(NAME, "pod watch events decoded+translated (decode_watch_line + POD.decode_item)",
            median(two_step_rate), "events/s", 100_000, ">=", detail, tuple(two_step_rate)),
        Row(NAME, "pod object -> PodView (POD.decode_item)", median(ours_us), "µs/pod",
            detail=f"{CLIENT_PODS} pods, same JSON as the client row", samples=tuple(ours_us)),
        Row(NAME, f"pod object -> V1Pod (kubernetes {k8s_client.__version__} "
            "ApiClient.deserialize)", median(client_us), "µs/pod",
            detail=f"{CLIENT_PODS} pods, same JSON", samples=tuple(client_us)),
        Row(NAME, "speed-up of POD.decode_item over the client's V1Pod deserialisation", ratio, "x",
            20, ">=", "median client µs / median POD.decode_item µs, same pods, same run"),
    ]
