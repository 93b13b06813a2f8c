"""One directory per trained model, loadable without executing code:

- `weights.safetensors`: the network's tensors; `scaler.safetensors`: the standardisation;
- `config.json`: model family and parameters, feature set and settings, audio settings, labels;
- `metadata.json`: training corpora, protocol, seed, metrics, package versions;
- `MODEL_CARD.md`: the same for people.

Loading checks the format version, the feature set and every shape, with clear errors. A
classical model loads without PyTorch (numpy arrays); a network needs it.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file as load_numpy
from safetensors.numpy import save_file as save_numpy

from emovox import __version__
from emovox.audio import AudioConfig
from emovox.corpora import LANGUAGES, LICENCES
from emovox.errors import EmovoxError
from emovox.features import FeatureExtractor, get_extractor
from emovox.models.classical import GRIDS, ArrayModel, LogisticModel, SvmModel, from_arrays
from emovox.tensorfile import declared_shapes, mismatched
from emovox.training.calibration import Calibration
from emovox.training.scaler import Standardizer

if TYPE_CHECKING:
    from torch import nn

FORMAT = "emovox-model"
FORMAT_VERSION = 1


class ArtifactError(EmovoxError):
    """A model directory that is missing, incomplete, from another format version, or inconsistent."""


def needs_torch(where: str, what: str) -> ArtifactError:
    """The error for a model that cannot run without PyTorch (an install of emovox alone)."""
    return ArtifactError(f"{where}: {what} needs PyTorch (pip install 'emovox[torch]')")


@dataclass
class ModelArtifact:
    """A trained model with everything needed to turn audio into class probabilities."""

    model: nn.Module | ArrayModel  # a network (PyTorch), or a classical model kept as arrays
    model_name: str
    model_params: dict[str, Any]
    extractor: FeatureExtractor
    audio: AudioConfig
    scaler: Standardizer
    labels: tuple[str, ...]
    metadata: dict[str, Any]

    @property
    def is_network(self) -> bool:
        """True for a PyTorch network, False for a classical model (numpy arrays)."""
        return not isinstance(self.model, LogisticModel | SvmModel)

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        if self.is_network:
            from safetensors.torch import save_file

            save_file({k: v.detach().contiguous() for k, v in self.model.state_dict().items()},
                      out / "weights.safetensors")  # fmt: skip
        else:
            save_numpy({k: np.ascontiguousarray(v) for k, v in self.model.arrays().items()},
                       out / "weights.safetensors")  # fmt: skip
        save_numpy({"mean": self.scaler.mean, "std": self.scaler.std}, out / "scaler.safetensors")
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": {"name": self.model_name, "params": self.model_params},
            "features": {"set": self.extractor.name, **self.extractor.config_dict()},
            "input_dim": self.extractor.dim,
            "audio": self.audio.to_dict(),
            "labels": list(self.labels),
        }
        (out / "config.json").write_text(json.dumps(config, indent=1))
        metadata = {**self.metadata, "versions": package_versions(), "saved": datetime.now(UTC).isoformat()}
        (out / "metadata.json").write_text(json.dumps(metadata, indent=1))
        (out / "MODEL_CARD.md").write_text(model_card(config, metadata))
        return out

    def predict_proba_signal(self, signal: np.ndarray) -> np.ndarray:
        """Probabilities for a prepared signal (see `emovox.audio.prepare_signal`)."""
        return self.predict_proba_features(self.extractor(signal))

    def predict_proba_features(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for one clip's features: (dim,) vector or (frames, dim) sequence."""
        return self.predict_proba_many([features])[0]

    def predict_proba_many(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """(clips, classes) probabilities for several clips' features."""
        scaled = [self.scaler(self.extractor.check(f)) for f in features]
        if not self.is_network:
            return self.model.predict_proba(np.stack(scaled).astype(np.float64))
        from emovox.training.data import SequenceData, VectorData
        from emovox.training.trainer import predict_proba

        self.model.eval()
        if getattr(self.model, "takes_sequences", False):
            data: SequenceData | VectorData = SequenceData(scaled, np.zeros(len(scaled), dtype=np.int64))
        else:
            data = VectorData(np.stack(scaled), np.zeros(len(scaled), dtype=np.int64))
        return predict_proba(self.model, data)


def package_versions() -> dict[str, str | None]:
    """What the model was made with (None: not installed)."""
    from importlib import metadata

    def version(distribution: str) -> str | None:
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            return None

    installed = {name: version(name) for name in ("torch", "numpy", "scipy", "scikit-learn")}
    return {"emovox": __version__, **installed, "python": platform.python_version()}


CONFIG_KEYS = {"format": str, "format_version": int, "model": dict, "features": dict, "input_dim": int,
               "audio": dict, "labels": list}  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or an `ArtifactError` naming the file and what is wrong."""
    if not path.is_file():
        raise ArtifactError(f"{path.parent}: missing {path.name}")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ArtifactError(f"{path}: must be a JSON object, got {type(value).__name__}")
    return value


def _checked_config(path: Path, config: dict[str, Any]) -> None:
    """Every field of config.json present, of its type, and nothing unknown."""
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ArtifactError(f"{path}: unknown field(s) {unknown}")
    for key, kind in CONFIG_KEYS.items():
        if key not in config:
            raise ArtifactError(f"{path}: missing field {key!r}")
        if not isinstance(config[key], kind) or isinstance(config[key], bool):
            raise ArtifactError(f"{path}: field {key!r} must be a {kind.__name__}, got {config[key]!r}")
    for key, fields in (
        ("model", {"name": str, "params": dict}),
        ("features", {"set": str, "settings": (dict, list)}),  # a combination: its parts' settings
    ):
        for field, kinds in fields.items():
            if not isinstance(config[key].get(field), kinds):
                names = " or ".join(k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,)))
                raise ArtifactError(f"{path}: field {key}.{field} must be a {names}")
    labels = config["labels"]
    if len(labels) < 2 or not all(isinstance(label, str) and label for label in labels):
        raise ArtifactError(f"{path}: labels must be two or more names, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise ArtifactError(f"{path}: duplicate labels in {labels!r}")


def _checked_arrays(path: Path, arrays: dict[str, Any], needed: Sequence[str] = ()) -> None:
    """The named arrays are there, and every array is finite."""
    for name in needed:
        if name not in arrays:
            raise ArtifactError(f"{path}: no {name!r} array")
    for name, array in arrays.items():
        values = array.numpy() if hasattr(array, "numpy") else np.asarray(array)  # a tensor, or an array
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            raise ArtifactError(f"{path}: {name!r} holds NaN or infinite values")


def load_model(directory: str | Path) -> ModelArtifact:
    """Load a model directory; raise `ArtifactError` naming the file and the field at fault."""
    source = Path(directory)
    if not source.is_dir():
        raise ArtifactError(f"{source}: no such model directory")
    config_path = source / "config.json"
    config = _read_json(config_path)
    metadata = _read_json(source / "metadata.json")
    try:
        Calibration.from_metadata(metadata)
    except EmovoxError as exc:
        raise ArtifactError(f"{source / 'metadata.json'}: {exc}") from None
    if config.get("format") != FORMAT:
        raise ArtifactError(f"{source}: not an emovox model (format {config.get('format')!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{source}: format version {config.get('format_version')}, this emovox reads {FORMAT_VERSION}"
        )
    _checked_config(config_path, config)
    try:
        extractor = get_extractor(config["features"]["set"])
        audio = AudioConfig(**config["audio"])
    except (EmovoxError, TypeError) as exc:
        raise ArtifactError(f"{config_path}: {exc}") from None
    if audio.sample_rate != extractor.sample_rate:  # the features are only defined at their own rate
        raise ArtifactError(f"{config_path}: audio.sample_rate {audio.sample_rate}; {extractor.name} "
                            f"features are computed at {extractor.sample_rate} Hz")  # fmt: skip
    if audio.max_seconds is None:
        raise ArtifactError(f"{config_path}: audio.max_seconds must be a number of seconds (the input's cap)")
    if config["features"].get("version") != extractor.version:
        raise ArtifactError(
            f"{config_path}: features.version {config['features'].get('version')!r}; this emovox computes "
            f"{extractor.name} version {extractor.version}"
        )
    if extractor.config_dict()["settings"] != config["features"]["settings"]:
        raise ArtifactError(f"{source}: saved with other {extractor.name} settings than this emovox computes")
    saved_weights = config["features"].get("weights_sha256")  # a pretrained encoder's, for backbone sets
    if saved_weights != extractor.config_dict().get("weights_sha256"):
        raise ArtifactError(f"{source}: trained on {extractor.name} weights with sha256 {saved_weights}; "
                            f"this emovox ships {extractor.config_dict().get('weights_sha256')}")  # fmt: skip
    labels = tuple(config["labels"])
    if extractor.dim != config["input_dim"]:
        raise ArtifactError(
            f"{source}: input_dim {config['input_dim']} but {extractor.name} gives {extractor.dim}"
        )
    name = config["model"]["name"]
    classical = name in GRIDS
    dim, classes = extractor.dim, len(labels)
    _declared(
        source / "scaler.safetensors",
        {"mean": (dim,), "std": (dim,)},
        f"the scaler does not fit {extractor.name}",
    )
    fits = f"weights do not fit {name}"
    network = None
    if classical:
        _declared(source / "weights.safetensors", {"coef": (classes, dim), "intercept": (classes,)}
                  if name == "logreg" else {}, fits)  # fmt: skip
    else:
        try:
            from emovox.models.registry import build_model  # sizes checked: no config asks for much
        except ImportError:
            raise needs_torch(str(source), "a neural network") from None
        try:
            network = build_model(name, dim, classes, config["model"]["params"])
        except EmovoxError as exc:
            raise ArtifactError(f"{config_path}: {exc}") from None
        shapes = {k: tuple(v.shape) for k, v in network.state_dict().items()}
        _declared(source / "weights.safetensors", shapes, fits)
    try:
        scaler_arrays = load_numpy(source / "scaler.safetensors")
        weights = (load_numpy if classical else _load_tensors)(source / "weights.safetensors")
    except (OSError, SafetensorError) as exc:
        raise ArtifactError(f"{source}: cannot read weights or scaler ({exc})") from exc
    _checked_arrays(source / "scaler.safetensors", scaler_arrays, ("mean", "std"))
    _checked_arrays(source / "weights.safetensors", weights)
    scaler = Standardizer(scaler_arrays["mean"], scaler_arrays["std"])
    if scaler.mean.shape != (extractor.dim,) or scaler.std.shape != (extractor.dim,):
        raise ArtifactError(
            f"{source / 'scaler.safetensors'}: mean {scaler.mean.shape} and std {scaler.std.shape}, "
            f"expected ({extractor.dim},) each"
        )
    if not np.all(scaler.std > 0):
        raise ArtifactError(f"{source / 'scaler.safetensors'}: 'std' must be > 0 everywhere")
    model = _classical_model(source, name, weights, extractor.dim, len(labels)) if classical else network
    if network is not None:
        try:
            network.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ArtifactError(f"{source}: weights do not fit {name}: {exc}") from exc
        network.eval()
    return ModelArtifact(
        model, config["model"]["name"], config["model"]["params"], extractor, audio, scaler, labels, metadata,
    )  # fmt: skip


def _declared(path: Path, expected: dict[str, tuple[int, ...]], what: str) -> None:
    """Refuse, from the header alone, a tensor file with a tensor of another shape than `expected`
    (`what` does not fit) or asking for more memory than any model holds: before anything is
    allocated. Missing tensors are left to the checks after loading."""
    if not path.is_file():
        raise ArtifactError(f"{path.parent}: missing {path.name}")
    try:
        declared = declared_shapes(path)
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: cannot read it as safetensors ({exc})") from None
    problem = mismatched(
        {k: v for k, v in declared.items() if k in expected},
        {k: v for k, v in expected.items() if k in declared},
    )
    if problem:
        raise ArtifactError(f"{path}: {what}: {problem}")


def _load_tensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise needs_torch(str(path.parent), "a neural network") from None
    return load_file(path)


def _classical_model(
    source: Path, name: str, arrays: dict[str, np.ndarray], dim: int, classes: int
) -> ArrayModel:
    try:
        model = from_arrays(name, arrays)
        probabilities = model.predict_proba(np.zeros((1, dim)))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ArtifactError(f"{source}: weights do not fit {name}: {exc}") from exc
    if probabilities.shape != (1, classes):
        raise ArtifactError(
            f"{source}: weights do not fit {name}: {probabilities.shape[1]} classes, not {classes}"
        )
    return model


def spoken(languages: list[str]) -> str:
    """ "English", "English and German", "Amharic, English and German"."""
    return " and ".join([", ".join(languages[:-1]), languages[-1]] if len(languages) > 1 else languages)


LOCO_COLUMNS = (("uar", "UAR %"), ("wa", "WA %"), ("first_second_uar", "first second %"),
                ("adapted_uar", "adapted %"))  # fmt: skip
LOCO_MEANS = {"uar": "on whole clips", "first_second_uar": "on their first second of speech",
              "adapted_uar": "with each speaker's clips normalising themselves (`--adapt`)"}  # fmt: skip


def confidence_section(metadata: dict[str, Any]) -> list[str]:
    """The card's words on corpora never trained on and on how far to trust a probability."""
    lines = []
    loco = metadata.get("leave_one_corpus_out")
    if loco:
        scored = [(key, title) for key, title in LOCO_COLUMNS if key in loco["corpora"][0]]
        means = [f"{100 * loco[f'{key}_mean']:.1f} % {LOCO_MEANS[key]}" for key, _ in scored
                 if f"{key}_mean" in loco]  # fmt: skip
        lines += [
            "",
            "## On corpora it never heard",
            "",
            "The same recipe trained on all corpora but one and tested per file on the one left out "
            f"(languages, rooms and speakers never heard; `{loco['script']}`): mean UAR {', '.join(means)}. "
            "Most frequent prediction and calibration error on the whole clips, unadapted:",
            "",
            "| " + " | ".join(["held-out corpus", *(title for _, title in scored),
                               "most frequent prediction", "ECE"]) + " |",
            "|---|" + "---:|" * len(scored) + "---|---:|",
            *("| " + " | ".join([r["corpus"], *(f"{100 * r[key]:.1f}" for key, _ in scored),
                                f"{r['top_label']} {100 * r['top_share']:.0f} %", f"{r['ece']:.3f}"]) + " |"
              for r in loco["corpora"]),
        ]  # fmt: skip
    calibration = metadata.get("calibration")
    if calibration:
        lines += [
            "",
            "## Confidence",
            "",
            f"Probabilities are temperature-scaled (T = {calibration['temperature']:.2f}, fitted on "
            f"{calibration['fitted_on']}; expected calibration error there "
            f"{calibration['ece_before']:.3f} before, {calibration['ece_after']:.3f} after). A prediction "
            f"whose top probability is below {calibration['uncertain_below']:g} is flagged `uncertain`: "
            "it is more likely wrong than right.",
        ]
    return lines


def model_card(config: dict[str, Any], metadata: dict[str, Any]) -> str:
    cv = metadata.get("cross_validation")
    corpora = metadata.get("corpora", [])
    known = [c for c in corpora if c in LANGUAGES]  # emovox's readers: acted corpora it knows
    own = [c for c in corpora if c not in LANGUAGES]
    languages = sorted({LANGUAGES[c] for c in known})
    held_out = metadata.get("held_out_speakers") or []
    lines = [
        f"# emovox model: {config['model']['name']} on {config['features']['set']}",
        "",
        f"Labels ({len(config['labels'])}): {', '.join(config['labels'])}.",
        "",
        "## Training data",
        "",
        *(
            [
                "- Corpora (emotional speech, mostly acted), with their terms: the model inherits them,",
                "  so it is for non-commercial research use only:",
                *(f"  - {c}: {LANGUAGES[c]}; {LICENCES[c]}" for c in known),
            ]
            if known
            else []
        ),
        *(
            [
                f"- Your own data: {', '.join(own)} (its language, recording set-up and speakers are "
                "not known to emovox: describe them here)."
            ]
            if own
            else []
        ),
        f"- Training speakers: {len(metadata.get('train_speakers', []))}"
        + (
            f"; validation speakers (early stopping): {', '.join(metadata['val_speakers'])}."
            if metadata.get("val_speakers")
            else "."
        ),
        *([f"- Held out of all training: {', '.join(held_out)}."] if held_out else []),
        f"- Seed: {metadata.get('seed')}; {metadata.get('selection', 'selection not recorded')}.",
        "",
        "## Evaluation",
        "",
    ]
    if cv:
        lines.append(
            f"Speaker-independent cross-validation (`{cv['protocol']}`, no speaker in both training and "
            f"test): UAR {100 * cv['uar_mean']:.1f} ± {100 * cv['uar_std']:.1f} %, "
            f"WA {100 * cv['wa_mean']:.1f} ± {100 * cv['wa_std']:.1f} %. Recall per class:"
        )
        lines.append("")
        lines += [f"- {label}: {100 * r:.1f} %" for label, r in cv.get("per_class_recall", {}).items()]
        if cv.get("confusions"):
            lines += ["", "Its most frequent mistakes in that evaluation:", ""]
            lines += [f"- {c['true']} heard as {c['predicted']}: {100 * c['rate']:.1f} % of {c['true']} clips"
                      for c in cv["confusions"]]  # fmt: skip
    else:
        lines.append("No cross-validation report was attached (`emovox train --cv-report`).")
    lines += confidence_section(metadata)
    lines += [
        "",
        "## Known limits",
        "",
        *(
            [
                "- Trained on acted or read emotional speech, mostly recorded in quiet rooms: spontaneous",
                "  emotion is subtler and often mixed, so expect many real-world clips to come out as",
                "  neutral or as the nearest strong emotion, and lower accuracy than above.",
            ]
            if known and not own
            else []
        ),
        "- Rooms, microphones, phone lines, noise and music change the sound; across corpora (another",
        "  language, room and cast) accuracy drops a long way (see the README's cross-corpus tables).",
        *(
            [f"- Only {spoken(languages)} speech was seen; other languages and accents are untested."]
            if known and not own
            else ["- Speech unlike the training clips (other languages, speakers, rooms) is untested."]
        ),
        "- One label per clip; use a timeline for recordings whose emotion changes.",
        "- Not for decisions about people: emotion recognition from voice is unreliable evidence.",
        "",
        f"Versions: {json.dumps(metadata.get('versions', {}))}",
    ]
    return "\n".join(lines) + "\n"
