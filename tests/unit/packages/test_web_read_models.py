"""The web pages' use-cases in process: download counts, the package read model, invitations."""

from __future__ import annotations

from pathlib import Path

import pytest

from taipan.accounts import invitations, keys, signup, users
from taipan.accounts.principal import Principal, Role
from taipan.channels import members
from taipan.channels.service import create_channel
from taipan.conda.hashing import StreamHasher
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.errors import Conflict, Forbidden, NotFound
from taipan.packages import read_model, search
from taipan.packages.checks import Staged
from taipan.packages.downloads import DownloadCounter
from taipan.packages.ingest import Ingestor
from taipan.storage.memory import MemoryStorage
from tests.support import packages
from tests.support.accounts import PASSWORD
from tests.support.packages import Spec


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(database)
    return database


@pytest.fixture
def admin(db: Database, tmp_path: Path) -> Principal:
    keys.reset_admin_token(db, tmp_path / "token")
    return keys.principal_for_key(db, (tmp_path / "token").read_text().strip())


def user(db: Database, name: str) -> Principal:
    info = users.create_user(db, name, PASSWORD)
    return Principal(info.id, name, False, via="session")


def upload(db: Database, storage: MemoryStorage, who: Principal, channel: str, spec: Spec, tmp: Path) -> None:
    path = packages.build(spec, tmp / spec.filename.replace(".", "_"))
    data = path.read_bytes()
    hasher = StreamHasher()
    hasher.update(data)
    key = f".staging/{path.name}"
    writer = storage.writer(key)
    writer.write(data)
    writer.close()
    Ingestor(db, storage, 10**9, 100).ingest(who, channel, path.name, Staged(key, hasher.result()))


def test_download_counts_are_written_in_batches(db: Database, admin: Principal, tmp_path: Path) -> None:
    storage = MemoryStorage()
    create_channel(db, admin, "chan")
    upload(db, storage, admin, "chan", Spec("pkg"), tmp_path)
    counter = DownloadCounter(db, interval_s=3600)
    for _ in range(3):
        counter.add("chan", "noarch", "pkg-1.0-0.conda")
    counter.add("chan", "noarch", "gone-1.0-0.conda")  # deleted meanwhile: nothing to count, no error
    assert counter.pending("chan", "noarch", "pkg-1.0-0.conda") == 3
    detail = read_model.package_detail(db, admin, "chan", "pkg")
    assert detail.downloads == 0
    counter.close()
    assert counter.pending("chan", "noarch", "pkg-1.0-0.conda") == 0
    assert read_model.package_detail(db, admin, "chan", "pkg").downloads == 3
    counter.add("chan", "noarch", "pkg-1.0-0.conda")
    counter.flush()
    assert read_model.package_detail(db, admin, "chan", "pkg").downloads == 4


def test_versions_sort_in_conda_order_and_page(db: Database, admin: Principal, tmp_path: Path) -> None:
    storage = MemoryStorage()
    create_channel(db, admin, "chan")
    for version in ("1.9", "1.10", "1.10.0a1", "2.0rc1", "2.0"):
        upload(db, storage, admin, "chan", Spec("pkg", version), tmp_path)
    upload(db, storage, admin, "chan", Spec("pkg", "2.0", build="1", build_number=1), tmp_path)
    listed = read_model.channel_packages(db, admin, "chan")
    assert [(p.name, p.latest, p.files) for p in listed.items] == [("pkg", "2.0", 6)]
    first = read_model.package_detail(db, admin, "chan", "pkg", number=1, size=2)
    assert [v.version for v in first.versions.items] == ["2.0", "2.0rc1"]
    assert [f.build for f in first.versions.items[0].files] == ["1", "0"]
    assert first.versions.total == 5
    assert first.versions.pages == 3
    assert first.latest.build == "1"
    assert first.latest.labels == ("main",)
    last = read_model.package_detail(db, admin, "chan", "pkg", number=3, size=2)
    assert [v.version for v in last.versions.items] == ["1.9"]
    with pytest.raises(NotFound):
        read_model.package_detail(db, admin, "chan", "nope")


def test_search_sees_what_the_caller_may_read(db: Database, admin: Principal, tmp_path: Path) -> None:
    storage = MemoryStorage()
    owner, viewer, stranger = user(db, "owner"), user(db, "viewer"), user(db, "stranger")
    create_channel(db, owner, "open")
    create_channel(db, owner, "closed", private=True)
    members.set_member(db, owner, "closed", "viewer", Role.VIEWER)
    upload(db, storage, owner, "open", Spec("tool"), tmp_path)
    upload(db, storage, owner, "closed", Spec("tool-secret"), tmp_path)
    upload(db, storage, owner, "closed", Spec("tool_x"), tmp_path)

    def found(who: Principal | None, query: str = "tool") -> list[tuple[str, str]]:
        return [(p.channel, p.name) for p in search.search_packages(db, who, query).items]

    assert found(None) == [("open", "tool")]
    assert found(stranger) == [("open", "tool")]
    assert found(viewer) == [("open", "tool"), ("closed", "tool-secret"), ("closed", "tool_x")]
    assert found(admin) == found(viewer)
    assert found(viewer, "_") == [("closed", "tool_x")]  # LIKE wildcards are literal
    assert found(viewer, "%") == []
    scoped = Principal(viewer.user_id, "viewer", False, channel_caps={})  # a key scoped to no channel
    assert found(scoped) == [("open", "tool")]
    assert [c.name for c in read_model.channels_page(db, stranger).items] == ["open"]
    assert [(c.name, c.role) for c in read_model.channels_page(db, viewer).items] == [
        ("closed", "viewer"),
        ("open", None),
    ]


def test_invitations_make_one_account_each(db: Database, admin: Principal) -> None:
    plain = user(db, "plain")
    with pytest.raises(Forbidden):
        invitations.create_invitation(db, plain, "no")
    token, info = invitations.create_invitation(db, admin, "for carol", days=1)
    assert invitations.is_open(db, token)
    with pytest.raises(Forbidden):
        signup.sign_up(db, "closed", "carol", PASSWORD, token)
    made = signup.sign_up(db, "invite", "carol", PASSWORD, token)
    assert made.username == "carol"
    assert not invitations.is_open(db, token)
    with pytest.raises(Forbidden):
        signup.sign_up(db, "invite", "dave", PASSWORD, token)
    second, info2 = invitations.create_invitation(db, admin)
    with pytest.raises(Conflict):
        signup.sign_up(db, "invite", "carol", PASSWORD, second)  # a taken name does not use it up
    assert invitations.is_open(db, second)
    invitations.revoke_invitation(db, admin, info2.id)
    with pytest.raises(Forbidden):
        signup.sign_up(db, "invite", "erin", PASSWORD, second)
    states = {i.id: (i.state(info.created_ms + 1), i.used_by) for i in invitations.list_invitations(db, admin)}
    assert states == {info.id: ("used", "carol"), info2.id: ("revoked", None)}
    assert signup.sign_up(db, "open", "frank", PASSWORD).username == "frank"
