"""Ferry's benchmarks: each figure of SPEC §10 beside its raw limit, measured in one run.

Run them all with ``make bench`` (``python -m bench``), or some by name
(``python -m bench claims``). A benchmark is a module of this package with a
``run() -> list[Row]`` function (see :mod:`bench.report`); it starts whatever
servers it needs and stops them before returning. Adding a module is enough
for ``python -m bench`` to run it.
"""
