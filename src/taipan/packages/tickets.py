"""Upload tickets: anaconda.org's two-step upload (stage, then an S3-style POST without credentials).

``issue`` runs with the uploader's credentials and checks everything that can be checked
before the bytes arrive. The ticket's secret travels in the POST's form fields; only its
digest is stored. ``redeem`` spends it atomically (good once, until it expires) and
returns who staged it, so the upload is authorised — and recorded — as that caller.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import select, update

from taipan.accounts.keys import principal_for_key_id
from taipan.accounts.principal import Principal, Role
from taipan.accounts.users import principal_for_user
from taipan.channels import access, service
from taipan.conda.names import DEFAULT_LABEL, check_label, check_subdir, parse_filename
from taipan.db.engine import Database
from taipan.db.models import FileLabel, PackageFile, Subdir, UploadTicket, now_ms
from taipan.errors import Conflict, Forbidden, NotFound, Unauthenticated

TICKET_TTL_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class Ticket:
    id: str
    channel: str
    subdir: str
    filename: str
    labels: tuple[str, ...]
    sha256: str | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(
    db: Database,
    principal: Principal | None,
    channel: str,
    subdir: str,
    filename: str,
    labels: Sequence[str],
    sha256: str | None,
) -> tuple[Ticket, str]:
    """A ticket to upload ``subdir/filename`` into ``channel``, and its secret."""
    parse_filename(filename)
    check_subdir(subdir)
    chosen = tuple(labels) or (DEFAULT_LABEL,)  # anaconda-client sends [] for "no -l"
    for label in chosen:
        check_label(label)
    if principal is None:
        raise Unauthenticated(access.ANONYMOUS_MESSAGE)
    secret = secrets.token_urlsafe(32)
    ticket = Ticket(uuid.uuid4().hex, channel, subdir, filename, chosen, sha256)
    with db.write() as session:
        ref = access.require(session, principal, channel, Role.CONTRIBUTOR)
        exists = session.scalar(
            select(PackageFile.id)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(Subdir.channel_id == ref.id, Subdir.name == subdir, PackageFile.filename == filename)
        )
        if exists is not None:
            raise Conflict(f"{subdir}/{filename} already exists in channel {channel!r}")
        session.add(
            UploadTicket(
                id=ticket.id,
                secret_hash=_digest(secret),
                channel=channel,
                subdir=subdir,
                filename=filename,
                labels=orjson.dumps(list(chosen)).decode(),
                sha256=sha256,
                user_id=principal.user_id,
                key_id=principal.key_id,
                expires_ms=now_ms() + TICKET_TTL_MS,
            )
        )
    return ticket, secret


def open_channel(db: Database, principal: Principal | None, channel: str) -> None:
    """Check the caller may upload into ``channel`` (Contributor; not with a read-only key);
    uploading as yourself makes your channel on first use, as anaconda.org's user namespace
    exists from the start."""
    if principal is None:
        raise Unauthenticated(access.ANONYMOUS_MESSAGE)
    with db.read() as session:
        try:
            access.require(session, principal, channel, Role.CONTRIBUTOR)
            return
        except NotFound:
            if channel != principal.username:
                raise
    service.create_or_get_channel(db, principal, channel, "made by anaconda-client")
    with db.read() as session:  # made by us now, or at the same moment by another upload: check it
        access.require(session, principal, channel, Role.CONTRIBUTOR)


def redeem(db: Database, secret: str) -> tuple[Ticket, Principal]:
    """Spend a ticket (once); the ticket and the caller who staged it."""
    now = now_ms()
    with db.write() as session:
        spent = session.execute(
            update(UploadTicket)
            .where(
                UploadTicket.secret_hash == _digest(secret),
                UploadTicket.used_ms.is_(None),
                UploadTicket.expires_ms > now,
            )
            .values(used_ms=now)
        )
        row = session.scalar(select(UploadTicket).where(UploadTicket.secret_hash == _digest(secret)))
        if spent.rowcount != 1 or row is None:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
            raise Forbidden("the upload ticket is unknown, already used or expired: stage the upload again")
        ticket = _ticket(row)
        key_id, user_id = row.key_id, row.user_id
    if key_id is not None:
        return ticket, principal_for_key_id(db, key_id)
    if user_id is not None:
        return ticket, principal_for_user(db, user_id)
    raise Forbidden("the upload ticket has no uploader")


def find(db: Database, principal: Principal | None, channel: str, ticket_id: str) -> tuple[Ticket, bool]:
    """A ticket of ``channel`` the caller may see, and whether its file has arrived."""
    with db.read() as session:
        ref = access.require(session, principal, channel, Role.CONTRIBUTOR)
        row = session.get(UploadTicket, ticket_id)
        if row is None or row.channel != channel:
            raise NotFound(f"no upload {ticket_id!r} was staged in channel {channel!r}")
        # In the ticket's own channel only: a file of that name elsewhere (say in a private
        # channel the caller cannot read) must not change the answer.
        arrived = session.scalar(
            select(FileLabel.file_id)
            .join(PackageFile, PackageFile.id == FileLabel.file_id)
            .join(Subdir, Subdir.id == PackageFile.subdir_id)
            .where(Subdir.channel_id == ref.id, Subdir.name == row.subdir, PackageFile.filename == row.filename)
            .limit(1)
        )
        return _ticket(row), row.used_ms is not None and arrived is not None


def _ticket(row: UploadTicket) -> Ticket:
    labels = tuple(orjson.loads(row.labels))
    return Ticket(row.id, row.channel, row.subdir, row.filename, labels, row.sha256)
