"""The ``files`` destination to an SFTP server, as an agency's drop box: a real SSH server (asyncssh)
on a local port, reached through Airflow's ObjectStoragePath (``sftp://<connection>@/<folder>``,
the provider's sshfs filesystem), the whole pipeline run twice on source records."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import threading
from pathlib import Path

import pytest

from tests.fixtures.world import AS_OF, NURTURE_YAML, World

asyncssh = pytest.importorskip("asyncssh")


class DropBox:
    """An SFTP server whose one user (``agency``/``s3cret``) sees ``root`` as ``/``."""

    def __init__(self, root: Path) -> None:
        self.root, self.port = root, 0
        self.loop = asyncio.new_event_loop()
        self.logins: list[str] = []

    def start(self) -> None:
        started = threading.Event()
        box = self

        class Server(asyncssh.SSHServer):
            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                box.logins.append(username)
                return (username, password) == ("agency", "s3cret")

        async def serve() -> None:
            key = asyncssh.generate_private_key("ssh-ed25519")
            self.server = await asyncssh.listen(
                "127.0.0.1", 0, server_host_keys=[key], server_factory=Server,
                sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(self.root).encode()))
            self.port = self.server.sockets[0].getsockname()[1]
            started.set()

        threading.Thread(target=lambda: (self.loop.run_until_complete(serve()), self.loop.run_forever()),
                         daemon=True).start()
        assert started.wait(10), "the SFTP server did not start"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def drop_box(tmp_path, monkeypatch):
    box = DropBox(tmp_path / "sftp")
    box.root.mkdir()
    box.start()
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_AGENCY", json.dumps({
        "conn_type": "sftp", "host": "127.0.0.1", "port": box.port, "login": "agency", "password": "s3cret",
        "extra": {"no_host_key_check": "true"}}))
    yield box
    box.stop()


def test_each_run_replaces_the_file_on_the_sftp_server_whole_with_its_marker(run_world, drop_box):
    world = World()
    account = world.salesforce_account(1, "Fjord AS")
    for first, address in (("Ask", "ask@fjord.example"), ("Siv", "siv@fjord.example")):
        contact = world.salesforce_contact(1, address, first, "Øby", account)
        world.salesforce_won_deal(1, contact, account, 700)
        if first == "Siv":
            world.salesforce_opt_out(2, contact)
    world.file_deal(2, world.file_lead(2, "=cmd@fjord.example", "=HYPERLINK(1)", "Åse"))
    config = NURTURE_YAML.replace('url: "{share}"', 'url: "sftp://sftp_agency@/agency/nurture"').replace(
        "[csv, view, hubspot_list, files, mailchimp, salesforce_campaign]", "[csv, files]")
    seen = {}

    def before(run: int, _folder: Path) -> None:
        if run == 2:
            seen["first"] = (drop_box.root / "agency" / "nurture" / f"customers_{AS_OF}.csv").read_text()

    first, second = run_world(world, runs=2, nurture_yaml=config, before_run=before)
    folder = drop_box.root / "agency" / "nurture"
    assert {r["email"] for r in csv.DictReader(io.StringIO(seen["first"]))} == {"ask@fjord.example",
                                                                                 "siv@fjord.example"}
    content = (folder / f"customers_{AS_OF}.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert {r["email"] for r in rows} == {"ask@fjord.example"}  # Siv opted out in run 2; "=cmd@" never listed
    marker = json.loads((folder / f"customers_{AS_OF}.csv.done").read_text())
    assert (marker["rows"], marker["sha256"]) == (1, hashlib.sha256(content).hexdigest())
    assert sorted(p.name for p in folder.iterdir()) == [f"customers_{AS_OF}.csv", f"customers_{AS_OF}.csv.done"]
    assert set(drop_box.logins) == {"agency"}
    assert second.csv == {"ask@fjord.example"}
