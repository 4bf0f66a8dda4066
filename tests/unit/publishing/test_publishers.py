"""Minting upload keys for trusted publishers, on a real database with the in-memory key source."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from taipan.accounts import keys
from taipan.accounts.principal import Principal, Role
from taipan.channels import access
from taipan.channels.service import create_channel
from taipan.channels.tokens import create_key
from taipan.db import migrate
from taipan.db.engine import Database
from taipan.db.models import ApiKey, now_ms
from taipan.errors import Forbidden
from taipan.publishing.oidc.source import StaticJwks
from taipan.publishing.oidc.verify import KeyCache, TokenVerifier
from taipan.publishing.publishers import PublisherIn, add_publisher, list_publishers, mint_upload_key
from tests.support.oidc_issuer import SigningKey, github_claims

ISSUER = "https://token.actions.example"
AUD = "conda.example.org"


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    migrate.upgrade(database)
    return database


@pytest.fixture
def admin(db: Database, tmp_path: Path) -> Principal:
    keys.reset_admin_token(db, tmp_path / "token")
    return keys.principal_for_key(db, (tmp_path / "token").read_text().strip())


@pytest.fixture(scope="module")
def signing_key() -> SigningKey:
    return SigningKey.new("RSA")


def _verifier(signing_key: SigningKey, issuer: str = ISSUER) -> TokenVerifier:
    source = StaticJwks({issuer: {"keys": [signing_key.public_jwk()]}})
    return TokenVerifier({"github": issuer}, [AUD], KeyCache(source))


def _token(signing_key: SigningKey, owner: str, repo: str, issuer: str = ISSUER) -> str:
    now = int(time.time())
    claims = {"iss": issuer, "iat": now, "exp": now + 300, **github_claims(AUD, owner, repo)}
    return jwt.encode(claims, signing_key.private, algorithm="RS256", headers={"kid": signing_key.kid})


def _trust(db: Database, who: Principal, channel: str, owner: str, repo: str, issuer: str = ISSUER) -> None:
    given = PublisherIn("github", owner=owner, repository=repo, workflow="release.yml")
    add_publisher(db, who, channel, given, {"github": issuer})


def test_minted_key_is_scoped_short_lived_and_userless(db: Database, admin: Principal, signing_key: SigningKey) -> None:
    for name in ("one", "two", "other"):
        create_channel(db, admin, name, private=True)
    _trust(db, admin, "one", "acme", "tools")
    _trust(db, admin, "two", "acme", "tools")
    _trust(db, admin, "other", "acme", "else")
    before = now_ms()
    key = mint_upload_key(db, _verifier(signing_key), _token(signing_key, "acme", "tools"), 900)
    after = now_ms()
    with db.read() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == keys.digest(key))).one()
        assert row.user_id is None
        assert row.name == "github:acme/tools release.yml run 4242"
        assert row.expires_ms is not None
        assert before + 900_000 <= row.expires_ms <= after + 900_000  # within 15 minutes
    who = keys.principal_for_key(db, key)
    assert who.publisher
    assert who.username == "github:acme/tools release.yml run 4242"
    with db.read() as session:
        roles = {n: access.effective_role(session, who, _ref(session, n)) for n in ("one", "two", "other")}
    assert roles == {"one": Role.CONTRIBUTOR, "two": Role.CONTRIBUTOR, "other": None}
    with pytest.raises(Forbidden):
        create_channel(db, who, "mine")
    with pytest.raises(Forbidden):
        create_key(db, who, "more", channels={"one": Role.VIEWER})
    with pytest.raises(Forbidden):
        list_publishers(db, who, "one")


def _ref(session: Session, name: str) -> access.ChannelRef:
    ref = access.find(session, name)
    assert ref is not None
    return ref


def test_no_match_names_only_the_tokens_own_claims(db: Database, admin: Principal, signing_key: SigningKey) -> None:
    create_channel(db, admin, "secretive", private=True)
    _trust(db, admin, "secretive", "acme", "hidden-repo")
    with pytest.raises(Forbidden) as caught:
        mint_upload_key(db, _verifier(signing_key), _token(signing_key, "acme", "tools"), 900)
    message = str(caught.value)
    assert "acme/tools" in message
    assert "hidden-repo" not in message
    assert "secretive" not in message


def test_publishers_keep_the_issuer_they_were_made_for(db: Database, admin: Principal, signing_key: SigningKey) -> None:
    """Pointing the gitlab/github setting at another issuer later does not let its identities in."""
    create_channel(db, admin, "chan")
    _trust(db, admin, "chan", "acme", "tools", issuer=ISSUER)
    elsewhere = "https://git.example.org"
    with pytest.raises(Forbidden):
        mint_upload_key(db, _verifier(signing_key, elsewhere), _token(signing_key, "acme", "tools", elsewhere), 900)
