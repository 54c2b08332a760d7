"""The report mailed to a real SMTP server (aiosmtpd) on loopback: STARTTLS + AUTH, and implicit TLS.

The server's certificate is self-signed, made by the openssl CLI in the test, and the client verifies it
(cafile). The password lives in a file; the test checks it never reaches the log or the command line.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import ssl
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from greylogd.analysis.weekly import Inputs, WeeklySettings, build_report
from greylogd.cli import report as cli
from greylogd.report.mail import MailError, MailSettings
from greylogd.report.output import mail_report, write_report
from tests.unit import weekly_world as world

PASSWORD = "s3cret-Pa55-word"
USER = "reports"


class Inbox:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, crt = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return key, crt


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[1]), str(cert[0]))
    return context


@pytest.fixture()
def starttls_server(cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=_server_context(cert),
                            require_starttls=True, authenticator=_authenticate, auth_required=True)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture()
def smtps_server(cert: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=_server_context(cert),
                            authenticator=_authenticate, auth_required=True, auth_require_tls=False)
    controller.start()
    yield inbox, port
    controller.stop()


def _report(tmp_path: Path) -> tuple[object, Path]:
    inputs = Inputs(world.connections(), world.greyd_events(), world.entries(), world.PERIOD.end,
                    world.tuples(), None)
    report = build_report(inputs, world.PERIOD, WeeklySettings(min_promoted=2))
    written = write_report(report, tmp_path, {"pdf"}, pd.Timestamp("2026-11-16 06:00", tz="UTC"))
    return report, written[0]


def _settings(port: int, cert: tuple[Path, Path], tmp_path: Path, **kw: object) -> MailSettings:
    secret = tmp_path / "smtp.pass"
    secret.write_text(PASSWORD + "\n")
    return MailSettings("127.0.0.1", "greylogd@example.org", ("postmaster@example.net",), port,
                        user=USER, password_file=secret, cafile=cert[1], **kw)  # type: ignore[arg-type]


def _check_message(msg: EmailMessage, pdf: Path, charts: tuple[str, ...] = ("hourly", "delays")) -> None:
    assert msg["Subject"] == "Greylisting report 2026-W46"
    attachments = [p for p in msg.iter_attachments() if p.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_content() == pdf.read_bytes()
    html = msg.get_body(("html",))
    assert "Headline figures" in html.get_content()
    images = {p["Content-ID"] for p in msg.walk() if p.get_content_type() == "image/png"}
    for name in charts:
        assert f"cid:{name}@example.org" in html.get_content() and f"<{name}@example.org>" in images


def test_starttls_and_auth_deliver_html_with_pdf(starttls_server, cert, tmp_path, caplog) -> None:
    inbox, port = starttls_server
    report, pdf = _report(tmp_path)
    with caplog.at_level(logging.DEBUG):
        mail_report(report, _settings(port, cert, tmp_path, starttls=True), pdf,
                    pd.Timestamp("2026-11-16 06:00", tz="UTC"))
    assert len(inbox.messages) == 1
    _check_message(inbox.messages[0], pdf)
    assert PASSWORD not in caplog.text and f"127.0.0.1:{port}" in caplog.text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls(smtps_server, cert, tmp_path) -> None:
    inbox, port = smtps_server
    report, pdf = _report(tmp_path)
    mail_report(report, _settings(port, cert, tmp_path, tls=True), pdf, pd.Timestamp.now(tz="UTC"))
    _check_message(inbox.messages[0], pdf)


def test_wrong_password_is_one_line_without_the_password(starttls_server, cert, tmp_path) -> None:
    _, port = starttls_server
    report, pdf = _report(tmp_path)
    settings = _settings(port, cert, tmp_path, starttls=True)
    settings.password_file.write_text("wrong\n")  # type: ignore[union-attr]
    with pytest.raises(MailError) as err:
        mail_report(report, settings, pdf, pd.Timestamp.now(tz="UTC"))
    assert str(err.value) == f"127.0.0.1:{port}: SMTP AUTH failed: 535"


def test_plain_client_refused_without_starttls(starttls_server, cert, tmp_path) -> None:
    _, port = starttls_server
    report, pdf = _report(tmp_path)
    with pytest.raises(MailError, match=f"127.0.0.1:{port}: SMTP AUTH failed"):
        mail_report(report, _settings(port, cert, tmp_path), pdf, pd.Timestamp.now(tz="UTC"))


def test_cli_mails_from_greyd_conf(starttls_server, cert, tmp_path, caplog, capsys) -> None:
    inbox, port = starttls_server
    secret = tmp_path / "smtp.pass"
    secret.write_text(PASSWORD + "\n")
    conf = tmp_path / "greyd.conf"
    conf.write_text(f'section report {{\n smtp_host = "127.0.0.1"\n smtp_port = {port}\n starttls = 1\n'
                    f' user = "{USER}"\n password_file = "{secret}"\n cafile = "{cert[1]}"\n'
                    ' from = "greylogd@example.org"\n to = [ "a@example.net", "b@example.net" ]\n}\n')
    listing = tmp_path / "db.txt"
    listing.write_text("WHITE|192.0.2.10|||1795420921|1795420921|1798531321|1|0\n")
    argv = ["-f", str(conf), "--db", str(listing), "--period", "2026-W46", "--out", str(tmp_path / "out"),
            "--format", "pdf,json", "--mail", "-v"]
    with caplog.at_level(logging.DEBUG):
        assert cli.main(argv) == 0
    assert PASSWORD not in " ".join(argv) and PASSWORD not in caplog.text
    assert PASSWORD not in capsys.readouterr().err
    assert inbox.messages[0]["To"] == "a@example.net, b@example.net"
    _check_message(inbox.messages[0], tmp_path / "out" / "2026-W46" / "report.pdf", charts=())
    assert "No kernel log given" in inbox.messages[0].get_body(("html",)).get_content()
