"""Experiments and their honest evaluation: config files, cross-validation, reports."""

from emovox.evaluation.cv import load_manifest, run_cv
from emovox.evaluation.experiment import Experiment, load_experiment

__all__ = ["Experiment", "load_experiment", "load_manifest", "run_cv"]
