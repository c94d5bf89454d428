"""The one transaction edge of administration's commands (``flask staff``, ``rota``,
``clinicians``, ``officers``): the command-line twin of ``advice_line.transaction.run``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from advice_line.audit import Actor
from advice_line.clock import utcnow
from advice_line.extensions import db
from advice_line.lifecycle.errors import DomainError
from advice_line.lifecycle.imports import ImportRejected
from advice_line.transaction import Work, current_policy

R = TypeVar("R")


def run_command(command: str, step: Callable[[Work], R]) -> R:
    """Run ``step`` as ``flask <command>`` and commit.

    A refusal rolls back and exits 1 with its sentence (an import's problems by line on
    stderr, then "Nothing was imported."): nothing is stored.
    """
    work = Work(
        db.session(), Actor("system", source=f"flask {command}"), utcnow(), current_policy()
    )
    try:
        result = step(work)
    except DomainError as refused:
        db.session.rollback()
        if isinstance(refused, ImportRejected):
            for line, problem in refused.problems:
                click.echo(f"line {line}: {problem}", err=True)
            raise click.ClickException("Nothing was imported.") from None
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    return result
