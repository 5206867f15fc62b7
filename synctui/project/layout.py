"""The copick filesystem layout: entity <-> relative path, both ways.

An *entity* is what people see, filter and map (a tomogram, a picks file ...).
``parse_path`` turns a file path found under a project root into the entity it
belongs to plus the member path inside it (a zarr chunk key, or ``""`` for a
single-file entity); ``entity_path`` turns an entity back into its path.
Anything copick would not recognise comes back as ``Unrecognised`` with a reason.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from synctui.project.names import name_problem, run_name_problem

RUNS_DIR = "ExperimentRuns"
OBJECTS_DIR = "Objects"
META = ".meta"
META_TEXT = b"meta"
ZARR_HIDDEN_OK = frozenset({".zarray", ".zattrs", ".zgroup", ".zmetadata"})


class Kind(enum.StrEnum):
    RUN_META = "run-meta"
    VS_META = "vs-meta"
    TOMOGRAM = "tomogram"
    FEATURES = "features"
    PICKS = "picks"
    FILAMENTS = "filaments"
    MESH = "mesh"
    SEGMENTATION = "segmentation"
    MULTILABEL = "multilabel-segmentation"
    INSTANCE = "instance-segmentation"
    PANOPTIC = "panoptic-segmentation"
    DENSITY_MAP = "density-map"

    @property
    def is_zarr(self) -> bool:
        return self in _ZARR_KINDS

    @property
    def is_meta(self) -> bool:
        return self in (Kind.RUN_META, Kind.VS_META)

    @property
    def is_segmentation(self) -> bool:
        return self in _SEG_DIRS

    @property
    def is_annotation(self) -> bool:
        """Named ``user_session_object``: picks, filaments, meshes."""
        return self in _ANNOTATION_DIRS

    @property
    def label(self) -> str:
        return _LABELS[self]


_ZARR_KINDS = frozenset(
    {Kind.TOMOGRAM, Kind.FEATURES, Kind.SEGMENTATION, Kind.MULTILABEL, Kind.INSTANCE,
     Kind.PANOPTIC, Kind.DENSITY_MAP}
)
_ANNOTATION_DIRS = {Kind.PICKS: ("Picks", ".json"), Kind.FILAMENTS: ("Filaments", ".json"),
                    Kind.MESH: ("Meshes", ".glb")}
_SEG_DIRS = {Kind.SEGMENTATION: "Segmentations", Kind.MULTILABEL: "Segmentations",
             Kind.INSTANCE: "InstanceSegmentations", Kind.PANOPTIC: "PanopticSegmentations"}
_LABELS = {
    Kind.RUN_META: "run .meta", Kind.VS_META: "voxel spacing .meta", Kind.TOMOGRAM: "tomogram",
    Kind.FEATURES: "features", Kind.PICKS: "picks", Kind.FILAMENTS: "filaments",
    Kind.MESH: "mesh", Kind.SEGMENTATION: "segmentation",
    Kind.MULTILABEL: "multilabel segmentation", Kind.INSTANCE: "instance segmentation",
    Kind.PANOPTIC: "panoptic segmentation", Kind.DENSITY_MAP: "density map",
}
MULTILABEL_SUFFIX = "-multilabel"


def format_vs(voxel_spacing: float) -> str:
    """copick formats voxel spacings with three decimals: ``10.000``."""
    return f"{float(voxel_spacing):.3f}"


def parse_vs(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    if value <= 0 or value != value or value == float("inf"):
        return None
    return value


@dataclass(frozen=True, slots=True, order=True)
class EntityRef:
    """Identity of one copick entity.  Fields a kind does not use stay None.

    ``name`` is the object name for picks/filaments/meshes/density maps and the
    segmentation name (without ``-multilabel``) for segmentations.
    """

    kind: Kind
    run: str | None = None
    voxel_spacing: float | None = None
    tomo_type: str | None = None
    feature_type: str | None = None
    user: str | None = None
    session: str | None = None
    name: str | None = None

    def with_(self, **changes: object) -> EntityRef:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def path(self) -> str:
        return entity_path(self)

    @property
    def display(self) -> str:
        """Short human name, unique within its run."""
        k = self.kind
        if k.is_meta:
            return ".meta" if k is Kind.RUN_META else f"VoxelSpacing{format_vs(self.voxel_spacing or 0)}/.meta"
        if k is Kind.TOMOGRAM:
            return f"{self.tomo_type} @ {format_vs(self.voxel_spacing or 0)}"
        if k is Kind.FEATURES:
            return f"{self.tomo_type}/{self.feature_type} features @ {format_vs(self.voxel_spacing or 0)}"
        if k.is_annotation:
            return f"{self.user}_{self.session}_{self.name}"
        if k.is_segmentation:
            suffix = MULTILABEL_SUFFIX if k is Kind.MULTILABEL else ""
            return f"{format_vs(self.voxel_spacing or 0)}_{self.user}_{self.session}_{self.name}{suffix}"
        return f"{self.name}"


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """A path under a project root that copick would not read, and why."""

    path: str
    reason: str


def entity_path(ref: EntityRef) -> str:
    """The path of ``ref`` relative to a project root (``/``-separated)."""
    k = ref.kind
    if k is Kind.DENSITY_MAP:
        return f"{OBJECTS_DIR}/{ref.name}.zarr"
    run_dir = f"{RUNS_DIR}/{ref.run}"
    if k is Kind.RUN_META:
        return f"{run_dir}/{META}"
    if k in (Kind.VS_META, Kind.TOMOGRAM, Kind.FEATURES):
        vs_dir = f"{run_dir}/VoxelSpacing{format_vs(ref.voxel_spacing)}"  # type: ignore[arg-type]
        if k is Kind.VS_META:
            return f"{vs_dir}/{META}"
        if k is Kind.TOMOGRAM:
            return f"{vs_dir}/{ref.tomo_type}.zarr"
        return f"{vs_dir}/{ref.tomo_type}_{ref.feature_type}_features.zarr"
    if k.is_annotation:
        folder, ext = _ANNOTATION_DIRS[k]
        return f"{run_dir}/{folder}/{ref.user}_{ref.session}_{ref.name}{ext}"
    folder = _SEG_DIRS[k]
    suffix = MULTILABEL_SUFFIX if k is Kind.MULTILABEL else ""
    return (f"{run_dir}/{folder}/{format_vs(ref.voxel_spacing)}_{ref.user}_{ref.session}_"  # type: ignore[arg-type]
            f"{ref.name}{suffix}.zarr")


def ref_problem(ref: EntityRef) -> str | None:
    """Why copick could not hold ``ref`` (e.g. after a mapping), or None."""
    k = ref.kind
    if k is not Kind.DENSITY_MAP:
        if (p := run_name_problem(ref.run)):
            return p
    if k in (Kind.VS_META, Kind.TOMOGRAM, Kind.FEATURES) or k.is_segmentation:
        if ref.voxel_spacing is None or ref.voxel_spacing <= 0:
            return "voxel spacing must be a positive number"
    if k in (Kind.TOMOGRAM, Kind.FEATURES):
        if (p := name_problem(ref.tomo_type, "tomogram type")):
            return p
        if k is Kind.TOMOGRAM and "features" in (ref.tomo_type or ""):
            return f"tomogram type {ref.tomo_type!r} contains 'features', copick reads it as features"
        if k is Kind.FEATURES and (p := name_problem(ref.feature_type, "feature type")):
            return p
    if k.is_annotation or k.is_segmentation:
        for value, what in ((ref.user, "user id"), (ref.session, "session id")):
            if (p := name_problem(value, what)):
                return p
    if k.is_annotation or k is Kind.DENSITY_MAP:
        if (p := name_problem(ref.name, "object name")):
            return p
    if k.is_segmentation:
        if (p := name_problem(ref.name, "segmentation name")):
            return p
        if k is not Kind.MULTILABEL and (ref.name or "").endswith(MULTILABEL_SUFFIX):
            return f"segmentation name {ref.name!r} ends in {MULTILABEL_SUFFIX!r}"
    if not k.is_meta:
        fname = entity_path(ref).rsplit("/", 1)[-1]
        if fname.startswith("."):
            return f"file name {fname!r} starts with '.', so copick would hide it"
    return None


def _is_hidden(part: str) -> bool:
    return part.startswith(".") and part != META and part not in ZARR_HIDDEN_OK


def parse_path(path: str) -> tuple[EntityRef, str] | Unrecognised | None:
    """Map a file path under a root to ``(entity, member)``.

    Returns None for paths copick simply ignores (hidden files, our own lock and
    temp files, the config), and ``Unrecognised`` for paths in copick's folders
    that it would fail to read.
    """
    parts = path.split("/")
    if any(_is_hidden(p) for p in parts):
        return None
    top = parts[0]
    if top == OBJECTS_DIR:
        return _parse_object(path, parts)
    if top != RUNS_DIR:
        return None
    if len(parts) < 3:
        return Unrecognised(path, "a file directly in ExperimentRuns/ is not a run")
    run = parts[1]
    if (p := run_name_problem(run)):
        return Unrecognised(path, p)
    rest = parts[2:]
    if rest == [META]:
        return EntityRef(Kind.RUN_META, run=run), ""
    head = rest[0]
    if head.startswith("VoxelSpacing"):
        return _parse_vs(path, run, rest)
    if head in ("Picks", "Filaments", "Meshes"):
        return _parse_annotation(path, run, rest)
    if head in ("Segmentations", "InstanceSegmentations", "PanopticSegmentations"):
        return _parse_segmentation(path, run, rest)
    return Unrecognised(_prefix(path, 3), f"unknown folder {head!r} in run {run!r}")


def _prefix(path: str, n: int) -> str:
    return "/".join(path.split("/")[:n])


def _zarr_split(path: str, rest: list[str], depth: int) -> tuple[str, str] | Unrecognised:
    """``rest[0]`` must be ``X.zarr`` with members below; return (stem, member)."""
    store = rest[0]
    if not store.endswith(".zarr"):
        return Unrecognised(_prefix(path, depth + 1), f"{store!r} is not a .zarr store")
    if len(rest) < 2:
        return Unrecognised(_prefix(path, depth + 1), f"{store!r} is a file, a zarr store must be a folder")
    return store[: -len(".zarr")], "/".join(rest[1:])


def _parse_object(path: str, parts: list[str]) -> tuple[EntityRef, str] | Unrecognised:
    if len(parts) < 2:
        return Unrecognised(path, "Objects must be a folder")
    split = _zarr_split(path, parts[1:], 1)
    if isinstance(split, Unrecognised):
        return split
    name, member = split
    if (p := name_problem(name, "object name")):
        return Unrecognised(_prefix(path, 2), p)
    return EntityRef(Kind.DENSITY_MAP, name=name), member


def _parse_vs(path: str, run: str, rest: list[str]) -> tuple[EntityRef, str] | Unrecognised:
    vs = parse_vs(rest[0][len("VoxelSpacing"):])
    if vs is None:
        return Unrecognised(_prefix(path, 3), f"{rest[0]!r} does not name a voxel spacing")
    if len(rest) == 1:
        return Unrecognised(path, f"{rest[0]!r} must be a folder")
    if rest[1:] == [META]:
        return EntityRef(Kind.VS_META, run=run, voxel_spacing=vs), ""
    split = _zarr_split(path, rest[1:], 3)
    if isinstance(split, Unrecognised):
        return split
    stem, member = split
    where = _prefix(path, 4)
    if stem.endswith("_features"):
        bits = stem[: -len("_features")].split("_")
        if len(bits) != 2:
            return Unrecognised(where, "features must be named <tomo_type>_<feature_type>_features.zarr")
        ref = EntityRef(Kind.FEATURES, run=run, voxel_spacing=vs, tomo_type=bits[0], feature_type=bits[1])
    elif "features" in stem:
        return Unrecognised(where, f"{stem!r} contains 'features' but is not <tomo>_<type>_features")
    else:
        ref = EntityRef(Kind.TOMOGRAM, run=run, voxel_spacing=vs, tomo_type=stem)
    if (p := ref_problem(ref)):
        return Unrecognised(where, p)
    return ref, member


def _parse_annotation(path: str, run: str, rest: list[str]) -> tuple[EntityRef, str] | Unrecognised:
    kind = {"Picks": Kind.PICKS, "Filaments": Kind.FILAMENTS, "Meshes": Kind.MESH}[rest[0]]
    ext = _ANNOTATION_DIRS[kind][1]
    where = _prefix(path, 4)
    if len(rest) != 2:
        return Unrecognised(where, f"{rest[0]}/ must hold files, not folders")
    fname = rest[1]
    if not fname.endswith(ext):
        return Unrecognised(where, f"{rest[0]} files end in {ext}")
    bits = fname[: -len(ext)].split("_")
    if len(bits) != 3:
        return Unrecognised(where, f"{rest[0]} file names are <user>_<session>_<object>{ext}")
    ref = EntityRef(kind, run=run, user=bits[0], session=bits[1], name=bits[2])
    if (p := ref_problem(ref)):
        return Unrecognised(where, p)
    return ref, ""


def _parse_segmentation(path: str, run: str, rest: list[str]) -> tuple[EntityRef, str] | Unrecognised:
    if len(rest) == 1:
        return Unrecognised(path, f"{rest[0]!r} must be a folder")
    split = _zarr_split(path, rest[1:], 3)
    if isinstance(split, Unrecognised):
        return split
    stem, member = split
    where = _prefix(path, 4)
    bits = stem.split("_")
    if len(bits) != 4:
        return Unrecognised(where, "segmentation names are <voxel_spacing>_<user>_<session>_<name>.zarr")
    vs = parse_vs(bits[0])
    if vs is None:
        return Unrecognised(where, f"{bits[0]!r} is not a voxel spacing")
    name = bits[3]
    folder = rest[0]
    if folder == "Segmentations":
        kind = Kind.MULTILABEL if name.endswith(MULTILABEL_SUFFIX) else Kind.SEGMENTATION
        if kind is Kind.MULTILABEL:
            name = name[: -len(MULTILABEL_SUFFIX)]
    else:
        kind = Kind.INSTANCE if folder == "InstanceSegmentations" else Kind.PANOPTIC
    ref = EntityRef(kind, run=run, voxel_spacing=vs, user=bits[1], session=bits[2], name=name)
    if (p := ref_problem(ref)):
        return Unrecognised(where, p)
    return ref, member
