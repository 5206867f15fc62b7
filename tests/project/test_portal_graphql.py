"""synctui's GraphQL queries are valid against the schema the cryoet-data-portal client ships."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from synctui.project.portal.graphql import QUERIES


@pytest.fixture(scope="module")
def schema():
    spec = importlib.util.find_spec("cryoet_data_portal")
    if spec is None:
        pytest.skip("cryoet-data-portal is not installed (the test extra has it)")
    from graphql import build_schema

    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "schema.graphql"
    return build_schema(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_is_valid_against_the_real_schema(name, schema):
    from graphql import parse, validate

    errors = validate(schema, parse(QUERIES[name]))
    assert errors == [], [e.message for e in errors]
