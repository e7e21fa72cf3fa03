"""Training scripts for the hubmodels families (``python -m train.<family>``).

:mod:`train.loop` is the harness every script runs: common options, run folders, exact resume and
``--init-from`` fine-tuning, the training loop (EMA, checkpoints, samples, log) and publishing with a
model card. A family script (``train/<family>.py``) is a :class:`train.loop.Family`: its options,
data, networks, training step, sample grid, metrics and card text. :mod:`train.common` holds the small
helpers both use (accelerate setup, step-seeded RNG, EMA, atomic checkpoints, grids, provenance).
"""
