"""Every effect has a place: staged into the commit, run after it, or the front end's."""

from __future__ import annotations

from datetime import datetime

from bot import executors
from bot.engine.effects import ALL, BARE, EvidenceFile, Forget, OpenCase, ShowCase
from bot.store.memory import MemoryStore
from tests.support import TZ, project_engine


def test_every_effect_type_has_an_executor_or_an_owner() -> None:
    assert executors.unplaced() == []
    assert set(BARE) <= {t.kind for t in ALL}


def test_forget_is_staged_and_reported_and_show_case_runs_after_the_commit() -> None:
    assert Forget in executors.STAGED and Forget in executors.AFTER
    assert ShowCase in executors.AFTER and ShowCase not in executors.STAGED


def test_a_case_opens_in_one_flat_shape_with_its_earlier_files_as_evidence() -> None:
    engine = project_engine()
    conv = engine.new_conversation(7)
    now = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    opening = OpenCase("damaged", "signed", {"order_no": "P1"}, (("photo", "F0"),))
    st = executors.stage(
        conv,
        [opening, EvidenceFile("video", "F1")],
        now,
        store=MemoryStore(),
        engine=engine,
        on_handoff=lambda c: (),
    )
    (case,) = st.changes.cases
    assert case.fields == {"reason": "damaged", "stage": "signed", "order_no": "P1"}
    assert conv.case_id == case.case_id
    assert [(e.media, e.file_id) for e in st.changes.evidence] == [("photo", "F0"), ("video", "F1")]
