"""Labels back: adapt the model's last layer on the labels of the picks, and say what changed.

The head is recovered from the pool itself: every model here ends in a linear layer on z, so
logits = z W^T + b, and a least-squares fit of the logits on (z, 1) returns (W, b) (its
relative error is reported: near 0 for a linear head). The head is then trained on the labelled
picks by full-batch gradient descent on cross-entropy plus ``l2 / 2 * |W - W0|^2`` (it stays
near the model it starts from), with the step 1 / L from the loss's curvature bound (softmax
Hessian <= 1/2: L = 1/2 lambda_max(X^T X / n) + l2), so every step lowers the loss.
Deterministic: no randomness anywhere.

What changed on the whole pool: the predicted class mix and mean confidence before and after,
and the samples whose prediction flipped. Kept in the store under ``<root>/_labels/<id>/``
(``config.json``, ``summary.json``, ``flips.parquet``, ``labels.csv``, ``head.safetensors``);
the id hashes the pick, the labels' checksum and the training parameters.

Labels come as a CSV (``id,label``) or as Label Studio's JSON export (full or JSON-MIN). Bad
input is a ForgeLensError naming the file and the field, and nothing is written: unknown ids,
duplicate ids, a class the model lacks, a missing column.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import log_softmax, softmax

from core.base.validation import ForgeLensError, check_int_range
from core.run.pick_store import labels_dir, load_pick, pool_of
from core.storage.atomic import config_id
from core.storage.integrity import verify_folder
from core.storage.store import DONE, staged_folder

DEFAULT_STEPS = 300
DEFAULT_L2 = 1e-3


def _ls_choice(task: dict[str, Any]) -> tuple[Any, Any]:
    """(id, label) of one Label Studio export task (full export or JSON-MIN)."""
    data = task.get("data", task)
    ident = data.get("forgelens_id", data.get("id"))
    for annotation in reversed(task.get("annotations") or []):
        for result in annotation.get("result") or []:
            value = result.get("value") or {}
            for key in ("choices", "labels"):
                if value.get(key):
                    return ident, value[key][0]
    for key, value in task.items():  # JSON-MIN: the control's name -> choice
        if key not in ("forgelens_id", "id", "rank", "text", "image", "annotator") and (
            isinstance(value, str) and key not in ("created_at", "updated_at", "lead_time")
        ):
            return ident, value
    return ident, None


def read_labels(path: str | Path) -> list[tuple[str, str]]:
    """(id, label) pairs of a CSV ``id,label`` or a Label Studio JSON export."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ForgeLensError(
            f"labels file {str(path)!r} does not exist; allowed: a CSV with columns id,label "
            "or Label Studio's JSON export"
        )
    if path.suffix.lower() == ".json":
        try:
            tasks = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ForgeLensError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ForgeLensError(f"{path}: allowed: a JSON list of Label Studio tasks")
        pairs = []
        for number, task in enumerate(tasks):
            ident, label = _ls_choice(task)
            if ident is None:
                raise ForgeLensError(
                    f"{path}: task {number} has no field 'forgelens_id' in its data; allowed: "
                    "tasks imported from a ForgeLens labelstudio.json"
                )
            if label is not None:
                pairs.append((str(ident), str(label)))
        return pairs
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise ForgeLensError(f"{path}: not a readable CSV ({error})") from None
    missing = [c for c in ("id", "label") if c not in frame.columns]
    if missing:
        raise ForgeLensError(
            f"{path}: field(s) {', '.join(missing)} missing; it has "
            f"{', '.join(map(str, frame.columns)) or '-'}; allowed: columns id,label"
        )
    return [(i.strip(), v.strip()) for i, v in zip(frame["id"], frame["label"], strict=True)]


def check_labels(
    pairs: list[tuple[str, str]], ids: tuple[str, ...], class_names: tuple[str, ...], where: str
) -> dict[int, int]:
    """{pool row: class index}; errors for unknown or duplicate ids and unknown classes."""
    rows = {ident: row for row, ident in enumerate(ids)}
    classes = {name: k for k, name in enumerate(class_names)}
    out: dict[int, int] = {}
    seen: set[str] = set()
    for ident, label in pairs:
        if ident in seen:
            raise ForgeLensError(
                f"{where}: field 'id' holds {ident!r} twice; allowed: one label per id"
            )
        seen.add(ident)
        if ident not in rows:
            raise ForgeLensError(
                f"{where}: field 'id' holds {ident!r}, not an id of the picked pool; allowed: "
                "the ids of the pick's manifest"
            )
        if label == "":
            continue
        if label not in classes:
            raise ForgeLensError(
                f"{where}: field 'label' of id {ident!r} is {label!r}, a class the source model "
                f"lacks; allowed: {', '.join(class_names)}"
            )
        out[rows[ident]] = classes[label]
    if not out:
        raise ForgeLensError(f"{where}: no labels in it; allowed: at least one id with a label")
    return out


def fit_head(z: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(W (C, D), b (C,), relative RMS error) of the least-squares fit logits ~ z W^T + b."""
    z = np.asarray(z, dtype=np.float64)
    mean = z.mean(axis=0)
    design = np.hstack([z - mean, np.ones((len(z), 1))])
    target = np.asarray(logits, dtype=np.float64)
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    weight = solution[:-1].T
    bias = solution[-1] - weight @ mean
    residual = design @ solution - target
    scale = max(float(np.sqrt((target**2).mean())), 1e-12)
    return weight, bias, float(np.sqrt((residual**2).mean()) / scale)


def train_head(
    weight: np.ndarray,
    bias: np.ndarray,
    z: np.ndarray,
    y: np.ndarray,
    *,
    steps: int = DEFAULT_STEPS,
    l2: float = DEFAULT_L2,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Gradient descent from (W0, b0) on mean CE(z W^T + b, y) + l2/2 |W - W0|^2 with step
    1/L (module doc); returns (W, b, the objective after each step)."""
    x = np.hstack([np.asarray(z, dtype=np.float64), np.ones((len(z), 1))])
    theta0 = np.hstack([weight, bias[:, None]])  # (C, D + 1)
    theta = theta0.copy()
    onehot = np.eye(theta.shape[0])[y]
    curvature = 0.5 * float(np.linalg.eigvalsh(x.T @ x / len(x))[-1]) + l2
    step = 1.0 / curvature

    def objective(t: np.ndarray) -> float:
        ce = -(log_softmax(x @ t.T, axis=1) * onehot).sum(axis=1).mean()
        return float(ce + 0.5 * l2 * ((t[:, :-1] - theta0[:, :-1]) ** 2).sum())

    history = []
    for _ in range(steps):
        grad = (softmax(x @ theta.T, axis=1) - onehot).T @ x / len(x)
        grad[:, :-1] += l2 * (theta[:, :-1] - theta0[:, :-1])
        theta -= step * grad
        history.append(objective(theta))
    return theta[:, :-1], theta[:, -1], history


def _mix(pred: np.ndarray, c: int) -> list[int]:
    return np.bincount(pred, minlength=c).astype(int).tolist()


def labels_back(
    root: str | Path | None,
    pick_id: str,
    labels_file: str | Path,
    *,
    steps: int = DEFAULT_STEPS,
    l2: float = DEFAULT_L2,
) -> tuple[str, bool]:
    """Adapt the head on the labels of a stored pick and store what changed: (id, reused)."""
    steps = check_int_range("steps", steps, 1, 100_000)
    if not (isinstance(l2, int | float) and 0 <= l2 < float("inf")):
        raise ForgeLensError(f"l2={l2!r} must be a finite number >= 0")
    info, _ = load_pick(root, pick_id)
    labels_path = Path(labels_file).expanduser()
    pairs = read_labels(labels_path)
    pool = pool_of(root, info)
    table = pool.table
    labelled = check_labels(pairs, table.ids, table.class_names, str(labels_path))
    digest = hashlib.sha256(json.dumps(sorted(labelled.items())).encode()).hexdigest()
    config = {"kind": "labels", "pick_id": pick_id, "labels": digest, "steps": steps, "l2": l2}
    labels_id = config_id(config)
    folder = labels_dir(root, labels_id)
    if (folder / DONE).is_file() and verify_folder(folder) is None:
        return labels_id, True
    rows = np.asarray(sorted(labelled), dtype=np.int64)
    y = np.asarray([labelled[r] for r in rows], dtype=np.int64)
    w0, b0, fit_error = fit_head(table.z, table.logits)
    weight, bias, history = train_head(w0, b0, table.z[rows], y, steps=steps, l2=l2)
    before = np.asarray(table.logits, dtype=np.float64)
    after = np.asarray(table.z, dtype=np.float64) @ weight.T + bias
    p_before, p_after = softmax(before, axis=1), softmax(after, axis=1)
    pred_before, pred_after = before.argmax(axis=1), after.argmax(axis=1)
    names = np.asarray(table.class_names, dtype=object)
    c = len(names)
    flipped = np.flatnonzero(pred_before != pred_after)
    flips = pd.DataFrame(
        {
            "row": flipped,
            "id": [table.ids[i] for i in flipped],
            "path": [table.path[i] if table.path else "" for i in flipped],
            "text": [table.text[i] if table.text else "" for i in flipped],
            "before": names[pred_before[flipped]],
            "after": names[pred_after[flipped]],
            "confidence_before": p_before[flipped].max(axis=1),
            "confidence_after": p_after[flipped].max(axis=1),
            "labelled": np.isin(flipped, rows),
        }
    ).sort_values("confidence_after", ascending=False, kind="stable")

    def ce(logits: np.ndarray) -> float:
        return float(-log_softmax(logits[rows], axis=1)[np.arange(len(rows)), y].mean())

    summary = {
        "labels_id": labels_id,
        "pick_id": pick_id,
        "n_labels": len(rows),
        "class_names": list(names),
        "mix_before": _mix(pred_before, c),
        "mix_after": _mix(pred_after, c),
        "confidence_before": float(p_before.max(axis=1).mean()),
        "confidence_after": float(p_after.max(axis=1).mean()),
        "n_flipped": len(flipped),
        "labelled_accuracy_before": float((pred_before[rows] == y).mean()),
        "labelled_accuracy_after": float((pred_after[rows] == y).mean()),
        "labelled_loss_before": ce(before),
        "labelled_loss_after": ce(after),
        "objective_first_last": [history[0], history[-1]],
        "head_fit_error": fit_error,
    }
    from safetensors.numpy import save

    head = save(
        {"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)},
        metadata={"class_names": json.dumps(list(names)), "pick_id": pick_id},
    )
    with staged_folder(folder) as staging:
        (staging / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        (staging / "summary.json").write_text(json.dumps(summary, indent=2))
        flips.to_parquet(staging / "flips.parquet", index=False)
        pd.DataFrame({"id": [table.ids[r] for r in rows], "label": names[y]}).to_csv(
            staging / "labels.csv", index=False
        )
        (staging / "head.safetensors").write_bytes(head)
    return labels_id, False
