"""Training scripts for the hubmodels families (``python -m train.<family>``).

:mod:`train.common` holds what every family shares: accelerate setup, step-seeded sampling,
EMA, atomic checkpoints with exact resume, progress bar, sample grids and publishing.
"""
