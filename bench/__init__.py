"""DWC benchmarks: each module compares DWC against the peer a user would pick instead,
in the same run. Run one with ``python -m bench NAME [--quick]``; see docs/benchmarks.md."""
