"""The officers' directory pages: search, an officer's numbers, leavers, a force's import."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import click
from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from advice_line.admin.cli import run_command
from advice_line.admin.routes import bp, section
from advice_line.extensions import db
from advice_line.inputs import CleanForm, parse_id
from advice_line.lifecycle import directory
from advice_line.lifecycle.errors import DomainError, InvalidInput, NotFound
from advice_line.lifecycle.imports import ImportRejected
from advice_line.models import Officer
from advice_line.transaction import Work, run, signed_in_actor

EXPIRED = "The form has expired: open the officer again."


class PhoneForm(CleanForm):
    """A number to give the officer by hand."""

    phone = StringField("Phone number", validators=[InputRequired(), Length(max=40)])


class NumberForm(CleanForm):
    """One of the officer's numbers to verify or remove."""

    number = HiddenField(validators=[InputRequired(), Length(max=40)])


class LeaverForm(CleanForm):
    """Mark the officer as left (the form is only its CSRF token)."""


class ImportForm(CleanForm):
    """A force's CSV file."""

    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])


def _page_number() -> int:
    return parse_id(request.args.get("page", "1")) or 1


@bp.get("/officers")
@section("Officers", "The officers' directory: find, import, verify numbers, leavers.", order=50)
def officers() -> str:
    """Search the directory by force, collar number, name or number."""
    text = request.args.get("q", "")[:100]
    force = request.args.get("force", "")
    forces = current_app.config["FORCES"]
    found = directory.search_officers(
        db.session(), text=text, force=force if force in forces else "", page=_page_number()
    )
    return render_template(
        "admin/officers.html", found=found, text=text, force=force, forces=forces
    )


def _officer_page(
    officer_id: int, code: int = 200, phone_form: PhoneForm | None = None
) -> tuple[str, int]:
    try:
        officer = directory.get_officer(db.session(), officer_id)
    except NotFound:
        return render_template("admin/officer_missing.html"), 404
    return (
        render_template(
            "admin/officer.html",
            officer=officer,
            phone_form=phone_form or PhoneForm(),
            action_form=NumberForm(),
            leaver_form=LeaverForm(),
        ),
        code,
    )


@bp.get("/officers/<int:officer_id>")
def officer_page(officer_id: int) -> tuple[str, int]:
    """An officer: their numbers (verified or not) and what an admin can do with them."""
    return _officer_page(officer_id)


def _refused_on_page(
    officer_id: int, form: PhoneForm | None = None
) -> Callable[[DomainError], ResponseReturnValue]:
    """Show the refusal on the officer's page, answered 400."""

    def refused(error: DomainError) -> ResponseReturnValue:
        if form is not None and isinstance(error, InvalidInput) and "phone" in error.errors:
            form.phone.errors = [error.errors["phone"]]
        else:
            flash(str(error), "error")
        return _officer_page(officer_id, 404 if isinstance(error, NotFound) else 400, form)

    return refused


@bp.post("/officers/<int:officer_id>/phones")
def add_phone(officer_id: int) -> ResponseReturnValue:
    """Give the officer a number by hand (unverified until verified)."""
    form = PhoneForm()

    def add(work: Work) -> str:
        phone = directory.add_phone(
            work.session, officer_id, form.phone.data, now=work.now, actor=work.actor
        )
        return f"{phone.number} added, not yet verified."

    return _change_officer(officer_id, form, {"phone": "Give a UK phone number."}, add)


@bp.post("/officers/<int:officer_id>/phones/<any(verify, remove):action>")
def change_phone(officer_id: int, action: str) -> ResponseReturnValue:
    """Verify one of the officer's numbers (confirmed with them), or remove it."""
    form = NumberForm()

    def change(work: Work) -> str:
        number = form.number.data
        if action == "verify":
            directory.verify_phone(
                work.session, number, officer_id=officer_id, now=work.now, actor=work.actor
            )
            return f"{number} verified: it now identifies the officer."
        directory.remove_phone(
            work.session, number, officer_id=officer_id, now=work.now, actor=work.actor
        )
        return f"{number} removed."

    return _change_officer(officer_id, form, {"number": EXPIRED}, change)


@bp.post("/officers/<int:officer_id>/leaver")
def mark_leaver(officer_id: int) -> ResponseReturnValue:
    """The officer has left: their numbers are removed; the officer is kept, marked left."""

    def leave(work: Work) -> str:
        officer = directory.mark_leaver(work.session, officer_id, now=work.now, actor=work.actor)
        return f"{directory.label(officer)} is marked as left; their numbers are removed."

    return _change_officer(officer_id, LeaverForm(), {"form": EXPIRED}, leave)


def _change_officer(
    officer_id: int,
    form: PhoneForm | NumberForm | LeaverForm,
    invalid: dict[str, str],
    change: Callable[[Work], str],
) -> ResponseReturnValue:
    """Check the form (``invalid`` if it fails), make one change to the officer, say what it
    did and go back to their page; a refusal is shown on that page, answered 400."""

    def step(work: Work) -> ResponseReturnValue:
        if not form.validate_on_submit():
            raise InvalidInput(invalid)
        work.tell(change(work))
        return redirect(url_for("admin.officer_page", officer_id=officer_id))

    phone_form = form if isinstance(form, PhoneForm) else None
    return run(step, signed_in_actor(), _refused_on_page(officer_id, phone_form))


@bp.route("/officers/import", methods=["GET", "POST"])
def import_officers() -> ResponseReturnValue:
    """Upload a force's CSV: every bad line is listed and nothing is stored, or the counts."""
    form = ImportForm()
    problems: list[tuple[int, str]] = []
    if request.method == "GET":
        return render_template("admin/officer_import.html", form=form, problems=problems)

    def load(work: Work) -> ResponseReturnValue:
        if not form.validate_on_submit():
            raise InvalidInput({"file": "; ".join(form.file.errors) or "The form has expired."})
        counts = directory.import_officers(
            work.session,
            form.file.data.read(),
            forces=current_app.config["FORCES"],
            now=work.now,
            actor=work.actor,
        )
        work.tell(
            f"Imported: {counts.added} officers added, {counts.updated} updated, "
            f"{counts.unchanged} unchanged; {counts.numbers_added} numbers added, "
            f"{counts.numbers_verified} verified."
        )
        return redirect(url_for("admin.officers"))

    def refused(error: DomainError) -> ResponseReturnValue:
        if isinstance(error, ImportRejected):
            problems.extend(error.problems)
        elif isinstance(error, InvalidInput):
            form.file.errors = list(error.errors.values())
        else:
            form.file.errors = [str(error)]
        return render_template("admin/officer_import.html", form=form, problems=problems), 400

    return run(load, signed_in_actor(), refused)


# --- flask officers ... -----------------------------------------------------------------


@bp.cli.group("officers")
def officers_cli() -> None:
    """The officers' directory: import a force's file, verify a number, leavers."""


@officers_cli.command("import")
@click.argument("file", type=click.File("rb"))
def import_command(file: IO[bytes]) -> None:
    """Import a force's CSV (docs/OFFICER-IMPORT.md); any bad line: nothing is stored."""
    counts = run_command(
        "officers import",
        lambda work: directory.import_officers(
            work.session,
            file.read(),
            forces=current_app.config["FORCES"],
            now=work.now,
            actor=work.actor,
        ),
    )
    click.echo(
        f"{counts.added} officers added, {counts.updated} updated, {counts.unchanged} unchanged; "
        f"{counts.numbers_added} numbers added, {counts.numbers_verified} verified."
    )


@officers_cli.command("verify")
@click.argument("number")
def verify_command(number: str) -> None:
    """Verify a number (you have confirmed it with the officer): it now identifies them."""
    phone = run_command(
        "officers verify",
        lambda work: directory.verify_phone(work.session, number, now=work.now, actor=work.actor),
    )
    click.echo(f"{phone.number} verified: it identifies {directory.label(phone.officer)}.")


@officers_cli.command("leaver")
@click.argument("force")
@click.argument("collar")
def leaver_command(force: str, collar: str) -> None:
    """Mark an officer as left: their numbers are removed."""

    def leave(work: Work) -> Officer:
        officer = directory.find_officer(
            work.session, force, collar, forces=current_app.config["FORCES"]
        )
        directory.mark_leaver(work.session, officer.id, now=work.now, actor=work.actor)
        return officer

    officer = run_command("officers leaver", leave)
    click.echo(f"{directory.label(officer)} is marked as left; their numbers are removed.")


@officers_cli.command("list")
@click.option("--force", default="", help="Only this force's officers.")
def list_command(force: str) -> None:
    """List officers (tab-separated: force, collar number, name, numbers, left)."""
    if force:
        try:
            force = directory.force_of(force, current_app.config["FORCES"])
        except InvalidInput as error:
            raise click.ClickException(str(error)) from None
    page = 1
    while True:
        found = directory.search_officers(db.session(), force=force, page=page, per_page=500)
        for o in found.officers:
            numbers = ";".join(
                p.number + ("" if p.verified_at else " (unverified)") for p in o.phones
            )
            left = o.left_at.isoformat() if o.left_at else ""
            click.echo("\t".join([o.force, o.collar_number, o.name or "", numbers, left]))
        if page >= found.pages:
            break
        page += 1
