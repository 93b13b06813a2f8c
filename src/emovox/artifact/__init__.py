"""Trained-model directories: saved and loaded without pickle."""

from emovox.artifact.store import ArtifactError, ModelArtifact, load_model

__all__ = ["ArtifactError", "ModelArtifact", "load_model"]
