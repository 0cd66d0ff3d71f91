"""Sweeps: Hydra multiruns over systems x models x data fractions x PEFT methods x seeds.

Layout of one sweep (``outputs/sweeps/<name>/``)::

    jobs/<override dirname>/     one stable directory per job (cell x seed): the run dir of
                                 ``tod_lab.pipeline.run`` (config.yaml, status.json,
                                 metrics.json, checkpoints/, predictions/, wandb/)
    <timestamp>/                 one collection: results.csv, results.md, jobs.csv, plots
    latest -> <timestamp>        the newest collection

Job directories are named by the job's overrides, so re-running the same sweep lands every
job in the directory it used before: a finished job with the same config hash is skipped,
an interrupted one resumes from ``checkpoints/last.ckpt`` (see :mod:`tod_lab.sweep.job`).

Entry points: ``python -m tod_lab.sweep.run <name> [overrides]`` (``make sweep``) and
``python -m tod_lab.sweep.collect DIR``.
"""
