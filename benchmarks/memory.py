"""Memory per cached pod: our ``PodView`` vs the client's ``V1Pod``, with tracemalloc.

The JSON bytes are built before tracing starts, so only what decoding keeps alive is
counted: the view with its strings, datetime and container views. Two figures for us:
the views alone (kept in a list) and the views inside a real ``ClusterStateCache``
(filled with its pod store's ``put``, so the store and its index by Job are included).
Each pod belongs to its own Job, the worst case for the per-Job index buckets.
"""

from __future__ import annotations

import sys

from benchmarks.common import Row, traced_bytes
from benchmarks.decode import client_deserializer
from benchmarks.podjson import pod_json
from zombiewatch.adapters.kubernetes.cache import ClusterStateCache
from zombiewatch.adapters.kubernetes.decoding import POD
from zombiewatch.domain.views import PodView

NAME = "memory"
VIEWS = 10_000
V1PODS = 1_000


def run(*, quick: bool) -> list[Row]:
    views = VIEWS // 4 if quick else VIEWS
    v1pods = V1PODS // 4 if quick else V1PODS
    bodies = [pod_json(i) for i in range(views)]
    texts = [b.decode() for b in bodies[:v1pods]]
    deserialize = client_deserializer()
    deserialize(texts[0])  # import the models before tracing

    def decode_views() -> list[PodView]:
        out: list[PodView] = []
        for body in bodies:
            view = POD.decode_item(body).result
            assert isinstance(view, PodView)
            out.append(view)
        return out

    def fill_cache() -> ClusterStateCache:
        cache = ClusterStateCache()
        for index, body in enumerate(bodies):
            view = POD.decode_item(body).result
            assert isinstance(view, PodView)
            # A distinct key and resourceVersion per pod, as the informer stores them.
            cache.pods_store.put(view.name, str(1_000_000 + index), view)
        return cache

    def decode_v1pods() -> list[object]:
        return [deserialize(text) for text in texts]

    list_overhead = sys.getsizeof([None] * views)
    per_view = (traced_bytes(decode_views) - list_overhead) / views
    per_cached = traced_bytes(fill_cache) / views
    per_v1pod = (traced_bytes(decode_v1pods) - sys.getsizeof([None] * v1pods)) / v1pods
    return [
        Row(NAME, "per pod view (PodView with its strings, datetime, containers)", per_view,
            "bytes", 1024, "<=", f"tracemalloc over {views:,} distinct views"),
        Row(NAME, "per cached pod (view + its pod store entry and index)", per_cached, "bytes",
            1024, "<=", f"tracemalloc over {views:,} distinct pods applied to the cache, "
            "one Job each"),
        Row(NAME, "per V1Pod (kubernetes client model)", per_v1pod, "bytes",
            detail=f"tracemalloc over {v1pods:,} distinct pods, same JSON"),
        Row(NAME, "V1Pod / cached pod view", per_v1pod / per_cached, "x",
            detail="memory of the client's V1Pod over ours (view + indexes)"),
    ]
