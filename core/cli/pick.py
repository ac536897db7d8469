"""Deciding what to label from the command line (README, "Decide what to label"):

- ``python -m core export-embeddings``: a scenario's target pool as an embeddings file
  (``--no-labels``: an unlabelled copy);
- ``python -m core embed``: an unlabelled image folder or text file embedded by a scenario's
  source model, as an embeddings file;
- ``python -m core pick``: pick from a scenario's pool or an embeddings file, keep the pick in
  the store and write its manifests (CSV, JSONL, Label Studio tasks);
- ``python -m core labels``: adapt the head on the labels of a pick and print what changed;
- ``python -m core picks``: list the store's picks by pool; ``--compare`` prints their overlap
  and predicted-class and domain mix, ``--map PICK --file F`` writes a pick on the pool's 2-D
  map (what the UMAP and Compare pages show on a store without labelled runs).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from core.base.validation import ForgeLensError
from core.cli.scenarios import restore_on_failure
from core.scenarios.embeddings_paths import check_embeddings_path

# the workflow modules load torch: imported by the commands, after the arguments are parsed
COMMANDS = ("pick", "labels", "export-embeddings", "embed", "picks")


def add_parsers(commands: Any) -> None:
    """The ``pick``, ``labels`` and ``export-embeddings`` subcommands."""
    sub = commands.add_parser("pick", help="pick what to label and write a labelling manifest")
    where = sub.add_mutually_exclusive_group(required=True)
    where.add_argument("--scenario", help="a scenario of the run store (its target pool)")
    where.add_argument(
        "--scenario-file",
        help="a scenario file (TOML; its target may be unlabelled): saved into the run store",
    )
    where.add_argument(
        "--embeddings", help="a .npz, .parquet or .safetensors file holding z and logits"
    )
    sub.add_argument("--domain", default=None, help="only the rows of this domain of the file")
    sub.add_argument("--method", default="forge", help="selector name (python -m core list)")
    count = sub.add_mutually_exclusive_group(required=True)
    count.add_argument("--n", type=int, dest="n_picks", help="how many samples to pick")
    count.add_argument("--fraction", type=float, help="fraction of the pool, in (0, 1]")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a selector parameter (repeatable), e.g. --set algorithm=pruned for FORGE",
    )
    sub.add_argument("--export", default=None, help="also copy the manifests into this folder")
    sub.add_argument("--out", default=None, help="run store folder")
    sub.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")

    labels = commands.add_parser(
        "labels", help="labels back: adapt the head on a pick's labels, show what changed"
    )
    labels.add_argument("--pick", required=True, help="the pick id (python -m core pick)")
    labels.add_argument(
        "--labels", required=True, help="CSV with columns id,label or Label Studio's JSON export"
    )
    labels.add_argument("--steps", type=int, default=300, help="gradient steps")
    labels.add_argument("--l2", type=float, default=1e-3, help="pull towards the model")
    labels.add_argument("--head", default=None, help="also copy the adapted head here")
    labels.add_argument("--out", default=None, help="run store folder")

    export = commands.add_parser(
        "export-embeddings", help="write a scenario's target pool (z, logits) to a file"
    )
    export.add_argument("--scenario", required=True, help="a scenario of the run store")
    export.add_argument("--file", required=True, help="output .npz, .parquet or .safetensors")
    export.add_argument("--no-labels", action="store_true", help="leave the labels out")
    export.add_argument("--out", default=None, help="run store folder")
    export.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")

    embed = commands.add_parser(
        "embed", help="embed an unlabelled image folder or text file with a scenario's model"
    )
    embed.add_argument("--scenario", required=True, help="its source model embeds the inputs")
    inputs = embed.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--images", help="a folder of images, any nesting, no class folders")
    inputs.add_argument("--texts", help="a CSV, JSONL or Parquet file with a text column")
    embed.add_argument("--text-column", default="text", help="the column holding the texts")
    embed.add_argument("--file", required=True, help="output .npz, .parquet or .safetensors")
    embed.add_argument("--out", default=None, help="run store folder")
    embed.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")

    listing = commands.add_parser(
        "picks", help="list the picks by pool; compare them or write one on the pool's map"
    )
    listing.add_argument(
        "--compare", action="store_true", help="overlap, predicted-class and domain mix per pool"
    )
    listing.add_argument("--map", default=None, metavar="PICK", help="a pick id to lay out")
    listing.add_argument("--space", default="z", help="the map's space: z, badge or forge")
    listing.add_argument("--file", default=None, help="CSV written by --map")
    listing.add_argument("--out", default=None, help="run store folder")


def _params(items: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` items as selector parameters (numbers as numbers, else text)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ForgeLensError(f"--set {item!r} is not allowed; allowed: NAME=VALUE")
        for kind in (int, float):
            try:
                params[name.strip()] = kind(value)
                break
            except ValueError:
                continue
        else:
            params[name.strip()] = value.strip()
    return params


def _pick(args: argparse.Namespace) -> int:
    if args.embeddings is not None:  # a missing file is named before torch loads
        check_embeddings_path(args.embeddings)
    if args.scenario_file is None:
        return _pick_checked(args)
    from core.scenarios.file_builders import use_scenario_file  # loads the data builders

    saved: dict[str, str] = {}
    with restore_on_failure(args.out, saved):  # a failed pick keeps no new scenario file
        args.scenario = saved["name"] = use_scenario_file(args.scenario_file, args.out)
        return _pick_checked(args)


def _pick_checked(args: argparse.Namespace) -> int:
    from core.run.pick import MANIFEST_FILES, load_pick, pick, pick_dir

    pick_id, reused = pick(
        args.out,
        method=args.method,
        n_picks=args.n_picks,
        fraction=args.fraction,
        seed=args.seed,
        scenario=args.scenario,
        embeddings=args.embeddings,
        domain=args.domain,
        device=args.device,
        params=_params(args.set),
    )
    info, frame = load_pick(args.out, pick_id)
    folder = pick_dir(args.out, pick_id)
    print(
        f"pick {pick_id}{' (reused)' if reused else ''}: {len(frame)} of {info['pool_size']} "
        f"with {args.method}, seed {args.seed}"
    )
    if args.export:
        target = Path(args.export).expanduser()
        target.mkdir(parents=True, exist_ok=True)
        for name in MANIFEST_FILES:
            shutil.copyfile(folder / name, target / name)
        folder = target
    for name in MANIFEST_FILES:
        print(f"  {folder / name}")
    return 0


def _labels(args: argparse.Namespace) -> int:
    from core.run.pick_store import load_pick

    load_pick(args.out, args.pick)  # an unknown pick is named before torch loads
    from core.run.labels_back import labels_back
    from core.run.pick_store import labels_dir
    from core.run.pick_store import load_labels_result as load_result

    labels_id, reused = labels_back(args.out, args.pick, args.labels, steps=args.steps, l2=args.l2)
    summary, flips = load_result(args.out, labels_id)
    names = summary["class_names"]
    print(
        f"labels {labels_id}{' (reused)' if reused else ''}: head adapted on "
        f"{summary['n_labels']} labels of pick {args.pick}"
    )
    print(f"  {'class':>12} {'before':>8} {'after':>8}")
    for name, a, b in zip(names, summary["mix_before"], summary["mix_after"], strict=True):
        print(f"  {name:>12} {a:>8} {b:>8}")
    print(
        f"  mean confidence {summary['confidence_before']:.3f} -> "
        f"{summary['confidence_after']:.3f}; {summary['n_flipped']} predictions flipped; "
        f"accuracy on the labelled picks {summary['labelled_accuracy_before']:.3f} -> "
        f"{summary['labelled_accuracy_after']:.3f}"
    )
    head = labels_dir(args.out, labels_id) / "head.safetensors"
    if args.head:
        target = Path(args.head).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(head, target)
        head = target
    print(f"  adapted head: {head}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from core.run.pick import export_pool

    path = export_pool(
        args.out, args.scenario, args.file, labels=not args.no_labels, device=args.device
    )
    print(f"wrote {path}")
    return 0


def _embed(args: argparse.Namespace) -> int:
    from core.run.unlabelled import embed_unlabelled

    path = embed_unlabelled(
        args.out,
        args.scenario,
        args.file,
        images=args.images,
        texts=args.texts,
        text_column=args.text_column,
        device=args.device,
    )
    print(f"wrote {path}")
    return 0


def _mix_table(mix: Any, names: list[str]) -> str:
    """A long mix table (method, label, fraction) as percent, one column per pick."""
    wide = mix.pivot(index="label", columns="method", values="fraction")
    wide = wide[list(dict.fromkeys(mix["method"]))]
    wide.index = [names[i] for i in wide.index]
    return (100 * wide).round(1).to_string()


def _picks(args: argparse.Namespace) -> int:
    from core.analysis import pick_views

    if args.map is not None:
        if args.file is None:
            raise ForgeLensError("--map needs --file: allowed: a CSV path to write the map to")
        points = pick_views.pick_map(args.out, args.map, args.space)
        target = Path(args.file).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        points.to_csv(target, index=False)
        print(
            f"wrote {target} ({len(points)} pool samples, {int((points['rank'] > 0).sum())} picked)"
        )
        return 0
    groups = pick_views.picks_by_pool(args.out)
    if not groups:
        print("no picks in this store yet (python -m core pick)")
    for pool, ids in groups.items():
        print(pool)
        for pick_id in ids:
            info, _ = pick_views.pick_store.load_pick(args.out, pick_id)
            print(f"  {pick_id}  {pick_views.pick_name(info)}")
        if not args.compare:
            continue
        result = pick_views.compare_picks(args.out, ids)
        print("\n  overlap (Jaccard)")
        print(result.jaccard.round(3).to_string())
        print("\n  predicted-class mix (% of each pick; pool = the whole pool)")
        print(_mix_table(result.class_mix, result.class_names))
        if result.domain_mix is not None:
            print("\n  target-domain mix (%)")
            print(_mix_table(result.domain_mix, result.domains))
        print()
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one of ``COMMANDS``."""
    if args.command == "pick":
        return _pick(args)
    if args.command == "labels":
        return _labels(args)
    if args.command == "export-embeddings":
        return _export(args)
    if args.command == "embed":
        return _embed(args)
    if args.command == "picks":
        return _picks(args)
    raise ForgeLensError(f"command={args.command!r} is not known; allowed: {', '.join(COMMANDS)}")
