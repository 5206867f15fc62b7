"""Write a small copick project with copick 2's own API, so synctui syncs what copick 2 makes.

Run INSIDE the copick 2 venv: ``<venv>/bin/python copick2_writer.py DIR``; prints the
config path.  Uses only copick's public API: ``new_run``, ``new_voxel_spacing``,
``new_tomogram`` + ``from_numpy`` (a 3-level pyramid), ``new_features``,
``new_segmentation`` (binary, multilabel, instance, panoptic), ``new_picks`` +
``from_numpy``, ``new_mesh`` and ``new_filaments``.  Seeded, so reruns hold the same
values (the bytes are copick's business).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

OBJECTS = [
    {"name": "ribosome", "is_particle": True, "label": 1, "color": [0, 117, 220, 255],
     "radius": 150.0},
    {"name": "membrane", "is_particle": False, "label": 2, "color": [255, 204, 153, 255]},
    {"name": "apoferritin", "is_particle": True, "label": 3, "color": [76, 0, 92, 255],
     "radius": 60.0},
    {"name": "microtubule", "is_particle": True, "label": 4, "color": [25, 25, 25, 255],
     "radius": 125.0, "metadata": {"copick": {"filament": {"polar": True}}}},
]
SHAPE = (48, 64, 64)


def main(directory: str) -> int:
    import copick
    import trimesh

    directory = os.path.abspath(directory)
    overlay = os.path.join(directory, "overlay")
    os.makedirs(overlay, exist_ok=True)
    config = os.path.join(directory, "copick2.json")
    with open(config, "w") as fh:
        json.dump({"config_type": "filesystem", "name": "written by copick 2",
                   "description": "tests/compat/copick2_writer.py", "version": "1.0.0",
                   "pickable_objects": OBJECTS, "user_id": "alice",
                   "overlay_root": "local://" + overlay, "overlay_fs_args": {"auto_mkdir": True}},
                  fh, indent=4)
    root = copick.from_file(config)
    rng = np.random.default_rng(13)
    for run_name in ("TS_001", "TS_002"):
        run = root.new_run(run_name)
        vs = run.new_voxel_spacing(10.0)
        tomo = vs.new_tomogram("wbp")
        tomo.from_numpy(rng.normal(size=SHAPE).astype(np.float32))  # 3 pyramid levels
        tomo.new_features("sobel").from_numpy(rng.normal(size=(3, *SHAPE)).astype(np.float32))
        labels = rng.integers(0, 3, size=SHAPE, dtype=np.uint8)
        run.new_segmentation(voxel_size=10.0, name="membrane", session_id="1",
                             is_multilabel=False, user_id="alice").from_numpy(
                                 (labels == 2).astype(np.uint8))
        run.new_segmentation(voxel_size=10.0, name="organelles", session_id="1",
                             is_multilabel=True, user_id="alice").from_numpy(labels)
        instances = rng.integers(0, 9, size=SHAPE).astype(np.uint16)
        run.new_segmentation(voxel_size=10.0, name="ribosome", session_id="1",
                             is_multilabel=False, user_id="alice", is_instance=True).from_numpy(
                                 instances)
        semantic = np.where(instances > 0, 1, 0).astype(np.uint16)
        run.new_segmentation(voxel_size=10.0, name="organelles", session_id="1",
                             is_multilabel=False, user_id="alice", is_panoptic=True).from_numpy(
                                 np.stack([semantic, instances]))
        for user, obj, n in (("alice", "ribosome", 7), ("bob", "ribosome", 4),
                             ("alice", "apoferritin", 5)):
            picks = run.new_picks(obj, "1", user)
            rot = np.tile(np.eye(4), (n, 1, 1))
            rot[:, :3, :3] = np.linalg.qr(rng.normal(size=(n, 3, 3)))[0]
            picks.from_numpy(rng.uniform(0, 600, size=(n, 3)), rot,
                             instance_ids=np.arange(1, n + 1), scores=rng.uniform(0, 1, n))
        mesh = run.new_mesh("ribosome", "1", "alice")
        mesh.mesh = trimesh.creation.icosphere(subdivisions=2, radius=120.0)
        mesh.store()
        fil = run.new_filaments("microtubule", "1", "alice")
        fil.from_numpy([np.cumsum(rng.uniform(10, 40, size=(6, 3)), axis=0) for _ in range(2)])
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
