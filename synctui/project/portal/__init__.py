"""CryoET Data Portal projects: a portal-backed config's read-only static root.

copick's ``cryoet_data_portal`` configs read their runs, tomograms and annotations
from the portal (GraphQL metadata, files in the public bucket) and keep the
user's own work in a writable overlay.  Here the portal becomes one more Store:
a read-only virtual tree laid out as copick's filesystem layout names it (run
names, tomogram types, ``data-portal`` picks), so the catalog, the rules, the
planner, the engine and the state database treat it like any static root.

The store speaks copick names, so it lives in the project layer; it reads the
bucket through plain anonymous S3 REST calls (storage knows nothing of copick).
"""
