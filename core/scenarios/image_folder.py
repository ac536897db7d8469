"""Scenarios from a local image folder in the DomainBed layout ``ROOT/<domain>/<class>/<image>``.

The layout of VLCS, PACS, OfficeHome and VisDA as DomainBed ships them. Images: jpg, jpeg, png,
bmp, webp (any case), any size, gray (8 or 16 bit) or colour; each is resized to
``image_size`` x ``image_size`` (bilinear; the aspect ratio is not kept, as DomainBed's
``Resize((224, 224))``) and stored as float32 in [0, 1] (8-bit values as v / 255, 16-bit as
v / 65535): (1, S, S) when every image of the scenario is gray, else (3, S, S) with gray
repeated (the backbones repeat a single channel themselves). Memory: N x 3 x S^2 x 4 bytes, so a
``max_per_domain`` cap keeps a large domain in bounds (a class-stratified random subsample
drawn with ``split_seed``).

The user names one or more source and one or more target domains. Classes: those present in
the source domains (their union), sorted by name; target images of other classes are left
out, and classes missing from some domain are reported (``FolderScan.notes``, and a
``FolderWarning`` when the scenario is built). Several target domains are cut into pool /
validation / test stratified by (domain, class), and ``Scenario.domains`` holds each target
row's domain, so selection can split the budget evenly across them (``core.selection.groups``)
and every record carries a ``domain`` column.

Bad input is a ForgeLensError naming the path: a root that does not exist, a domain named twice
or not found, an empty domain, an empty class folder, an unreadable or truncated image (or, with
``skip_unreadable``, it is skipped and counted). ``files_fingerprint`` hashes the used file list
and sizes; it is recorded in the scenario's parameters, so run ids change with the data.

``unlabelled_target=True``: each target folder ``ROOT/<target>/`` holds images in any nesting,
no class folders (``unlabelled_files``). There is nothing to measure a run against, so such a
scenario is for picking only (``core.run.pick``; runs are refused): its build is the labelled
source alone (the target splits are cut from the source's own rows, a stand-in that no run
ever uses), so that the source model trains as for any scenario; the unlabelled images are
embedded by that model at pick time. The fingerprint covers the unlabelled files too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from core.base.data import Scenario, ScenarioBuilder, stratified_subsample
from core.base.validation import ForgeLensError, check_int_range

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


class FolderWarning(UserWarning):
    """A problem in the data that the scenario works around (and says how)."""


@dataclass
class FolderScan:
    """What a DomainBed-layout root holds: ``files[domain][class]`` = sorted image paths."""

    root: Path
    files: dict[str, dict[str, list[Path]]]
    empty_classes: list[str] = field(default_factory=list)  # "domain/class"
    ignored: int = 0  # files that are not images

    @property
    def domains(self) -> list[str]:
        return sorted(self.files)

    def counts(self) -> dict[str, dict[str, int]]:
        return {d: {c: len(p) for c, p in classes.items()} for d, classes in self.files.items()}

    def problems(
        self, source: list[str] | None = None, target: list[str] | None = None
    ) -> tuple[list[str], list[str]]:
        """(errors, notes) for a scenario with these domains (all domains when None)."""
        errors, notes = [], []
        for entry in self.empty_classes:
            domain = entry.split("/")[0]
            if source is None or domain in (source or []) + (target or []):
                errors.append(
                    f"class folder {self.root / entry} holds no images "
                    f"({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
                )
        for domain, classes in self.files.items():
            if not classes and (source is None or domain in (source or []) + (target or [])):
                errors.append(
                    f"domain folder {self.root / domain} holds no class folders with "
                    "images; allowed: ROOT/<domain>/<class>/<image>"
                )
        if source and target:
            classes = sorted({c for d in source if d in self.files for c in self.files[d]})
            for domain in source + target:
                if domain not in self.files:
                    continue
                missing = [c for c in classes if c not in self.files[domain]]
                if missing:
                    notes.append(
                        f"domain {domain!r} lacks class(es) {', '.join(missing)}: it "
                        "simply has no samples of them"
                    )
            for domain in target:
                extra = sorted(set(self.files.get(domain, {})) - set(classes))
                if extra:
                    notes.append(
                        f"target domain {domain!r} has class(es) {', '.join(extra)} that "
                        "no source domain has: their images are left out"
                    )
        if self.ignored:
            notes.append(f"{self.ignored} file(s) that are not images were ignored")
        return errors, notes


def scan_folder(root: str | Path) -> FolderScan:
    """List ``root``'s domains, classes and image files (no image is opened)."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise ForgeLensError(
            f"root={str(path)!r} is not an existing folder; allowed: a folder "
            "laid out ROOT/<domain>/<class>/<image>"
        )
    files: dict[str, dict[str, list[Path]]] = {}
    empty, ignored = [], 0
    for domain in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files[domain.name] = {}
        for klass in sorted(
            p for p in domain.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            images = []
            for item in sorted(klass.iterdir()):
                if item.is_file() and item.suffix.lower() in IMAGE_SUFFIXES:
                    images.append(item)
                elif item.is_file() and not item.name.startswith("."):
                    ignored += 1
            if images:
                files[domain.name][klass.name] = images
            else:
                empty.append(f"{domain.name}/{klass.name}")
    return FolderScan(path.resolve(), files, empty, ignored)


def check_domains(scan: FolderScan, source: Any, target: Any) -> tuple[list[str], list[str]]:
    """``source`` and ``target`` as lists of existing domains, each named once."""
    lists = []
    for name, value in (("source", source), ("target", target)):
        if isinstance(value, str):
            value = [value]
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, str) for v in value)
        ):
            raise ForgeLensError(
                f"{name}={value!r} is not allowed; allowed: one or more domain "
                f"names of {scan.root}: {', '.join(scan.domains)}"
            )
        for domain in value:
            if domain not in scan.files:
                raise ForgeLensError(
                    f"{name} domain {domain!r} is not a folder of {scan.root}; "
                    f"allowed: {', '.join(scan.domains) or '(no domain folders)'}"
                )
        lists.append(list(value))
    named = lists[0] + lists[1]
    twice = sorted({d for d in named if named.count(d) > 1})
    if twice:
        raise ForgeLensError(
            f"domain(s) {', '.join(twice)} named twice in source={lists[0]} and "
            f"target={lists[1]}; allowed: each domain once, source or target"
        )
    return lists[0], lists[1]


def unlabelled_files(root: Path, domains: list[str]) -> list[tuple[str, Path]]:
    """(domain, image path) of every image under ``root/<domain>/`` (any nesting, hidden files
    and folders left out), sorted; a domain holding none is an error naming its folder."""
    found = []
    for domain in domains:
        folder = root / domain
        paths = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file()
            and p.suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if not paths:
            raise ForgeLensError(
                f"target domain folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)}) "
                "at any depth; allowed: an unlabelled target folder of images"
            )
        found += [(domain, p) for p in paths]
    return found


def files_fingerprint(scan: FolderScan, domains: list[str]) -> str:
    """sha256 (16 hex) of the relative path and size of every image file of ``domains``."""
    digest = hashlib.sha256()
    for domain in sorted(domains):
        for _klass, paths in sorted(scan.files[domain].items()):
            for path in paths:
                digest.update(f"{path.relative_to(scan.root)}\0{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


# the most pixels an image may have: a 200-megapixel file (or a decompression bomb) is refused
# from its header, before it is decoded into gigabytes (like an unreadable one)
MAX_PIXELS = 64_000_000


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as (1 or 3, size, size) float32 in [0, 1] (1 channel: gray); raises OSError
    or ValueError when the file is unreadable, truncated or over ``MAX_PIXELS``."""
    try:
        opened = Image.open(path)
    except Image.DecompressionBombError as error:  # PIL's own limit, above ours
        raise ValueError(f"{error}; allowed: at most {MAX_PIXELS:,} pixels") from None
    with opened as image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ValueError(
                f"{width} x {height} = {width * height:,} pixels; allowed: at most "
                f"{MAX_PIXELS:,} pixels (resize it, or set skip_unreadable = true)"
            )
        image.load()
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            pixels = np.asarray(image, dtype=np.float64) / 65535.0
            gray = Image.fromarray(pixels.astype(np.float32), mode="F")
            if gray.size != (size, size):
                gray = gray.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(gray, dtype=np.float32)[None]
        if image.mode not in ("L", "RGB"):
            image = image.convert(
                "L" if image.mode in ("1", "LA", "P") and _is_gray(image) else "RGB"
            )
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        pixels = (np.asarray(image, dtype=np.float64) / 255.0).astype(np.float32)
    if pixels.ndim == 2:
        return pixels[None]
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _is_gray(image: Image.Image) -> bool:
    if image.mode == "P":
        palette = image.convert("RGB")
        array = np.asarray(palette)
        return bool(
            (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()
        )
    return True


class ImageFolderScenario(ScenarioBuilder):
    """Source and target domains of a DomainBed-layout folder (see the module doc)."""

    name = "image-folder"
    description = "images from a local folder ROOT/<domain>/<class>/<image>"
    kind = "image-folder"

    def __init__(
        self,
        root: str = "",
        source: Any = (),
        target: Any = (),
        image_size: int = 224,
        max_per_domain: int | None = None,
        split_seed: int = 0,
        skip_unreadable: bool = False,
        files_fingerprint: str | None = None,
        unlabelled_target: bool = False,
    ) -> None:
        super().__init__(split_seed)
        self.root = root
        self.unlabelled_target = unlabelled_target
        self.source = source
        self.target = target
        self.image_size = image_size
        self.max_per_domain = max_per_domain
        self.skip_unreadable = skip_unreadable
        self.files_fingerprint = files_fingerprint
        self.skipped: list[str] = []

    def get_params(self) -> dict[str, Any]:
        params = {
            "root": str(self.root),
            "source": list(_as_list(self.source)),
            "target": list(_as_list(self.target)),
            "image_size": self.image_size,
            "max_per_domain": self.max_per_domain,
            "split_seed": self.split_seed,
            "skip_unreadable": self.skip_unreadable,
            "files_fingerprint": self.files_fingerprint,
        }
        if self.unlabelled_target:  # only then: labelled scenarios keep their run ids
            params["unlabelled_target"] = True
        return params

    # -- the plan: which files, which labels -------------------------------------------------
    def plan(self) -> tuple[FolderScan, list[str], list[str], tuple[str, ...], str]:
        """Scan and check: (scan, source, target, class names, files fingerprint)."""
        scan = scan_folder(self.root)
        source, target = check_domains(scan, self.source, self.target)
        # an unlabelled target has no class folders: only the source's are checked
        errors, notes = scan.problems(source, [] if self.unlabelled_target else target)
        if errors:
            raise ForgeLensError("; ".join(errors))
        for note in notes:
            warnings.warn(f"{self.name} ({self.root}): {note}", FolderWarning, stacklevel=2)
        classes = tuple(sorted({c for d in source for c in scan.files[d]}))
        if self.unlabelled_target:
            digest = hashlib.sha256(files_fingerprint(scan, source).encode())
            for _domain, path in unlabelled_files(scan.root, target):
                digest.update(f"{path.relative_to(scan.root)}\0{path.stat().st_size}\n".encode())
            fingerprint = digest.hexdigest()[:16]
        else:
            fingerprint = files_fingerprint(scan, source + target)
        if self.files_fingerprint is not None and self.files_fingerprint != fingerprint:
            raise ForgeLensError(
                f"files_fingerprint={self.files_fingerprint!r} was recorded but {scan.root} now "
                f"gives {fingerprint!r}: its files changed since; run the scenario again (new "
                "run ids) to use the new data"
            )
        return scan, source, target, classes, fingerprint

    def check(self) -> None:
        """The checks ``build`` starts with (folder, domains, classes), no image decoded."""
        self.plan()

    def _rows(
        self, scan: FolderScan, domains: list[str], classes: tuple[str, ...]
    ) -> tuple[list[Path], np.ndarray, np.ndarray]:
        """Files, labels and domain positions (in ``domains``) of the given domains, capped."""
        paths, labels, where = [], [], []
        for position, domain in enumerate(domains):
            d_paths, d_labels = [], []
            for label, klass in enumerate(classes):
                for path in scan.files[domain].get(klass, []):
                    d_paths.append(path)
                    d_labels.append(label)
            d_labels = np.asarray(d_labels, dtype=np.int64)
            keep = np.arange(len(d_paths))
            if self.max_per_domain is not None:
                cap = check_int_range("max_per_domain", self.max_per_domain, 3, 10**9)
                keep = stratified_subsample(d_labels, cap, self.split_seed)
            paths += [d_paths[i] for i in keep]
            labels.append(d_labels[keep])
            where.append(np.full(len(keep), position, dtype=np.int64))
        return paths, np.concatenate(labels), np.concatenate(where)

    def _load(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        """(N, C, S, S) images and a mask of the rows that could be read (C = 1 when every
        image of the scenario is gray, else 3 with gray repeated)."""
        size = check_int_range("image_size", self.image_size, 8, 1024)
        images = []
        ok = np.ones(len(paths), dtype=bool)
        for row, path in enumerate(paths):
            try:
                images.append(read_image(path, size))
            except (OSError, ValueError, SyntaxError) as error:
                if not self.skip_unreadable:
                    raise ForgeLensError(
                        f"image {path} cannot be read ({type(error).__name__}: {error}); fix or "
                        "remove it, or set skip_unreadable = true to skip and count such files"
                    ) from None
                ok[row] = False
                images.append(np.zeros((1, size, size), np.float32))
                self.skipped.append(str(path))
        return images, ok

    def _domain_data(self, role: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        scan, source, target, classes, _ = self._planned
        paths, labels, where = self._rows(scan, source if role == "source" else target, classes)
        if len(paths) == 0:
            raise ForgeLensError(
                f"{self.name}: the {role} domains {source if role == 'source' else target} "
                "hold no images of the source classes"
            )
        images, ok = self._load(paths)
        return images, ok, labels, where

    def _stack(self, images: list[np.ndarray], channels: int) -> np.ndarray:
        return np.stack([np.repeat(i, channels // len(i), axis=0) for i in images])

    def _both(self) -> None:
        """Decode both roles once; gray stays one channel only when every image is gray."""
        if getattr(self, "_decoded", None) is not None:
            return
        source = self._domain_data("source")
        # unlabelled: the source's rows stand in for the target (see the module doc)
        target = source if self.unlabelled_target else self._domain_data("target")
        channels = max(
            (
                len(i)
                for images, ok, *_ in (source, target)
                for i, keep in zip(images, ok, strict=True)
                if keep
            ),
            default=1,
        )
        self._decoded = {}
        for role, (images, ok, labels, where) in (("source", source), ("target", target)):
            kept = [i for i, keep in zip(images, ok, strict=True) if keep]
            if not kept:
                raise ForgeLensError(f"{self.name}: every {role} image is unreadable")
            self._decoded[role] = (self._stack(kept, channels), labels[ok], where[ok])

    def load_source(self) -> tuple[np.ndarray, np.ndarray]:
        self._both()
        images, labels, _ = self._decoded["source"]
        return images, labels

    def load_target(self) -> tuple[np.ndarray, np.ndarray]:
        self._both()
        images, labels, where = self._decoded["target"]
        self._target_domains = where
        return images, labels

    def target_strata(self, labels: np.ndarray) -> np.ndarray:
        """Stratify the target cut by (domain, class): each domain in every split."""
        return self._target_domains * len(self.class_names) + labels

    def build(self) -> Scenario:
        self._planned = self.plan()
        scan, source, target, classes, fingerprint = self._planned
        self.class_names = classes
        self.skipped = []
        self.files_fingerprint = fingerprint
        self._decoded = None
        try:
            scenario = super().build()
        finally:
            self._decoded = None  # the arrays live on in the scenario only
        if self.skipped:
            warnings.warn(
                f"{self.name} ({self.root}): skipped {len(self.skipped)} unreadable "
                f"image(s), first: {self.skipped[0]}",
                FolderWarning,
                stacklevel=2,
            )
        domains = {
            split: self._target_domains[rows]
            for split, rows in scenario.indices.items()
            if split.startswith("target")
        }
        summary = (
            f"{self.description} ({scan.root}: {'+'.join(source)} -> {'+'.join(target)}, "
            f"{len(classes)} classes, {len(self.skipped)} unreadable skipped)"
        )
        if self.unlabelled_target:
            return dataclasses.replace(scenario, description=f"{summary}; unlabelled target")
        return dataclasses.replace(
            scenario, domain_names=tuple(target), domains=domains, description=summary
        )

    def unlabelled_inputs(self) -> list[tuple[str, Path]]:
        """(domain, image path) of the unlabelled target's images (``unlabelled_target``)."""
        scan = scan_folder(self.root)
        _, target = check_domains(scan, self.source, self.target)
        return unlabelled_files(scan.root, target)


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)
