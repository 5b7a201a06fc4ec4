"""zombiewatch benchmarks: ``python -m benchmarks`` runs them all (see docs/PERFORMANCE.md)."""
