"""Training loop: AdamW, early stopping on validation UAR, LR schedules, mixup, checkpoints,
and resume that reproduces the uninterrupted run exactly (all RNG state is checkpointed)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from emovox.errors import ConfigError
from emovox.training.data import Batch, SequenceData, VectorData
from emovox.training.metrics import uar

Data = VectorData | SequenceData


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    scheduler: str = "plateau"  # "plateau" (on validation UAR), "cosine" or "none"
    plateau_patience: int = 5
    plateau_factor: float = 0.5
    min_lr: float = 1e-5
    patience: int = 15  # early stopping: epochs without a better validation UAR
    class_weights: bool = False
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0  # > 0: mixup (Zhang et al. 2018) on vector inputs
    grad_clip: float = 5.0
    checkpoint_every: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError("lr must be > 0 and weight_decay >= 0")
        if self.scheduler not in ("plateau", "cosine", "none"):
            raise ConfigError(f"scheduler must be plateau, cosine or none, got {self.scheduler!r}")
        if self.patience < 1 or self.checkpoint_every < 1:
            raise ConfigError("patience and checkpoint_every must be >= 1")
        if not 0 <= self.label_smoothing < 1 or self.mixup_alpha < 0:
            raise ConfigError("label_smoothing must be in [0, 1) and mixup_alpha >= 0")


@dataclass
class TrainResult:
    best_state: dict[str, torch.Tensor]
    best_epoch: int
    best_val_uar: float
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int = 0  # epochs restored from a checkpoint; 0 for a run from scratch


def logits_of(model: nn.Module, batch: Batch) -> torch.Tensor:
    if getattr(model, "takes_sequences", False):
        return model(batch.x, lengths=batch.lengths)[0]
    return model(batch.x)


@torch.no_grad()
def predict_proba(model: nn.Module, data: Data, batch_size: int = 256) -> np.ndarray:
    """Class probabilities (n, classes) in data order, in eval mode."""
    model.eval()
    out = [torch.softmax(logits_of(model, b), dim=-1) for b in data.batches(batch_size)]
    return torch.cat(out).numpy()


def class_weights(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Inverse-frequency weights, mean 1 over the classes present."""
    counts = torch.bincount(y, minlength=num_classes).float()
    weights = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)), torch.zeros(()))
    return weights / weights[counts > 0].mean()


class Trainer:
    """Fits one model on one training part, selecting the epoch by validation UAR.

    With `checkpoint_dir`, it writes `last.pt` every `checkpoint_every` epochs (everything
    needed to resume, loaded with `weights_only=True`) and `epochs.jsonl` (one line per epoch);
    `fit(..., resume=True)` continues from `last.pt` and ends where an uninterrupted run ends
    (a run that had finished returns at once), refusing a checkpoint written under other
    settings; without `resume` the epoch log starts afresh.
    """

    def __init__(
        self, config: TrainConfig, checkpoint_dir: str | Path | None = None, progress: bool = True
    ) -> None:
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress

    @staticmethod
    def _restore(last: Path, c: Any, model: nn.Module, optimizer: Any, scheduler: Any,
                 generator: torch.Generator) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:  # fmt: skip
        """Model, optimiser, scheduler, random state and progress from `last`; a `ConfigError`
        naming the file for one that is truncated, foreign (`weights_only` refuses any pickled
        code), of other settings or of another model."""
        try:
            saved = torch.load(last, weights_only=True)
            recorded = json.loads(saved["config"])
        except Exception as exc:  # torch raises many kinds for a bad file; none may escape raw
            raise ConfigError(f"{last}: not a readable emovox checkpoint ({type(exc).__name__}); "
                              "delete it to start afresh") from None  # fmt: skip
        current = json.loads(json.dumps(asdict(c)))
        changed = sorted(k for k, v in recorded.items() if current.get(k) != v)
        if changed:
            raise ConfigError(f"{last} was written under other training settings ({', '.join(changed)}); "
                              "resume with the same config or start afresh")  # fmt: skip
        try:
            model.load_state_dict(saved["model"])
        except RuntimeError as error:
            raise ConfigError(f"{last} holds another model's weights: {error}") from error
        try:
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(saved["scheduler"])
            generator.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])
            return json.loads(saved["state"]), saved["best_model"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"{last}: an incomplete checkpoint ({type(exc).__name__}: {exc})") from None

    def _scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        c = self.config
        if c.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=c.plateau_factor, patience=c.plateau_patience, min_lr=c.min_lr
            )
        if c.scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs, eta_min=c.min_lr)
        return None

    def _loss(
        self, model: nn.Module, batch: Batch, criterion: nn.Module, generator: torch.Generator
    ) -> torch.Tensor:
        alpha = self.config.mixup_alpha
        if alpha > 0 and batch.lengths is None:
            lam = float(torch.distributions.Beta(alpha, alpha).sample())
            perm = torch.randperm(len(batch.y), generator=generator)
            mixed = Batch(lam * batch.x + (1 - lam) * batch.x[perm], batch.y)
            logits = logits_of(model, mixed)
            return lam * criterion(logits, batch.y) + (1 - lam) * criterion(logits, batch.y[perm])
        return criterion(logits_of(model, batch), batch.y)

    def fit(
        self, model: nn.Module, train: Data, val: Data, num_classes: int, resume: bool = False
    ) -> TrainResult:
        c = self.config
        for part, data in (("training", train), ("validation", val)):
            if len(data) == 0:
                raise ConfigError(f"the {part} part is empty: check the protocol's speakers and labels")
        torch.manual_seed(c.seed)
        generator = torch.Generator().manual_seed(c.seed)
        optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        scheduler = self._scheduler(optimizer)
        weight = class_weights(train.y, num_classes) if c.class_weights else None
        criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=c.label_smoothing)
        state = {"epoch": 0, "best_uar": -math.inf, "best_epoch": 0, "bad_epochs": 0, "history": []}
        best_state = {k: v.clone() for k, v in model.state_dict().items()}
        last = self.checkpoint_dir / "last.pt" if self.checkpoint_dir else None
        if resume and last is not None and last.exists():
            state, best_state = self._restore(last, c, model, optimizer, scheduler, generator)
        resumed_from = state["epoch"]
        if self.checkpoint_dir is not None:
            self._keep_log(resumed_from)
        started = time.perf_counter()
        # a resumed run that had already stopped early has nothing left to train
        first = c.epochs if state["bad_epochs"] >= c.patience else resumed_from
        bar = tqdm(
            range(first, c.epochs),
            desc="epochs",
            unit="epoch",
            disable=not self.progress,
            leave=False,
        )
        for epoch in bar:
            model.train()
            total, count = 0.0, 0
            for batch in train.batches(c.batch_size, generator, train=True):
                optimizer.zero_grad()
                loss = self._loss(model, batch, criterion, generator)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
                optimizer.step()
                total += loss.item() * len(batch.y)
                count += len(batch.y)
            probs = predict_proba(model, val)
            val_uar = uar(val.y.numpy(), probs.argmax(axis=1))
            val_loss = float(
                nn.functional.nll_loss(torch.log(torch.from_numpy(probs).clamp_min(1e-9)), val.y)
            )
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_uar)
            elif scheduler is not None:
                scheduler.step()
            record = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": val_loss,
                      "val_uar": val_uar, "lr": optimizer.param_groups[0]["lr"]}  # fmt: skip
            state["history"].append(record)
            if val_uar > state["best_uar"]:
                state.update(best_uar=val_uar, best_epoch=epoch + 1, bad_epochs=0)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch + 1
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_uar=f"{val_uar:.3f}")
            stop = state["bad_epochs"] >= c.patience
            if self.checkpoint_dir is not None:
                self._log(record)
                if (epoch + 1) % c.checkpoint_every == 0 or stop or epoch + 1 == c.epochs:
                    self._checkpoint(model, optimizer, scheduler, best_state, generator, state)
            if stop:
                break
        bar.close()
        return TrainResult(best_state, state["best_epoch"], state["best_uar"], state["history"],
                           time.perf_counter() - started, resumed_from)  # fmt: skip

    def _keep_log(self, epochs: int) -> None:
        """Start the epoch log afresh, keeping the lines of the epochs a resumed run restored
        (those logged after its last checkpoint are run, and logged, again)."""
        assert self.checkpoint_dir is not None
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        log = self.checkpoint_dir / "epochs.jsonl"
        kept = log.read_text().splitlines(keepends=True)[:epochs] if epochs and log.exists() else []
        log.write_text("".join(kept))

    def _log(self, record: dict[str, float]) -> None:
        assert self.checkpoint_dir is not None
        with open(self.checkpoint_dir / "epochs.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    def _checkpoint(self, model, optimizer, scheduler, best_state, generator, state) -> None:
        assert self.checkpoint_dir is not None
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else {},
            "best_model": best_state,
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "state": json.dumps(state),
            "config": json.dumps(asdict(self.config)),
        }
        tmp = self.checkpoint_dir / "last.pt.tmp"
        torch.save(payload, tmp)
        tmp.replace(self.checkpoint_dir / "last.pt")
