"""logitrank.experiments — one module per experiment (config per profile, compute, result type).

Each public module defines ``EXPERIMENT`` (an :class:`Experiment`); :func:`logitrank.jobs.all_jobs`
discovers them with pkgutil, so adding an experiment is adding a module here (and its figure
module in :mod:`logitrank.paper_figs`, and a README row). Figure modules import the result
types from here and only plot them. This package never imports the command line.
"""

from logitrank.experiments._base import Claim, Experiment, Result, config_from_dict, config_record

__all__ = ["Claim", "Experiment", "Result", "config_from_dict", "config_record"]
