"""A real SMTP server for the email tests (aiosmtpd). Each message received is parsed with
Python's email package and written as JSON next to its raw bytes, so the Rust tests check what
a mail client would see: recipients, subject, the text and HTML parts, and every image.

Usage: smtp_sink.py PORT OUT_DIR   (prints "ready" when listening)
"""
import asyncio
import base64
import email
import email.policy
import json
import pathlib
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out: pathlib.Path):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        raw = envelope.content
        (self.out / f"{self.n}.eml").write_bytes(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                parts.append({"type": part.get_content_type()})
                continue
            payload = part.get_payload(decode=True) or b""
            entry = {
                "type": part.get_content_type(),
                "disposition": part.get_content_disposition(),
                "filename": part.get_filename(),
                "content_id": part.get("Content-ID"),
                "size": len(payload),
            }
            if part.get_content_maintype() == "text":
                entry["text"] = payload.decode(part.get_content_charset() or "utf-8")
            else:
                entry["base64"] = base64.b64encode(payload).decode()
            parts.append(entry)
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["Subject"]),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "message_id": msg["Message-ID"] and str(msg["Message-ID"]),
            "in_reply_to": msg["In-Reply-To"] and str(msg["In-Reply-To"]),
            "references": msg["References"] and str(msg["References"]),
            "parts": parts,
        }
        tmp = self.out / f"{self.n}.json.tmp"
        tmp.write_text(json.dumps(summary))
        tmp.rename(self.out / f"{self.n}.json")
        return "250 Message accepted for delivery"


async def main():
    port, out = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


asyncio.run(main())
