"""Work units: whole entities, each exactly once, within the caps (a large entity alone)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from synctui.project.layout import EntityRef, Kind
from synctui.sync.cluster.units import entity_bytes, make_units, unit_caps
from synctui.sync.plan import Act, EntityPlan, FileAction, Plan, PlanOptions

ACTIONS = [Act.CREATE, Act.UPDATE, Act.DELETE, Act.SKIP, Act.CONFLICT]


def entity(i: int, action: Act, sizes: list[int]) -> EntityPlan:
    ref = EntityRef(Kind.MESH, run=f"r{i}", user="alice", session="1", name="ribosome")
    files = [FileAction(Act.DELETE if action is Act.DELETE else Act.CREATE, f"ExperimentRuns/r{i}/f{k}",
                        None if action is Act.DELETE else f"ExperimentRuns/r{i}/f{k}", size, "test")
             for k, size in enumerate(sizes)]
    return EntityPlan(action, Kind.MESH, ref, ref, "test", files=files)


def plan_of(ents: list[EntityPlan]) -> Plan:
    return Plan("a", "b", None, None, PlanOptions(), {}, entities=ents)


entities = st.lists(st.tuples(st.sampled_from(ACTIONS),
                              st.lists(st.integers(0, 64 << 20), min_size=0, max_size=40)),
                    max_size=60)


@settings(max_examples=150, deadline=None)
@given(entities, st.integers(1, 16))
def test_every_writing_entity_is_in_exactly_one_unit_whole(spec, slots) -> None:
    ents = [entity(i, act, sizes) for i, (act, sizes) in enumerate(spec)]
    units = make_units(plan_of(ents), slots)
    placed = [e for u in units for e in u.entities]
    order = {id(e): i for i, e in enumerate(ents)}
    assert sorted(placed, key=lambda e: order[id(e)]) == [e for e in ents if e.action.writes and e.files]
    for u in units:  # within a unit, plan order (a run's entities stay together)
        assert [order[id(e)] for e in u.entities] == sorted(order[id(e)] for e in u.entities)
    assert [u.index for u in units] == list(range(len(units)))
    cap_bytes, cap_files = unit_caps(sum(entity_bytes(e) for e in placed),
                                     sum(len(e.files) for e in placed), slots)
    for u in units:
        assert u.files == sum(len(e.files) for e in u.entities)
        assert u.bytes == sum(entity_bytes(e) for e in u.entities)
        if len(u.entities) > 1:  # only a large entity may exceed the caps, and then alone
            assert u.bytes <= cap_bytes and u.files <= cap_files


def test_large_entities_go_alone_and_small_ones_share() -> None:
    big = entity(0, Act.CREATE, [300 << 20])
    small = [entity(i, Act.CREATE, [1 << 10] * 3) for i in range(1, 5)]
    units = make_units(plan_of([small[0], big, *small[1:]]), slots=1)
    assert sorted(len(u.entities) for u in units) == [1, 4]
    assert [u.entities for u in units if big in u.entities] == [[big]]


def test_units_balance_a_many_small_file_plan_over_the_slots() -> None:
    ents = [entity(i, Act.CREATE, [32 << 10] * 10) for i in range(2000)]  # 20,000 x 32 KiB
    units = make_units(plan_of(ents), slots=4)
    assert len(units) >= 4 * 4  # a few units per worker thread, so fast ones take more
    costs = sorted(u.cost for u in units)
    assert costs[-1] <= 2 * costs[1]  # all alike but (at most) one partly filled unit
