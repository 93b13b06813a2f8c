"""Trained-model directories: saved and loaded without pickle."""

from emovox.artifact.ensemble import EnsembleArtifact, combine, load_any, load_ensemble
from emovox.artifact.store import ArtifactError, ModelArtifact, load_model

__all__ = [
    "ArtifactError",
    "EnsembleArtifact",
    "ModelArtifact",
    "combine",
    "load_any",
    "load_ensemble",
    "load_model",
]
