"""Mail the report: a MIME message with the HTML body (charts as cid: parts) and the PDF attached.

Settings come from `section report { }` of greyd.conf (`MailSettings.from_section`). The SMTP password
is read from `password_file` at send time: it is never a command-line argument, never stored in a
settings repr, and never logged (log lines name the server, the user and the recipients only).
Transport: `tls = 1` is implicit TLS (SMTPS, port 465), `starttls = 1` upgrades a plain connection and
refuses to send if the server does not offer STARTTLS; certificates are verified against `cafile` (or
the system store).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from greylogd.errors import ConfigError, GreylogdError
from greylogd.report.html import Image

log = logging.getLogger(__name__)


class MailError(GreylogdError):
    """The report could not be sent; the message names the server and the SMTP step."""


@dataclass(frozen=True, slots=True)
class MailSettings:
    """SMTP delivery of the report. password_file holds the password on its first line."""

    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    tls: bool = False
    user: str | None = None
    password_file: Path | None = field(default=None, repr=False)
    cafile: Path | None = None
    timeout_s: float = 60.0

    @classmethod
    def from_section(cls, section: Mapping[str, object], file: str | None = None) -> MailSettings:
        """Build from `section report { smtp_host = ...; ... }`; ConfigError names a missing key."""
        def need(key: str) -> object:
            if key not in section:
                raise ConfigError(f"section report: {key} is required for --mail", file)
            return section[key]

        to = need("to")
        recipients = tuple(str(t) for t in (to if isinstance(to, list) else [to]))
        tls = bool(section.get("tls", 0))
        port = int(section.get("smtp_port", 465 if tls else 25))  # type: ignore[call-overload]
        optional = {k: section.get(k) for k in ("user", "password_file", "cafile")}
        return cls(str(need("smtp_host")), str(need("from")), recipients, port,
                   bool(section.get("starttls", 0)), tls, _opt_str(optional["user"]),
                   _opt_path(optional["password_file"]), _opt_path(optional["cafile"]))


def _opt_str(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def _opt_path(value: object) -> Path | None:
    return None if value in (None, "") else Path(str(value))


def read_password(path: Path) -> str:
    """The first line of the password file, without its line ending."""
    try:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"section report: password_file {path}: cannot read: {exc}") from exc


def build_message(settings: MailSettings, subject: str, html: str, images: list[Image],
                  pdf: bytes | None, pdf_name: str) -> EmailMessage:
    """multipart/mixed: (multipart/related: text/plain alternative + HTML + PNG cid parts) + PDF."""
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, settings.sender, ", ".join(settings.recipients)
    msg["Date"], msg["Message-ID"] = formatdate(localtime=False), make_msgid("greylogd-report")
    msg.set_content("This report is HTML; the PDF is attached.")
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    for image in images:
        cid = image.src.removeprefix("cid:")
        html_part.add_related(image.png, maintype="image", subtype="png", cid=f"<{cid}>",
                              filename=f"{image.name}.png")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=pdf_name)
    return msg


def _context(settings: MailSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(settings.cafile) if settings.cafile else None)


def _connect(settings: MailSettings) -> smtplib.SMTP:
    if settings.tls:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s,
                                context=_context(settings))
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    if settings.starttls:
        smtp.ehlo()
        if not smtp.has_extn("starttls"):
            smtp.quit()
            raise MailError(f"{settings.host}:{settings.port}: server does not offer STARTTLS")
        smtp.starttls(context=_context(settings))
        smtp.ehlo()
    return smtp


def send(settings: MailSettings, msg: EmailMessage) -> None:
    """Deliver `msg`; MailError (one line: server, step, reason) on any SMTP, TLS or socket failure."""
    where = f"{settings.host}:{settings.port}"
    step = "connect"
    try:
        with _connect(settings) as smtp:
            if settings.user:
                step = "AUTH"
                password = read_password(settings.password_file) if settings.password_file else ""
                smtp.login(settings.user, password)
            step = "send"
            smtp.send_message(msg)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        reason = exc.smtp_code if isinstance(exc, smtplib.SMTPResponseException) else exc
        raise MailError(f"{where}: SMTP {step} failed: {reason}") from None
    log.info("report mailed via %s as %s to %s", where, settings.user or "(no auth)",
             ", ".join(settings.recipients))
