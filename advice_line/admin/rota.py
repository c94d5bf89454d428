"""The rota page: the next 14 days' shifts by clinician, shifts by hand, weekly patterns,
making shifts from the patterns, and importing a rostering system's CSV export."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from advice_line.admin.routes import bp, section
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.inputs import CleanForm, DateInputField
from advice_line.lifecycle import rota
from advice_line.lifecycle.errors import DomainError, InvalidInput
from advice_line.lifecycle.imports import ImportRejected
from advice_line.lifecycle.rota_import import import_shifts
from advice_line.models import Clinician, RotaPattern, User
from advice_line.transaction import Work, run, signed_in_actor

SHOWN_DAYS = 14


class ShiftForm(CleanForm):
    """A shift by hand: whose, the London date, start and end (an earlier end is next day)."""

    clinician = SelectField("Clinician", coerce=int, validators=[InputRequired()])
    date = DateInputField("Date", validators=[InputRequired()])
    start = TimeField("Start (London time)", validators=[InputRequired()])
    end = TimeField("End (London time)", validators=[InputRequired()])


class PatternForm(CleanForm):
    """A weekly pattern: whose, the weekday, times, and the dates it applies between."""

    clinician = SelectField("Clinician", coerce=int, validators=[InputRequired()])
    weekday = SelectField(
        "Day of the week",
        coerce=int,
        choices=[SelectChoice(number, name) for number, name in enumerate(rota.WEEKDAYS)],
        validators=[InputRequired()],
    )
    start = TimeField("Start (London time)", validators=[InputRequired()])
    end = TimeField("End (London time)", validators=[InputRequired()])
    valid_from = DateInputField("From", validators=[InputRequired()])
    valid_until = DateInputField("Until (optional)", validators=[Optional()])


class ImportForm(CleanForm):
    """A CSV export from the rostering system (docs/ROTA-IMPORT.md)."""

    file = FileField("Rota file (CSV)", validators=[FileRequired("Choose a CSV file.")])


class ActionForm(CleanForm):
    """A button that changes something (the CSRF token only)."""


def _clinician_choices() -> list[SelectChoice]:
    rows = db.session.execute(
        select(Clinician.id, User.display_name)
        .join(User, User.id == Clinician.user_id)
        .where(User.active.is_(True))
        .order_by(User.display_name)
    ).all()
    return [SelectChoice(clinician_id, name) for clinician_id, name in rows]


def _forms(**given: Any) -> dict[str, Any]:
    choices = _clinician_choices()
    forms = {
        "shift_form": given.get("shift_form") or ShiftForm(),
        "pattern_form": given.get("pattern_form") or PatternForm(),
        "import_form": given.get("import_form") or ImportForm(),
        "action_form": ActionForm(),
    }
    forms["shift_form"].clinician.choices = choices
    forms["pattern_form"].clinician.choices = choices
    return forms


def _page(status: int = 200, **given: Any) -> ResponseReturnValue:
    now = utcnow()
    by_clinician: dict[str, list[Any]] = defaultdict(list)
    for shift, name in rota.shifts_between(db.session(), now, now + timedelta(days=SHOWN_DAYS)):
        by_clinician[name].append(shift)
    patterns = db.session.execute(
        select(RotaPattern, User.display_name)
        .join(Clinician, Clinician.id == RotaPattern.clinician_id)
        .join(User, User.id == Clinician.user_id)
        .order_by(User.display_name, RotaPattern.weekday, RotaPattern.starts)
    ).all()
    return render_template(
        "admin/rota.html",
        by_clinician=by_clinician,
        patterns=patterns,
        weekdays=rota.WEEKDAYS,
        now=now,
        days=current_app.config["ROTA_GENERATE_DAYS"],
        problems=given.pop("problems", None),
        **_forms(**given),
    ), status


def _refused(form: Any, key: str) -> Callable[[DomainError], ResponseReturnValue]:
    """Answer a refusal: field messages on the form (400), other refusals flashed."""

    def refused(error: DomainError) -> ResponseReturnValue:
        if isinstance(error, InvalidInput):
            for field, message in error.errors.items():
                getattr(form, field, form.start).errors.append(message)
            return _page(400, **{key: form})
        return _flashed(error)

    return refused


def _flashed(error: DomainError) -> ResponseReturnValue:
    """Answer a refused button: the reason at the top of the page (400)."""
    flash(str(error), "error")
    return _page(400)


def _button(
    done: str | Callable[[Any], str], action: Callable[..., Any], *args: Any, **kwargs: Any
) -> ResponseReturnValue:
    """A button's step, ``action(session, *args, now=..., actor=...)``: tell ``done`` (or
    ``done(result)``) and back to the rota; a refusal is flashed (400)."""
    if not ActionForm().validate():
        return _page(400)

    def step(work: Work) -> ResponseReturnValue:
        result = action(work.session, *args, now=work.now, actor=work.actor, **kwargs)
        work.tell(done if isinstance(done, str) else done(result))
        return redirect(url_for("admin.rota_page"))

    return run(step, signed_in_actor(), _flashed)


@bp.get("/rota")
@section("Rota", "Shifts by clinician for the next 14 days, weekly patterns and import.", order=30)
def rota_page() -> ResponseReturnValue:
    """The next 14 days' shifts by clinician, the patterns, and the forms."""
    return _page()


@bp.post("/rota/shifts")
def add_shift() -> ResponseReturnValue:
    """Add a shift by hand."""
    form = ShiftForm()
    form.clinician.choices = _clinician_choices()
    if not form.validate():
        return _page(400, shift_form=form)

    def step(work: Work) -> ResponseReturnValue:
        shift = rota.add_shift(
            work.session,
            form.clinician.data,
            form.date.data,
            form.start.data,
            form.end.data,
            now=work.now,
            actor=work.actor,
        )
        work.tell(f"Shift added: {rota.describe(shift.starts_at, shift.ends_at)}.")
        return redirect(url_for("admin.rota_page"))

    return run(step, signed_in_actor(), _refused(form, "shift_form"))


@bp.post("/rota/shifts/<int:shift_id>/remove")
def remove_shift(shift_id: int) -> ResponseReturnValue:
    """Remove a shift that has not started."""
    return _button("Shift removed.", rota.remove_shift, shift_id)


@bp.post("/rota/patterns")
def add_pattern() -> ResponseReturnValue:
    """Add a weekly pattern."""
    form = PatternForm()
    form.clinician.choices = _clinician_choices()
    if not form.validate():
        return _page(400, pattern_form=form)

    def step(work: Work) -> ResponseReturnValue:
        rota.add_pattern(
            work.session,
            form.clinician.data,
            form.weekday.data,
            form.start.data,
            form.end.data,
            valid_from=form.valid_from.data,
            valid_until=form.valid_until.data,
            now=work.now,
            actor=work.actor,
        )
        work.tell("Pattern added; make its shifts with “Make shifts from the patterns”.")
        return redirect(url_for("admin.rota_page"))

    return run(step, signed_in_actor(), _refused(form, "pattern_form"))


@bp.post("/rota/patterns/<int:pattern_id>/remove")
def remove_pattern(pattern_id: int) -> ResponseReturnValue:
    """Remove a weekly pattern (its shifts already made stay)."""
    return _button(
        "Pattern removed; shifts already made from it stay on the rota.",
        rota.remove_pattern,
        pattern_id,
    )


@bp.post("/rota/generate")
def generate() -> ResponseReturnValue:
    """Make the patterns' shifts for the configured number of days now."""
    return _button(
        lambda made: f"{made} shift{'s' if made != 1 else ''} made from the patterns.",
        rota.generate_shifts,
        days=current_app.config["ROTA_GENERATE_DAYS"],
    )


@bp.post("/rota/import")
def import_rota() -> ResponseReturnValue:
    """Import shifts from a CSV file: all of them, or none and the problems by line."""
    form = ImportForm()
    if not form.validate():
        return _page(400, import_form=form)
    data = form.file.data.read()

    def step(work: Work) -> ResponseReturnValue:
        count = import_shifts(work.session, data, now=work.now, actor=work.actor)
        work.tell(f"{count} shift{'s' if count != 1 else ''} imported.")
        return redirect(url_for("admin.rota_page"))

    def refused(error: DomainError) -> ResponseReturnValue:
        if isinstance(error, ImportRejected):
            return _page(400, import_form=form, problems=error.problems)
        return _flashed(error)

    return run(step, signed_in_actor(), refused)


from advice_line.admin import coverage, rota_cli  # noqa: E402,F401
