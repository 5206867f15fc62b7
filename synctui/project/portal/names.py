"""The names copick (1.31 and 2.x, ``impl/cryoet_data_portal.py``) gives portal entities.

- a run is named by its portal id: ``str(run.id)`` (``CopickRunMetaCDP.from_portal``);
- a tomogram type is ``camel(reconstruction_method)-camel(processing)``, then
  ``-camel(processing_software)`` if set and ``-ctfdeconv`` if CTF-corrected;
- picks and segmentations belong to user ``data-portal``, session ``str(annotation_file.id)``,
  and take the name of the config's object whose ``identifier`` is the annotation's
  ``object_id`` (copick's ``go_map``);
- ``copick sync --source-dataset-ids`` names objects ``sanitize_name(object_name).lower()``.
"""

from __future__ import annotations

import re
from typing import Any

PORTAL_USER = "data-portal"
#: annotation shapes copick reads (``copick.util.portal_cache.SHAPE_TYPES``)
PICK_SHAPES = ("Point", "OrientedPoint")
SEGMENTATION_SHAPES = ("SegmentationMask", "InstanceSegmentationMask")
SHAPE_TYPES = PICK_SHAPES + SEGMENTATION_SHAPES


def camel(s: str) -> str:
    """copick's ``camel``, exactly (``"fourier_space"`` -> ``"fourierSpace"``, ``"WBP"`` -> ``"wbp"``)."""
    s = re.sub(r"([_\-])+", " ", s).title().replace(" ", "")
    return "".join([s[0].lower(), s[1:]])


def tomo_type(tomogram: dict[str, Any]) -> str:
    """``CopickTomogramMetaCDP.from_portal``'s name for a portal tomogram."""
    name = f"{camel(tomogram['reconstructionMethod'])}-{camel(tomogram['processing'])}"
    if tomogram.get("processingSoftware"):
        name += f"-{camel(tomogram['processingSoftware'])}"
    if tomogram.get("ctfCorrected"):
        name += "-ctfdeconv"
    return name


_INVALID = re.compile(r'[<>:"/\\|?*\x00-\x1F\x7F\s_]')


def sanitize_name(text: str) -> str:
    """copick's ``sanitize_name``: invalid characters become dashes, outer dashes go."""
    out = _INVALID.sub("-", text).strip("-")
    if not out:
        raise ValueError(f"{text!r} has no character a copick name may hold")
    return out


def object_name_for(annotation: dict[str, Any]) -> str:
    """The name ``copick.util.portal.objects_from_datasets`` gives a portal object."""
    return sanitize_name(annotation["objectName"]).lower()
