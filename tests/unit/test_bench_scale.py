"""The scale benchmark's pure pieces: /proc parsing, when RSS has settled, the verdicts of
the side-by-side rows, the stored agent objects and the Go program's cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import gobuild, populate
from benchmarks.common import Row
from benchmarks.procfs import MIB, Settle, parse_cpu_ticks, parse_status
from benchmarks.sidebyside import (
    CLIENT_GO,
    TUNED,
    ZOMBIEWATCH,
    Measured,
    Summary,
    Targets,
    side_by_side,
    size_rows,
)

STATUS = """Name:\tpython3
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  500000 kB
VmSize:\t  480000 kB
VmHWM:\t   131072 kB
VmRSS:\t   102400 kB
RssAnon:\t   90000 kB
Threads:\t6
"""


def test_status_gives_rss_and_peak_in_bytes() -> None:
    memory = parse_status(STATUS)
    assert memory.rss == 100 * MIB
    assert memory.peak == 128 * MIB


def test_status_without_the_lines_is_an_error() -> None:
    with pytest.raises(ValueError, match="VmRSS"):
        parse_status("Name:\tkthreadd\nState:\tS (sleeping)\n")


def test_stat_adds_user_and_system_ticks_after_a_command_with_spaces_and_parens() -> None:
    fields = ["S", "1", "2", "3", "0", "-1", "4194560", "10", "0", "0", "0",
              "1234", "567", "0", "0", "20", "0", "6"]
    line = "4242 (my (odd) cmd) " + " ".join(fields) + "\n"
    assert parse_cpu_ticks(line) == 1234 + 567


def test_rss_settles_once_the_window_is_covered_and_flat() -> None:
    settle = Settle(window=5.0, tolerance=MIB, relative=0.0)
    rising = [(t * 0.5, 100 * MIB + int(t) * 2 * MIB) for t in range(12)]
    assert settle.settled(rising) is None
    flat = [(t * 0.5, 100 * MIB + (t % 2) * 1000) for t in range(12)]
    assert settle.settled(flat) == flat[-1][1]
    assert settle.settled(flat[:9]) is None  # 4 s of samples do not cover 5 s
    assert settle.settled([]) is None


def test_a_relative_tolerance_counts_for_large_processes() -> None:
    settle = Settle(window=1.0, tolerance=MIB, relative=0.01)
    wobbling = [(0.0, 1000 * MIB), (0.5, 1005 * MIB), (1.0, 1002 * MIB)]
    assert settle.settled(wobbling) == 1002 * MIB
    assert Settle(window=1.0, tolerance=MIB, relative=0.0).settled(wobbling) is None


def _runs(who: str, size: int, *pairs: tuple[float, float, float]) -> Summary:
    return Summary(tuple(Measured(who, size, ready, int(peak * MIB), int(settled * MIB), 6.0, {})
                         for ready, settled, peak in pairs))


def _by(zw: tuple[float, float, float], plain: tuple[float, float, float],
        tuned: tuple[float, float, float], size: int) -> dict[str, Summary]:
    return {ZOMBIEWATCH: _runs(ZOMBIEWATCH, size, zw, zw),
            CLIENT_GO: _runs(CLIENT_GO, size, plain, plain),
            TUNED: _runs(TUNED, size, tuned, tuned)}


def _verdicts(rows: list[Row]) -> dict[str, str]:
    return {row.name.split(": ", 1)[1]: row.verdict for row in rows}


def test_at_the_largest_n_every_target_is_judged() -> None:
    targets = Targets()
    passing = size_rows(50_000, _by((10.0, 200, 250), (12.0, 2400, 3000), (11.0, 1300, 1500),
                                    50_000), full=True, targets=targets)
    assert _verdicts(passing) == {
        **{name: "info" for name in _verdicts(passing)},
        "zombiewatch peak / settled RSS (worst run)": "PASS",
        "zombiewatch ready / tuned client-go ready": "PASS",
        "client-go settled RSS / zombiewatch's": "PASS",
        "client-go tuned settled RSS / zombiewatch's": "PASS",
    }
    failing = size_rows(50_000, _by((12.0, 300, 400), (12.0, 2400, 3000), (11.0, 1300, 1500),
                                    50_000), full=True, targets=targets)
    verdicts = _verdicts(failing)
    assert verdicts["zombiewatch peak / settled RSS (worst run)"] == "MISS"  # 1.33 x
    assert verdicts["zombiewatch ready / tuned client-go ready"] == "MISS"
    assert verdicts["client-go settled RSS / zombiewatch's"] == "MISS"  # 8 x
    assert verdicts["client-go tuned settled RSS / zombiewatch's"] == "MISS"  # 4.3 x


def test_the_empty_namespace_judges_zombiewatchs_rss_and_only_that_ratio_free() -> None:
    rows = size_rows(0, _by((1.0, 60, 61), (0.1, 25, 25), (0.1, 26, 26), 0), full=True)
    verdicts = _verdicts(rows)
    assert verdicts["zombiewatch settled RSS"] == "MISS"  # 60 > 57 MiB
    assert verdicts["client-go settled RSS"] == "info"
    assert verdicts["zombiewatch ready / tuned client-go ready"] == "info"  # only from 10,000
    assert verdicts["client-go settled RSS / zombiewatch's"] == "info"


def test_a_quick_run_judges_no_ratio() -> None:
    rows = size_rows(50_000, _by((20.0, 900, 1000), (12.0, 2400, 3000), (11.0, 1300, 1500),
                                 50_000), full=False)
    verdicts = _verdicts(rows)
    assert verdicts["zombiewatch ready / tuned client-go ready"] == "info"
    assert verdicts["client-go settled RSS / zombiewatch's"] == "info"


def test_medians_ranges_and_the_worst_peak() -> None:
    summary = _runs(ZOMBIEWATCH, 10_000, (2.0, 100, 120), (3.0, 110, 150))
    assert summary.ready == 2.5
    assert summary.settled == pytest.approx(105 * MIB, abs=1)
    assert summary.peak_over_settled == pytest.approx(150 / 110, rel=1e-6)
    assert summary.span(lambda m: m.ready, unit="s") == "2.00-3.00 s"
    assert summary.span(lambda m: m.settled, MIB, "MiB") == "100-110 MiB"
    table = side_by_side({10_000: _by((2.0, 100, 120), (1.5, 480, 500), (1.6, 410, 430),
                                      10_000)})
    assert "| 10,000 | 2.00 s | 100 MiB (120) | 1.50 s | 480 MiB (500) |" in table


def test_a_stored_job_is_the_one_its_pod_names() -> None:
    pod = populate.pod_stored(7, "ns")
    job = populate.job_stored(pod)
    owner = pod["metadata"]["ownerReferences"][0]
    assert "resourceVersion" not in pod["metadata"]
    assert (job["metadata"]["name"], job["metadata"]["uid"]) == (owner["name"], owner["uid"])
    assert job["metadata"]["labels"]["agent.benjamin-borbe.de/task-id"] == \
        pod["metadata"]["labels"]["agent.benjamin-borbe.de/task-id"]
    assert job["spec"]["selector"]["matchLabels"].items() <= \
        job["spec"]["template"]["metadata"]["labels"].items()
    puts = populate.agent_puts(7, "ns")
    assert len(puts) == 2


def test_the_go_programs_cache_key_follows_its_sources(tmp_path: Path) -> None:
    for name in gobuild.SOURCES:
        (tmp_path / name).write_text(f"{name}\n")
    key = gobuild.source_key(tmp_path)
    assert key == gobuild.source_key(tmp_path)
    (tmp_path / "main.go").write_text("package main\n")
    assert gobuild.source_key(tmp_path) != key
