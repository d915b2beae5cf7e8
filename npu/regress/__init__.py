"""Regression suites (``npu regress``): cases of models on configs, baselines of what each
holds (outputs, cycles per layer, DRAM traffic, energy, memory), a report of what moved in
LNT's vocabulary, JUnit XML for CI, and a pytest fixture (``npu_regress``).

The stages, one module each: ``suite`` (the TOML file), ``metrics`` (what can be held, the
rules), ``measure`` (compile and simulate), ``baseline`` (the recorded values and the change
log), ``compare`` (diffs and statuses), ``runner`` (check or update a suite), ``report``,
``junit``, ``pytest_plugin``. See docs/regressions.md.
"""
