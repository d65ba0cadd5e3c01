"""The records of a curve analysis: checkpoints with overfit ratios, diagnoses, RFT candidates, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._hidden import HiddenTokenCorrection
from ._table import CurveTable, r
from ._thresholds import BANDS, OVERFIT_FACTOR  # noqa: F401  (re-exported)

SCHEMA_VERSION = 1


def overfit_band(ratio: float | None) -> str | None:
    """The band name of a valid/train ratio (``None`` when the ratio is unknown)."""
    if ratio is None:
        return None
    for upper, name, _ in BANDS:
        if ratio < upper or (name == "moderate" and ratio <= upper):
            return name
    return "severe"


def band_meaning(band: str | None) -> str:
    """The one-line interpretation of a band."""
    return next((m for _, n, m in BANDS if n == band), "unknown")


@dataclass(frozen=True)
class CheckpointPoint:
    """A step where a validation loss is known: the candidates for "best checkpoint"."""

    step: int
    """Training step."""
    epoch: int | None
    """1-based epoch the step falls in (``None`` when epochs are unknown)."""
    train_loss: float | None
    """Smoothed training loss at this step."""
    valid_loss: float
    """Measured validation loss used for selection (full_valid_loss where measured, else valid_loss)."""
    valid_source: str
    """Which series ``valid_loss`` comes from: ``full_valid_loss`` or ``valid_loss`` (as measured)."""
    overfit_ratio: float | None
    """valid_loss / train_loss."""
    overfit_band: str | None
    """healthy / mild / moderate / severe."""
    model: str | None = None
    """Deployable checkpoint model name, where known."""
    is_checkpoint: bool = False
    """True when this step is a saved (deployable) checkpoint."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "train_loss": r(self.train_loss, 6),
            "valid_loss": r(self.valid_loss, 6),
            "valid_source": self.valid_source,
            "overfit_ratio": r(self.overfit_ratio),
            "overfit_band": self.overfit_band,
            "model": self.model,
            "is_checkpoint": self.is_checkpoint,
        }


@dataclass(frozen=True)
class Diagnosis:
    """One fired rule: what was seen (evidence), what it means and what to do."""

    id: str
    """Stable rule id, e.g. ``valid_rises``."""
    severity: str
    """``info``, ``warning`` or ``error``."""
    observation: str
    """What the curves show, e.g. "Valid loss rises after epoch 2"."""
    diagnosis: str
    """The likely cause."""
    evidence: dict[str, Any]
    """Numbers and steps behind the observation."""
    action: str
    """What to do."""

    @property
    def message(self) -> str:
        """One line: observation, cause and action."""
        return f"{self.observation} -> {self.diagnosis}. {self.action}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "id": self.id,
            "severity": self.severity,
            "observation": self.observation,
            "diagnosis": self.diagnosis,
            "evidence": self.evidence,
            "action": self.action,
            "message": self.message,
        }


@dataclass(frozen=True)
class RftCandidate:
    """An RFT checkpoint to evaluate with the task harness (peak reward, final, mid-training)."""

    step: int
    """Training step."""
    reasons: list[str]
    """Why it is a candidate: ``peak``, ``final``, ``mid``."""
    train_reward: float | None
    """Smoothed train reward at the step."""
    valid_reward: float | None
    """Validation reward at the step (where measured)."""
    completion_tokens: float | None
    """Smoothed mean completion tokens at the step."""
    model: str | None = None
    """Deployable checkpoint model name, where known."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "step": self.step,
            "reasons": self.reasons,
            "train_reward": r(self.train_reward),
            "valid_reward": r(self.valid_reward),
            "completion_tokens": r(self.completion_tokens, 1),
            "model": self.model,
        }


@dataclass
class RftSummary:
    """RFT facts: reward at start/end/peak, token growth and the candidates."""

    candidates: list[RftCandidate]
    """2-3 checkpoints to evaluate (peak reward, final, mid-training)."""
    facts: dict[str, Any]
    """Start/end/peak rewards, token ratios, error totals."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"candidates": [c.to_dict() for c in self.candidates], **self.facts}


@dataclass
class CurveReport:
    """The analysis of one fine-tuning run. ``to_dict()`` goes into run.json ``curves``."""

    label: str
    """Short name used in file names (``curves/<label>_loss.png``)."""
    table: CurveTable
    """The (possibly hidden-token corrected) table analysed."""
    n_epochs: int | None
    """Number of epochs (``None`` = unknown)."""
    epoch_ends: list[int]
    """Last step of each epoch."""
    epochs_source: str | None
    """Where the epochs came from (config, job hyperparameters, trainer state, inferred...)."""
    smoothing_window: int
    """Window (in measurements) of the centred moving average applied to per-step train loss."""
    points: list[CheckpointPoint] = field(default_factory=list)
    """Steps with a validation loss (saved checkpoints where known)."""
    best: CheckpointPoint | None = None
    """Lowest validation loss (full_valid where present)."""
    overfit_warning: bool = False
    """True when the final valid loss exceeds 1.2 x the best."""
    overfit_message: str | None = None
    """``OVERFIT: best=..., final=...`` when the warning fires."""
    diagnoses: list[Diagnosis] = field(default_factory=list)
    """Fired SFT and RFT rules."""
    hidden: HiddenTokenCorrection | None = None
    """Hidden-token correction applied (or stated as not applied)."""
    rft: RftSummary | None = None
    """RFT summary when the run has rewards."""
    notes: list[str] = field(default_factory=list)
    """What the reader and the analysis decided."""
    plots: dict[str, str] = field(default_factory=dict)
    """Plot kind -> path relative to the output folder (set by ``write_curve_outputs``)."""

    @property
    def final(self) -> CheckpointPoint | None:
        """The last point with a validation loss."""
        return self.points[-1] if self.points else None

    @property
    def best_step(self) -> int | None:
        """Step of the best checkpoint."""
        return self.best.step if self.best else None

    @property
    def best_valid_loss(self) -> float | None:
        """Valid loss of the best checkpoint."""
        return self.best.valid_loss if self.best else None

    @property
    def final_valid_loss(self) -> float | None:
        """Valid loss at the last point."""
        return self.final.valid_loss if self.final else None

    @property
    def overfit_ratio(self) -> float | None:
        """valid/train at the last point."""
        return self.final.overfit_ratio if self.final else None

    @property
    def overfit_band(self) -> str | None:
        """Band of :attr:`overfit_ratio`."""
        return self.final.overfit_band if self.final else None

    @property
    def kind(self) -> str:
        """``sft`` or ``rft``."""
        return self.table.kind

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (no NaN; the per-step table is left out)."""
        t = self.table
        return {
            "schema_version": SCHEMA_VERSION,
            "label": self.label,
            "source": t.source,
            "format": t.format,
            "kind": self.kind,
            "n_steps": len(t.steps),
            "first_step": t.steps[0] if t.steps else None,
            "last_step": t.steps[-1] if t.steps else None,
            "n_epochs": self.n_epochs,
            "epoch_ends": self.epoch_ends,
            "epochs_source": self.epochs_source,
            "smoothing_window": self.smoothing_window,
            "best_step": self.best_step,
            "best_valid_loss": r(self.best_valid_loss, 6),
            "best_valid_source": self.best.valid_source if self.best else None,
            "best_checkpoint_model": self.best.model if self.best else None,
            "final_step": self.final.step if self.final else None,
            "final_valid_loss": r(self.final_valid_loss, 6),
            "overfit_ratio": r(self.overfit_ratio),
            "overfit_band": self.overfit_band,
            "overfit_warning": self.overfit_warning,
            "overfit_message": self.overfit_message,
            "checkpoints": [p.to_dict() for p in self.points],
            "diagnoses": [d.to_dict() for d in self.diagnoses],
            "hidden_tokens": self.hidden.to_dict() if self.hidden else None,
            "rft": self.rft.to_dict() if self.rft else None,
            "notes": self.notes,
            "plots": dict(self.plots),
            "meta": {k: v for k, v in t.meta.items() if isinstance(v, (str, int, float, bool)) or v is None},
        }
