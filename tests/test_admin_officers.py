"""Admins keep the officers' directory: a force's import, numbers verified, leavers."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from advice_line.clock import utcnow
from advice_line.demo import DEMO_PASSWORD
from advice_line.extensions import db
from advice_line.lifecycle import directory, imports
from advice_line.models import AdviceRequest, AuditEvent, Officer, OfficerPhone, User
from tests.fake_twilio import FakeTwilio
from tests.test_console import csrf, demo, sign_in
from tests.twilio_support import ACCOUNT, LINE_NUMBER, Twilio, spoken, twilio_env

__all__ = ["demo"]  # the fixture, imported for these tests
MET = "Metropolitan Police Service"
JO = "+447700900201"  # PC Jo Smith, MP1234, in the demo data
RAVI = "+447700900202"  # PC Ravi Shah, MP5678
GOOD = (
    "force,collar_number,name,phones\n"
    "Metropolitan Police Service,mp 9001,PC Ann Lee,07700 900401; 020 7946 0401\n"
    "metropolitan police service,MP1234,PC Jo Smith-Hart,07700900201;07700 900402\n"
    "British Transport Police,BT4321,PC Kate Morris,07700 900203\n"
)
_sids = itertools.count(1)


@pytest.fixture
def app_env(fake_twilio: FakeTwilio) -> dict[str, str]:
    return twilio_env(fake_twilio.base_url)


def officer(session: Session, collar: str, force: str = MET) -> Officer:
    session.expire_all()
    return session.scalars(
        select(Officer).where(Officer.force == force, Officer.collar_number == collar)
    ).one()


def directory_size(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.scalar(select(func.count(Officer.id))) or 0,
        session.scalar(select(func.count(OfficerPhone.id))) or 0,
    )


def upload(client: FlaskClient, data: bytes, *, token: bool = True) -> Any:
    form: dict[str, Any] = {"file": (io.BytesIO(data), "force.csv")}
    if token:
        form["csrf_token"] = csrf(client, "/admin/officers/import")
    return client.post(
        "/admin/officers/import",
        data=form,
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def post(client: FlaskClient, path: str, **data: str) -> Any:
    page = re.sub(r"/phones.*|/leaver", "", path)
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def audit(session: Session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def alex_id(session: Session) -> int:
    return session.scalars(select(User.id).where(User.username == "alex")).one()


def text_from(twilio: Twilio, session: Session, number: str) -> AdviceRequest:
    """The officer texts the line from ``number``; return the request it opened."""
    response = twilio.post(
        "/twilio/sms",
        {"MessageSid": f"SM{next(_sids):032x}", "From": number, "To": LINE_NUMBER, "Body": "Help"},
    )
    assert response.status_code == 200
    session.rollback()
    return session.scalars(
        select(AdviceRequest)
        .where(AdviceRequest.caller_number == number)
        .order_by(AdviceRequest.id.desc())
        .limit(1)
    ).one()


def ring_from(twilio: Twilio, number: str) -> str:
    """The officer rings the line from ``number``; return what they hear first."""
    document = twilio.twiml(
        "/twilio/voice",
        {
            "CallSid": f"CA{next(_sids):032x}",
            "From": number,
            "To": LINE_NUMBER,
            "AccountSid": ACCOUNT,
        },
    )
    return spoken(document)


# --- import ---------------------------------------------------------------------------


def test_an_import_adds_new_officers_and_updates_known_ones(app: Flask, demo: Session) -> None:
    page = upload(sign_in(app, "alex"), GOOD.encode()).get_data(as_text=True)
    assert "Imported: 1 officers added, 1 updated, 1 unchanged" in page
    assert "3 numbers added, 0 verified" in page
    ann = officer(demo, "MP9001")
    assert ann.name == "PC Ann Lee"
    assert sorted(p.number for p in ann.phones) == ["+442079460401", "+447700900401"]
    assert all(p.verified_at is not None for p in ann.phones), "the force vouches"
    jo = officer(demo, "MP1234")
    assert jo.name == "PC Jo Smith-Hart"
    assert sorted(p.number for p in jo.phones) == [JO, "+447700900402"]
    (event,) = audit(demo, "officers.imported")
    assert event.actor_user_id == alex_id(demo)
    assert event.detail["added"] == 1
    assert event.detail["numbers_added"] == 3


BAD_FILES: dict[str, tuple[str | bytes, str]] = {
    "unknown force": (
        GOOD + "Kent Police,KP1,PC Kay,07700 900409\n",
        "Line 5: force: &#39;Kent Police&#39; is not a force the line serves",
    ),
    "bad number": (
        GOOD + f"{MET},MP9002,PC Bo,0770\n",
        "Line 5: phones: &#39;0770&#39; is not a UK mobile or landline number",
    ),
    "number twice in the file": (
        GOOD + f"{MET},MP9002,PC Bo,07700 900401\n",
        "Line 5: phones: 07700 900401 is also on line 2",
    ),
    "officer twice in the file": (
        GOOD + f"{MET},MP 9001,PC Ann Lee,\n",
        "Line 5: collar_number: MP9001 of Metropolitan Police Service is also on line 2",
    ),
    "number of another officer": (
        GOOD + f"{MET},MP9002,PC Bo,07700 900202\n",
        "Line 5: phones: 07700 900202 belongs to another officer, "
        "Metropolitan Police Service MP5678",
    ),
    "missing column": (
        "force,collar_number,name\nX,Y,Z\n",
        "Line 1: missing column &#39;phones&#39;",
    ),
    "bad collar number": (GOOD + f"{MET},MP-9/2,PC Bo,\n", "is not 1 to 10 letters and digits"),
    "not UTF-8": (GOOD.replace("Ann", "Ånn").encode("latin-1"), "the file is not UTF-8 text"),
    "empty": (b"", "Line 1: the file is empty"),
    "no rows": ("force,collar_number,name,phones\n", "Line 2: the file has a header but no rows"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_bad_file_is_reported_by_line_and_nothing_is_stored(
    app: Flask, demo: Session, case: str
) -> None:
    content, problem = BAD_FILES[case]
    before = directory_size(demo)
    response = upload(
        sign_in(app, "alex"), content if isinstance(content, bytes) else content.encode()
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Nothing was imported" in page
    assert problem in page
    assert directory_size(demo) == before
    assert officer(demo, "MP1234").name == "PC Jo Smith"
    assert audit(demo, "officers.imported") == []


def test_an_import_clashing_with_one_saved_meanwhile_is_refused_and_stores_nothing(
    app: Flask, demo: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two imports at once: the other one's officer MP9001 is saved after this one read the
    directory, so this one's insert breaks the unique force and collar number."""
    real_parse = imports.parse_rows

    def parse_then_other_import_saves(*args: Any, **kwargs: Any) -> Any:
        parsed = real_parse(*args, **kwargs)
        db.session.execute(
            insert(Officer).values(
                force=MET, collar_number="MP9001", name="PC Ann Lee", created_at=utcnow()
            )
        )
        return parsed

    monkeypatch.setattr(directory, "parse_rows", parse_then_other_import_saves)
    before = directory_size(demo)
    response = upload(sign_in(app, "alex"), GOOD.encode())
    assert response.status_code == 400
    assert "while it was being imported, so nothing was stored" in response.get_data(as_text=True)
    assert directory_size(demo) == before
    assert officer(demo, "MP1234").name == "PC Jo Smith"
    assert audit(demo, "officers.imported") == []


def test_an_import_without_a_file_is_refused(app: Flask, demo: Session) -> None:
    client = sign_in(app, "alex")
    response = client.post(
        "/admin/officers/import", data={"csrf_token": csrf(client, "/admin/officers/import")}
    )
    assert response.status_code == 400
    assert "Choose a CSV file." in response.get_data(as_text=True)


def test_the_import_command_lists_problems_exits_1_and_stores_nothing(
    app: Flask, demo: Session, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "Kent Police,KP1,PC Kay,\n" + f"{MET},MP9002,,07700 900202\n")
    before = directory_size(demo)
    result = app.test_cli_runner().invoke(args=["officers", "import", str(bad)])
    assert result.exit_code == 1
    assert "line 5: force: 'Kent Police' is not a force the line serves" in result.output
    assert "line 6: name: give the officer's name" in result.output
    assert "line 6: phones: 07700 900202 belongs to another officer" in result.output
    assert "Nothing was imported." in result.output
    assert directory_size(demo) == before

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    result = app.test_cli_runner().invoke(args=["officers", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 officers added, 1 updated, 1 unchanged; 3 numbers added" in result.output
    (event,) = audit(demo, "officers.imported")
    assert (event.actor_kind, event.source) == ("system", "flask officers import")


# --- numbers and leavers ----------------------------------------------------------------


def test_a_number_added_by_hand_identifies_no_one_until_verified(
    app: Flask, demo: Session, twilio: Twilio
) -> None:
    ravi = officer(demo, "MP5678")
    client = sign_in(app, "alex")
    path = f"/admin/officers/{ravi.id}"
    assert post(client, f"{path}/phones", phone="07700 900499").status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "+447700900499" in page
    assert "Not verified" in page

    request = text_from(twilio, demo, "+447700900499")
    assert (request.officer_verified, request.officer_id) == (False, None)

    assert post(client, f"{path}/phones/verify", number="+447700900499").status_code == 302
    assert "Hello PC Ravi Shah" in ring_from(twilio, "+447700900499")
    demo.rollback()
    events = audit(demo, "officer.phone_added") + audit(demo, "officer.phone_verified")
    assert [e.detail["number"] for e in events] == ["…499", "…499"]
    assert {e.actor_user_id for e in events} == {alex_id(demo)}
    assert {(e.subject_type, e.subject_id) for e in events} == {("officer", ravi.id)}

    assert post(client, f"{path}/phones/remove", number="+447700900499").status_code == 302
    assert [p.number for p in officer(demo, "MP5678").phones] == [RAVI]
    (removed,) = audit(demo, "officer.phone_removed")
    assert removed.detail == {"number": "…499", "was_verified": True}


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("12345", "is not a UK mobile or landline number"),
        ("not a number", "is not a phone number"),
        ("+1 202 555 0100", "is not a UK number"),
        (RAVI, "already belongs to this officer"),
        (JO, "already belongs to another officer, Metropolitan Police Service MP1234"),
        ("", "Give a UK phone number."),
    ],
)
def test_a_bad_number_by_hand_is_refused_beside_the_field(
    app: Flask, demo: Session, number: str, message: str
) -> None:
    ravi = officer(demo, "MP5678")
    client = sign_in(app, "alex")
    response = post(client, f"/admin/officers/{ravi.id}/phones", phone=number)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#39;", "'")
    assert [p.number for p in officer(demo, "MP5678").phones] == [RAVI]
    assert audit(demo, "officer.phone_added") == []


def test_verifying_twice_or_another_officers_number_is_refused(app: Flask, demo: Session) -> None:
    ravi = officer(demo, "MP5678")
    client = sign_in(app, "alex")
    again = post(client, f"/admin/officers/{ravi.id}/phones/verify", number=RAVI)
    assert again.status_code == 400
    assert "is already verified" in again.get_data(as_text=True)
    others = post(client, f"/admin/officers/{ravi.id}/phones/remove", number=JO)
    assert others.status_code == 404
    assert [p.number for p in officer(demo, "MP1234").phones] == [JO]


def test_a_leavers_number_no_longer_identifies_them_and_can_be_given_to_another(
    app: Flask, demo: Session, twilio: Twilio
) -> None:
    assert text_from(twilio, demo, JO).officer_verified is True
    jo = officer(demo, "MP1234")
    client = sign_in(app, "alex")
    response = post(client, f"/admin/officers/{jo.id}/leaver")
    assert response.status_code == 302
    page = client.get(f"/admin/officers/{jo.id}").get_data(as_text=True)
    assert "is marked as left; their numbers are removed" in page
    assert "Left " in page
    assert JO not in page

    left = officer(demo, "MP1234")
    assert left.left_at is not None
    assert left.phones == []
    assert "collar number" in ring_from(twilio, JO), "asked who they are, like anyone"
    demo.rollback()
    call = demo.scalars(select(AdviceRequest).where(AdviceRequest.channel == "voice")).one()
    assert (call.officer_verified, call.officer_id) == (False, None)
    (event,) = audit(demo, "officer.left")
    assert event.detail == {"numbers_removed": ["…201"]}
    assert JO not in json.dumps(event.detail)

    again = post(client, f"/admin/officers/{jo.id}/leaver")
    assert again.status_code == 400
    assert "is already marked as left" in again.get_data(as_text=True)

    ravi = officer(demo, "MP5678")
    assert post(client, f"/admin/officers/{ravi.id}/phones", phone=JO).status_code == 302
    assert {p.number for p in officer(demo, "MP5678").phones} == {RAVI, JO}


def test_the_cli_verifies_marks_leavers_and_lists(app: Flask, demo: Session) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["officers", "verify", "07700 900202"])
    assert refused.exit_code == 1
    assert "is already verified" in refused.output
    missing = runner.invoke(args=["officers", "verify", "07700 900999"])
    assert missing.exit_code == 1
    assert "is not in the officers' directory" in missing.output

    left = runner.invoke(args=["officers", "leaver", "british transport police", "bt 4321"])
    assert left.exit_code == 0, left.output
    assert "British Transport Police BT4321 is marked as left" in left.output
    unknown = runner.invoke(args=["officers", "leaver", "Kent Police", "KP1"])
    assert unknown.exit_code == 1
    assert "is not a force the line serves" in unknown.output
    (event,) = audit(demo, "officer.left")
    assert event.source == "flask officers leaver"

    listing = runner.invoke(args=["officers", "list", "--force", "British Transport Police"])
    assert listing.exit_code == 0
    ((force, collar, name, numbers, left_at),) = [
        line.split("\t") for line in listing.output.splitlines()
    ]
    assert (force, collar, name, numbers) == (
        "British Transport Police",
        "BT4321",
        "PC Kate Morris",
        "",
    )
    assert left_at


def test_the_directory_is_searched_and_paged(app: Flask, demo: Session) -> None:
    rows = "".join(f"{MET},Q{n:04d},PC Many {n},07700 9{n:05d}\n" for n in range(120))
    client = sign_in(app, "alex")
    upload(client, ("force,collar_number,name,phones\n" + rows).encode())
    first = client.get("/admin/officers?force=Metropolitan+Police+Service").get_data(as_text=True)
    assert "122 officers, page 1 of 3." in first
    assert first.count("/admin/officers/") - first.count("/admin/officers/import") == 50
    assert "Next page" in first
    assert "Previous page" not in first
    last = client.get("/admin/officers?page=3&force=Metropolitan+Police+Service")
    assert "page 3 of 3" in last.get_data(as_text=True)
    assert "page=2" in last.get_data(as_text=True).split("Previous page")[0].rsplit("href", 1)[1]
    for query, found in [
        ("q=mp5678", "PC Ravi Shah"),
        ("q=ravi", "PC Ravi Shah"),
        ("q=07700+900202", "PC Ravi Shah"),
        ("q=0900203", "PC Kate Morris"),
    ]:
        page = client.get(f"/admin/officers?{query}").get_data(as_text=True)
        assert "1 officer." in page, query
        assert found in page, query
    assert "0 officers." in client.get("/admin/officers?q=%25").get_data(as_text=True)


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["amira", "sam", "morgan"])
def test_only_admins_may_use_the_directory(app: Flask, demo: Session, username: str) -> None:
    jo = officer(demo, "MP1234")
    client = sign_in(app, username)
    for path in ("/admin/officers", "/admin/officers/import", f"/admin/officers/{jo.id}"):
        assert client.get(path).status_code == 403, path
    token = csrf(client, "/reports/" if username == "morgan" else "/console")
    response = client.post(f"/admin/officers/{jo.id}/leaver", data={"csrf_token": token})
    assert response.status_code == 403
    assert officer(demo, "MP1234").left_at is None
    assert sign_in(app, "anonymous").get("/admin/officers").status_code == 302


def test_changes_need_the_csrf_token(app: Flask, demo: Session) -> None:
    jo = officer(demo, "MP1234")
    client = sign_in(app, "alex")
    assert client.post(f"/admin/officers/{jo.id}/leaver").status_code == 400
    assert upload(client, GOOD.encode(), token=False).status_code == 400
    assert officer(demo, "MP1234").left_at is None
    assert officer(demo, "MP1234").name == "PC Jo Smith"


# --- in a browser -----------------------------------------------------------------------


@pytest.mark.browser
def test_alex_imports_a_forces_file_and_marks_a_leaver_in_a_browser(
    chromium: Any, live_server: tuple[str, str], tmp_path: Path
) -> None:
    base, _ = live_server
    csv_file = tmp_path / "met.csv"
    csv_file.write_text(GOOD)
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{base}/login")
        page.get_by_label("Username").fill("alex")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation").get_by_role("link", name="Officers").click()
        page.get_by_role("link", name="Import a force's file").click()

        page.get_by_label("CSV file").set_input_files(str(csv_file))
        page.get_by_role("button", name="Import").click()
        page.get_by_role("alert").filter(has_text="1 officers added, 1 updated").wait_for()

        page.get_by_label("Collar number, name or phone number").fill("MP9001")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="MP9001").click()
        page.get_by_role("heading", name="PC Ann Lee, MP9001").wait_for()
        page.get_by_role("button", name="Mark MP9001 as left").click()
        page.get_by_role("alert").filter(has_text="is marked as left").wait_for()
        assert page.get_by_text("No numbers.").is_visible()
        assert page.get_by_text("Left ").first.is_visible()
    finally:
        context.close()
