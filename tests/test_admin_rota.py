"""The rota: shifts by hand, weekly patterns, CSV import, coverage and its warning."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from advice_line.audit import Actor
from advice_line.clock import LONDON, utcnow
from advice_line.lifecycle import rota
from advice_line.lifecycle.coverage import coverage
from advice_line.lifecycle.errors import IllegalTransition, InvalidInput, NotFound
from advice_line.lifecycle.imports import ImportRejected
from advice_line.lifecycle.rota_import import import_shifts
from advice_line.models import AuditEvent, Clinician, Profession, RotaPattern, Shift, Skill
from tests.builders import POLICY, add_clinician
from tests.test_console import csrf, demo, sign_in
from tests.test_metrics import a_minute_later, scrape

__all__ = ["demo"]  # the fixture, imported for these tests

ADMIN = Actor("user", 1, "127.0.0.1")
#: A Monday in winter (GMT), well before the changes of the clocks below.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SPRING = date(2026, 3, 29)  # the clocks go forward at 01:00 GMT
AUTUMN = date(2026, 10, 25)  # the clocks go back at 02:00 BST


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def nobody(session: Session, **options: object) -> Clinician:
    """A clinician with no shift yet."""
    clinician = add_clinician(session, **options)  # type: ignore[arg-type]
    for shift in list(clinician.shifts):
        session.delete(shift)
    session.flush()
    session.expire(clinician)
    return clinician


def shifts_of(session: Session, clinician: Clinician) -> list[tuple[datetime, datetime]]:
    return [
        (s.starts_at, s.ends_at)
        for s in session.scalars(
            select(Shift).where(Shift.clinician_id == clinician.id).order_by(Shift.starts_at)
        )
    ]


def audited(session: Session, action: str) -> int:
    return session.scalar(select(func.count()).where(AuditEvent.action == action)) or 0


# --- shifts by hand --------------------------------------------------------------------


def test_a_shift_is_given_in_london_time_and_stored_in_utc(session: Session) -> None:
    nurse = nobody(session)
    summer = rota.add_shift(
        session, nurse.id, date(2026, 6, 1), time(8), time(20), now=NOW, actor=ADMIN
    )
    night = rota.add_shift(
        session, nurse.id, date(2026, 12, 1), time(20), time(8), now=NOW, actor=ADMIN
    )
    assert (summer.starts_at, summer.ends_at) == (utc(2026, 6, 1, 7), utc(2026, 6, 1, 19))
    assert (night.starts_at, night.ends_at) == (utc(2026, 12, 1, 20), utc(2026, 12, 2, 8))
    assert audited(session, "shift.added") == 2


def test_a_time_the_clocks_skip_is_refused_and_one_they_repeat_is_read_as_summer_time(
    session: Session,
) -> None:
    nurse = nobody(session)
    with pytest.raises(InvalidInput, match="clocks go forward") as refused:
        rota.add_shift(session, nurse.id, SPRING, time(1, 30), time(9), now=NOW, actor=ADMIN)
    assert "start" in refused.value.errors
    shift = rota.add_shift(session, nurse.id, AUTUMN, time(1, 30), time(6), now=NOW, actor=ADMIN)
    assert shift.starts_at == utc(2026, 10, 25, 0, 30), "01:30 BST, its first occurrence"
    assert shift.ends_at == utc(2026, 10, 25, 6)


def test_bad_shifts_are_refused_and_nothing_is_stored(session: Session) -> None:
    nurse = nobody(session)
    rota.add_shift(session, nurse.id, date(2026, 3, 10), time(8), time(20), now=NOW, actor=ADMIN)
    cases = [
        (
            date(2026, 3, 10),
            time(19),
            time(23),
            "overlaps their shift Tue 10/03/2026 08:00\N{EN DASH}20:00",
        ),
        (date(2026, 3, 1), time(8), time(20), "over already"),
        # 02:00 to 02:00 across the night the clocks go back is 25 hours.
        (date(2026, 10, 24), time(2), time(2), "24 hours at most"),
    ]
    for day, start, end, message in cases:
        with pytest.raises(InvalidInput, match=message):
            rota.add_shift(session, nurse.id, day, start, end, now=NOW, actor=ADMIN)
    with pytest.raises(NotFound):
        rota.add_shift(session, 999_999, date(2026, 3, 10), time(8), time(9), now=NOW, actor=ADMIN)
    leaver = nobody(session)
    leaver.user.active = False
    with pytest.raises(IllegalTransition, match="deactivated"):
        rota.add_shift(
            session, leaver.id, date(2026, 3, 10), time(8), time(9), now=NOW, actor=ADMIN
        )
    assert len(shifts_of(session, nurse)) == 1
    other = nobody(session)
    rota.add_shift(session, other.id, date(2026, 3, 10), time(8), time(20), now=NOW, actor=ADMIN)


def test_only_a_shift_to_come_can_be_removed(session: Session) -> None:
    nurse = nobody(session)
    later = rota.add_shift(
        session, nurse.id, date(2026, 3, 3), time(8), time(20), now=NOW, actor=ADMIN
    )
    now_on = rota.add_shift(
        session, nurse.id, date(2026, 3, 2), time(8), time(20), now=NOW, actor=ADMIN
    )
    with pytest.raises(IllegalTransition, match="has started"):
        rota.remove_shift(session, now_on.id, now=NOW, actor=ADMIN)
    rota.remove_shift(session, later.id, now=NOW, actor=ADMIN)
    with pytest.raises(NotFound):
        rota.remove_shift(session, later.id, now=NOW, actor=ADMIN)
    assert shifts_of(session, nurse) == [(utc(2026, 3, 2, 8), utc(2026, 3, 2, 20))]
    assert audited(session, "shift.removed") == 1


# --- weekly patterns -------------------------------------------------------------------


def test_a_night_pattern_gives_11_and_13_hour_shifts_when_the_clocks_change(
    session: Session,
) -> None:
    nurse = nobody(session)
    rota.add_pattern(
        session, nurse.id, 5, time(20), time(8),  # Saturday nights
        valid_from=date(2026, 1, 1), valid_until=None, now=NOW, actor=ADMIN,
    )  # fmt: skip
    rota.generate_shifts(session, days=28, now=utc(2026, 3, 20, 12), actor=ADMIN)
    rota.generate_shifts(session, days=28, now=utc(2026, 10, 20, 12), actor=ADMIN)
    lengths = {s.date(): (e - s) / timedelta(hours=1) for s, e in shifts_of(session, nurse)}
    assert lengths[date(2026, 3, 28)] == 11, "the night the clocks go forward"
    assert lengths[date(2026, 10, 24)] == 13, "the night the clocks go back"
    assert lengths[date(2026, 3, 21)] == 12
    assert (utc(2026, 3, 28, 20), utc(2026, 3, 29, 7)) in shifts_of(session, nurse)


def test_making_shifts_is_idempotent_and_what_is_on_the_rota_wins(session: Session) -> None:
    nurse = nobody(session)
    rota.add_shift(session, nurse.id, date(2026, 3, 4), time(6), time(10), now=NOW, actor=ADMIN)
    rota.add_pattern(
        session, nurse.id, 2, time(8), time(20),  # Wednesdays
        valid_from=date(2026, 3, 1), valid_until=date(2026, 3, 25), now=NOW, actor=ADMIN,
    )  # fmt: skip
    assert rota.generate_shifts(session, days=28, now=NOW, actor=ADMIN) == 3
    assert rota.generate_shifts(session, days=28, now=NOW, actor=ADMIN) == 0
    assert shifts_of(session, nurse) == [
        (utc(2026, 3, 4, 6), utc(2026, 3, 4, 10)),  # by hand; the pattern's would overlap it
        (utc(2026, 3, 11, 8), utc(2026, 3, 11, 20)),
        (utc(2026, 3, 18, 8), utc(2026, 3, 18, 20)),
        (utc(2026, 3, 25, 8), utc(2026, 3, 25, 20)),  # then the pattern ends
    ]
    removed = session.scalars(select(Shift).where(Shift.starts_at == utc(2026, 3, 11, 8))).one()
    rota.remove_shift(session, removed.id, now=NOW, actor=ADMIN)
    assert rota.generate_shifts(session, days=60, now=NOW + timedelta(days=1), actor=ADMIN) == 0
    assert len(shifts_of(session, nurse)) == 3, "a shift removed by hand is not made again"


def test_a_bad_pattern_is_refused(session: Session) -> None:
    nurse = nobody(session)
    with pytest.raises(InvalidInput, match="on or after"):
        rota.add_pattern(
            session, nurse.id, 0, time(8), time(20),
            valid_from=date(2026, 3, 9), valid_until=date(2026, 3, 1), now=NOW, actor=ADMIN,
        )  # fmt: skip
    with pytest.raises(InvalidInput, match="another time"):
        rota.add_pattern(
            session, nurse.id, 0, time(8), time(8),
            valid_from=date(2026, 3, 9), valid_until=None, now=NOW, actor=ADMIN,
        )  # fmt: skip
    assert session.scalar(select(func.count(RotaPattern.id))) == 0


# --- import ----------------------------------------------------------------------------


def test_an_import_stores_every_shift_by_username_or_registration(session: Session) -> None:
    nurse = nobody(session)
    doctor = nobody(session, profession=Profession.DOCTOR)
    data = (
        "staff_id,name,date,start,end,duty\n"
        f"{nurse.user.username},Someone,2026-03-09,08:00,20:00,Day\n"
        f"{doctor.registration_number},,09/03/2026,20:00,08:00,Night\n"
    )
    assert import_shifts(session, data, now=NOW, actor=ADMIN) == 2
    assert shifts_of(session, nurse) == [(utc(2026, 3, 9, 8), utc(2026, 3, 9, 20))]
    assert shifts_of(session, doctor) == [(utc(2026, 3, 9, 20), utc(2026, 3, 10, 8))]
    assert audited(session, "rota.imported") == 1


def test_a_bad_import_stores_nothing_and_names_each_bad_line(session: Session) -> None:
    nurse = nobody(session)
    rota.add_shift(session, nurse.id, date(2026, 3, 12), time(8), time(20), now=NOW, actor=ADMIN)
    name = nurse.user.username
    rows = [
        "staff_id,date,start,end",
        f"{name},2026-03-09,08:00,20:00",  # good
        f"{name},2026-02-31,08:00,20:00",  # no such date
        f"{name},2026-03-10,25:00,08:00",  # no such time
        "nobody,2026-03-10,08:00,20:00",  # unknown staff
    ]
    with pytest.raises(ImportRejected) as refused:
        import_shifts(session, "\n".join(rows), now=NOW, actor=ADMIN)
    assert [line for line, _ in refused.value.problems] == [3, 4, 5]
    assert "not a date" in refused.value.problems[0][1]
    assert "not a time" in refused.value.problems[1][1]
    assert "no clinician" in refused.value.problems[2][1]

    overlapping = [
        "staff_id,date,start,end",
        f"{name},2026-03-09,08:00,20:00",
        f"{name},2026-03-09,19:00,23:00",  # overlaps line 2
        f"{name},2026-03-12,18:00,22:00",  # overlaps the shift on the rota
    ]
    with pytest.raises(ImportRejected) as refused:
        import_shifts(session, "\n".join(overlapping), now=NOW, actor=ADMIN)
    assert refused.value.problems == [
        (3, "overlaps line 2"),
        (4, "overlaps their shift Thu 12/03/2026 08:00\N{EN DASH}20:00 on the rota"),
    ]
    assert len(shifts_of(session, nurse)) == 1, "nothing half-imported"


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("staff_id,date,start\nx,2026-03-09,08:00\n", "missing column 'end'"),
        ("", "the file is empty"),
        (b"staff_id,date,start,end\n\xff\xfe,2026-03-09,08:00,20:00\n", "not UTF-8"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused(
    session: Session, data: str | bytes, problem: str
) -> None:
    with pytest.raises(ImportRejected) as refused:
        import_shifts(session, data, now=NOW, actor=ADMIN)
    assert problem in str(refused.value)


# --- coverage --------------------------------------------------------------------------


def test_coverage_shows_hours_with_no_qualifying_clinician_or_none_with_a_skill(
    session: Session,
) -> None:
    camhs = nobody(session, skills=[Skill.CAMHS])
    plain = nobody(session)
    helper = nobody(session, profession=Profession.SUPPORT_WORKER, skills=[Skill.CAMHS])
    # 09:00 to 11:00 GMT CAMHS, 11:00 to 12:30 plain only, 12:30 to 14:00 a support worker only.
    for clinician, start, end in [
        (camhs, NOW, NOW + timedelta(hours=2)),
        (plain, NOW + timedelta(hours=2), NOW + timedelta(hours=3, minutes=30)),
        (helper, NOW, NOW + timedelta(hours=5)),
    ]:
        session.add(Shift(clinician_id=clinician.id, starts_at=start, ends_at=end))
    session.flush()
    found = coverage(session, now=NOW + timedelta(minutes=20), hours=5, policy=POLICY)
    assert [str(gap) for gap in found.gaps() if gap.kind in ("any", "camhs")] == [
        "Mon 2 Mar 11:00\N{EN DASH}14:00: no qualifying clinician with CAMHS",
        "Mon 2 Mar 12:00\N{EN DASH}14:00: no qualifying clinician",
    ]
    assert found.hours_uncovered("any") == 2
    assert found.hours_uncovered("autism") == 5
    day, hours = found.grid()[0]
    assert day == date(2026, 3, 2)
    assert dict(hours)[9] == ["learning_disability", "older_adult", "autism", "perinatal"]
    assert "any" in dict(hours)[12]


def test_a_registration_that_lapses_within_the_period_covers_nothing_from_its_lapse_day(
    session: Session,
) -> None:
    """Monday 2 March 2026, 20:00 to Tuesday 08:00 GMT: the registration lapses on the
    Tuesday, so the night is covered only until midnight."""
    night = nobody(session)
    night.registration_lapses_on = date(2026, 3, 3)
    evening = utc(2026, 3, 2, 20)
    session.add(
        Shift(clinician_id=night.id, starts_at=evening, ends_at=evening + timedelta(hours=12))
    )
    session.flush()
    found = coverage(session, now=evening, hours=12, policy=POLICY)
    assert [str(gap) for gap in found.gaps() if gap.kind == "any"] == [
        "Tue 3 Mar 00:00\N{EN DASH}08:00: no qualifying clinician"
    ]


# --- pages, the warning, the metric and the command line ------------------------------


def test_clinicians_may_not_use_the_rota_and_managers_only_see_coverage(
    app: Flask, demo: Session
) -> None:
    for username in ("amira", "sam"):
        client = sign_in(app, username)
        assert client.get("/admin/rota").status_code == 403
        assert client.get("/admin/coverage").status_code == 403
    manager = sign_in(app, "morgan")
    assert manager.get("/admin/coverage").status_code == 200
    assert manager.get("/admin/rota").status_code == 403
    token = csrf(manager, "/admin/coverage")
    refused = manager.post("/admin/rota/generate", data={"csrf_token": token})
    assert refused.status_code == 403
    page = manager.get("/admin/coverage").get_data(as_text=True)
    assert "Coverage for the next 14 days" in page
    assert 'href="/admin/coverage"' in page, "in the manager's navigation"
    assert 'href="/admin/rota"' not in page


def test_an_admin_adds_a_shift_and_sees_why_a_bad_one_is_refused(app: Flask, demo: Session) -> None:
    client = sign_in(app, "alex")
    token = csrf(client, "/admin/rota")
    amira = rota.find_clinician(demo, "amira")
    day = (utcnow() + timedelta(days=5)).date().isoformat()
    form = {
        "csrf_token": token,
        "clinician": amira.id,
        "date": day,
        "start": "08:00",
        "end": "20:00",
    }
    added = client.post("/admin/rota/shifts", data=form)
    assert added.status_code == 302
    assert "Shift added" in client.get("/admin/rota").get_data(as_text=True)
    again = client.post("/admin/rota/shifts", data=form)
    assert again.status_code == 400
    assert "It overlaps their shift" in again.get_data(as_text=True)
    bad = client.post("/admin/rota/shifts", data={**form, "start": "8 o'clock"})
    assert bad.status_code == 400
    assert audited(demo, "shift.added") == 1


def test_an_admin_imports_a_file_on_the_page_and_sees_the_bad_lines(
    app: Flask, demo: Session
) -> None:
    client = sign_in(app, "alex")
    token = csrf(client, "/admin/rota")
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    bad = f"staff_id,date,start,end\namira,{day},08:00,20:00\nnobody,{day},08:00,20:00\n"
    answer = client.post(
        "/admin/rota/import",
        data={"csrf_token": token, "file": (io.BytesIO(bad.encode()), "rota.csv")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400
    assert "Line 3: staff_id: no clinician" in answer.get_data(as_text=True)
    good = client.post(
        "/admin/rota/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(bad.encode()[: bad.index("nobody")]), "rota.csv"),
        },
        content_type="multipart/form-data",
    )
    assert good.status_code == 302
    assert audited(demo, "rota.imported") == 1


def test_a_gap_soon_is_warned_of_on_the_floor_the_dashboard_and_in_the_metric(
    app: Flask, demo: Session
) -> None:
    # The demo's shifts end 10 hours from now: a gap within the 48 hours warned of.
    floor = sign_in(app, "sam").get("/console/floor").get_data(as_text=True)
    assert "Gaps in the rota soon" in floor
    assert "no qualifying clinician" in floor
    dashboard = sign_in(app, "morgan").get("/reports/").get_data(as_text=True)
    assert "Gaps in the rota soon" in dashboard
    seen = scrape(app)
    assert seen["advice_line_coverage_gap_hours{skill=any}"] == 24, "10 to 22 and 34 to 46 h"

    everyone = nobody(demo, skills=list(Skill))
    start = utcnow().replace(minute=0, second=0, microsecond=0)
    for days in range(3):
        demo.add(
            Shift(
                clinician_id=everyone.id,
                starts_at=start + timedelta(hours=24 * days),
                ends_at=start + timedelta(hours=24 * days + 24),
            )
        )
    demo.commit()
    assert "Gaps in the rota soon" not in sign_in(app, "sam").get("/console/floor").get_data(
        as_text=True
    )
    a_minute_later(app)  # the metric's figures are kept for a minute
    seen = scrape(app)
    assert seen["advice_line_coverage_gap_hours{skill=any}"] == 0
    assert seen["advice_line_coverage_gap_hours{skill=camhs}"] == 0


def test_the_rota_commands(app: Flask, demo: Session, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    day = (utcnow() + timedelta(days=20)).date().isoformat()
    added = runner.invoke(args=["rota", "add", "amira", day, "08:00", "20:00"])
    assert added.exit_code == 0, added.output
    assert "added" in added.output
    clash = runner.invoke(args=["rota", "add", "amira", day, "19:00", "21:00"])
    assert clash.exit_code == 1
    assert "overlaps" in clash.output
    bad = tmp_path / "bad.csv"
    bad.write_text(f"staff_id,date,start,end\nben,{day},08:00,20:00\nben,{day},nine,20:00\n")
    refused = runner.invoke(args=["rota", "import", str(bad)])
    assert refused.exit_code == 1
    assert "line 3: start:" in refused.output
    assert "Nothing was imported" in refused.output
    gaps = runner.invoke(args=["rota", "coverage", "--days", "2"])
    assert gaps.exit_code == 0
    assert "no qualifying clinician" in gaps.output
    shift_id = demo.scalar(select(func.max(Shift.id)))
    removed = runner.invoke(args=["rota", "remove", str(shift_id)])
    assert removed.exit_code == 0, removed.output
    made = runner.invoke(args=["rota", "generate", "--days", "7"])
    assert made.exit_code == 0
    assert "0 shifts made" in made.output


def test_the_scheduler_makes_the_patterns_shifts_each_tick(app: Flask, demo: Session) -> None:
    from advice_line.cli import build_scheduler

    amira = rota.find_clinician(demo, "amira")
    today = utcnow().astimezone(LONDON).date()
    rota.add_pattern(
        demo, amira.id, (today + timedelta(days=4)).weekday(), time(8), time(20),
        valid_from=today, valid_until=None, now=utcnow(), actor=ADMIN,
    )  # fmt: skip
    demo.commit()

    def shifts() -> int:
        demo.rollback()  # see what the scheduler committed
        return demo.scalar(select(func.count(Shift.id))) or 0

    before = shifts()
    build_scheduler("test").tick()
    made = shifts() - before
    assert made in (4, 5), "each week of ROTA_GENERATE_DAYS (28) days"
    build_scheduler("test").tick()
    assert shifts() - before == made, "made once"


def test_an_admin_keeps_patterns_makes_their_shifts_and_removes_shifts_on_the_page(
    app: Flask, demo: Session
) -> None:
    client = sign_in(app, "alex")
    token = csrf(client, "/admin/rota")
    ben = rota.find_clinician(demo, "ben")
    today = utcnow().astimezone(LONDON).date()
    pattern = {
        "csrf_token": token,
        "clinician": ben.id,
        "weekday": (today + timedelta(days=3)).weekday(),
        "start": "20:00",
        "end": "08:00",
        "valid_from": today.isoformat(),
        "valid_until": "",
    }
    backwards = {**pattern, "valid_until": (today - timedelta(days=1)).isoformat()}
    refused = client.post("/admin/rota/patterns", data=backwards)
    assert refused.status_code == 400
    assert "The pattern must end on or after the day it starts." in refused.get_data(as_text=True)
    assert client.post("/admin/rota/patterns", data=pattern).status_code == 302
    made = client.post("/admin/rota/generate", data={"csrf_token": token}, follow_redirects=True)
    assert "4 shifts made from the patterns." in made.get_data(as_text=True)
    assert audited(demo, "rota.generated") == 1

    demo.rollback()
    started = demo.scalars(
        select(Shift).where(Shift.clinician_id == ben.id).order_by(Shift.starts_at)
    ).first()
    assert started is not None
    assert started.starts_at < utcnow()
    kept = client.post(f"/admin/rota/shifts/{started.id}/remove", data={"csrf_token": token})
    assert kept.status_code == 400
    assert "has started, so it stays on the rota" in kept.get_data(as_text=True)
    latest = demo.scalar(select(func.max(Shift.id)))
    removed = client.post(f"/admin/rota/shifts/{latest}/remove", data={"csrf_token": token})
    assert removed.status_code == 302
    assert demo.get(Shift, latest) is None

    pattern_id = demo.scalar(select(RotaPattern.id))
    gone = client.post(f"/admin/rota/patterns/{pattern_id}/remove", data={"csrf_token": token})
    assert gone.status_code == 302
    assert demo.scalar(select(func.count(RotaPattern.id))) == 0
    assert audited(demo, "rota_pattern.removed") == 1
