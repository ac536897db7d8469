"""`python -m core scenarios [list | remove NAME [--delete-runs]]`: the scenario files saved in
a run store (``<store>/_scenarios/``), and keeping that list clean.

Removing a saved scenario never deletes its runs unless ``--delete-runs`` says so: the runs
stay browsable, only the name can no longer be swept. A ``run --scenario-file`` that is
refused or fails before writing a run leaves the store's saved scenarios as they were
(``restore_on_failure``).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from core.base.validation import ForgeLensError, suggest
from core.scenarios import saved_scenarios
from core.scenarios.scenario_file import scenarios_dir
from core.storage.atomic import write_bytes_atomic


def add_parser(commands: argparse._SubParsersAction) -> None:
    scenarios = commands.add_parser(
        "scenarios", help="list the scenario files saved in the run store, or remove one"
    )
    scenarios.add_argument("action", nargs="?", default="list", help="list (default) or remove")
    scenarios.add_argument("name", nargs="?", default=None, help="the scenario to remove")
    scenarios.add_argument("--out", default=None, help="run store folder")
    scenarios.add_argument(
        "--delete-runs",
        action="store_true",
        help="with remove: also delete the scenario's finished runs (kept otherwise)",
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _list(args.out)
    if args.action == "remove":
        if not args.name:
            raise ForgeLensError("scenarios remove needs NAME; allowed: a saved scenario's name")
        return _remove(args.out, args.name, delete_runs=args.delete_runs)
    raise ForgeLensError(
        f"action={args.action!r} is not known{suggest(args.action, ('list', 'remove'))}; "
        "allowed: list or remove"
    )


def _runs_of(root: str | None, name: str) -> list[str]:
    from core.storage.store import RunStore

    runs = RunStore(root).finished_runs()
    return list(runs.loc[runs["scenario"] == name, "run_id"]) if len(runs) else []


def _list(root: str | None) -> int:
    saved, broken = saved_scenarios(root)
    folder = scenarios_dir(root)
    if not saved and not broken:
        print(f"no saved scenarios in {folder}")
        return 0
    width = max(map(len, [*saved, *broken]))
    for name, data in sorted(saved.items()):
        runs = len(_runs_of(root, name))
        print(f"  {name:<{width}}  {data.get('kind', '?')}, {runs} run(s)  {folder / name}.toml")
    for file, error in sorted(broken.items()):
        print(f"  {file:<{width}}  cannot be used: {error}", file=sys.stderr)
    return 0


def _remove(root: str | None, name: str, *, delete_runs: bool) -> int:
    from core.storage.store import RunStore

    saved, broken = saved_scenarios(root)
    path = scenarios_dir(root) / f"{name}.toml"
    if name not in saved and path.name not in broken:
        known = [*saved, *(Path(f).stem for f in broken)]
        raise ForgeLensError(
            f"scenario={name!r} is not saved in {scenarios_dir(root)}{suggest(name, known)}; "
            f"allowed: {', '.join(sorted(known)) or 'none saved'}"
        )
    runs = _runs_of(root, name)
    path.unlink()
    print(f"removed the saved scenario {name} ({path})")
    if runs and delete_runs:
        store = RunStore(root)
        for run_id in runs:
            shutil.rmtree(store.run_dir(run_id))
        print(f"deleted its {len(runs)} run(s)")
    elif runs:
        print(f"its {len(runs)} run(s) are kept (--delete-runs deletes them)")
    return 0


@contextlib.contextmanager
def restore_on_failure(root: str | None, name_of: dict[str, str]) -> Iterator[None]:
    """Undo a scenario file saved by a command that then fails before a run of it is written:
    the saved file is put back as it was (removed when it was new). ``name_of`` is filled by
    the command with {"name": ...} once it saved one."""
    before = {p.name: p.read_bytes() for p in scenarios_dir(root).glob("*.toml")}
    try:
        yield
    except BaseException:
        name = name_of.get("name")
        if name and not _runs_of(root, name):
            path = scenarios_dir(root) / f"{name}.toml"
            if path.name in before:
                write_bytes_atomic(path, before[path.name])
            else:
                path.unlink(missing_ok=True)
        raise
