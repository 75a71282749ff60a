#!/usr/bin/python3
"""A real SMTP server for the alert e-mail tests, on Debian's python3-aiosmtpd.

Every accepted message is parsed with Python's email package (independently of the C++ code
that wrote it) and stored as DIR/NNNN.json: envelope, whether the session ran under TLS,
decoded headers and body, and the raw message. DIR/ready appears once the server listens.

usage: smtp_server.py --port P --dir D [--cert C --key K [--require-starttls]] [--auth USER:PASSWORD]
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "from": str(parsed["From"]),
            "to": str(parsed["To"]),
            "subject": str(parsed["Subject"]),
            "date": str(parsed["Date"]),
            "message_id": str(parsed["Message-ID"]),
            "auto_submitted": str(parsed["Auto-Submitted"]),
            "content_type": parsed.get_content_type(),
            "charset": parsed.get_content_charset(),
            "transfer_encoding": str(parsed["Content-Transfer-Encoding"]),
            "defects": [type(d).__name__ for d in parsed.defects],
            # Lines end in CRLF on the wire; the test compares logical lines.
            "body": parsed.get_content().replace("\r\n", "\n"),
            "raw": raw.decode("latin-1"),
        }
        name = "%04d.json" % next(self.counter)
        temp = os.path.join(self.directory, name + ".tmp")
        with open(temp, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.rename(temp, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--auth")
    args = parser.parse_args()

    options = {"hostname": "carillon-test-smtp"}
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        options["tls_context"] = context
        options["require_starttls"] = args.require_starttls
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
                  and auth_data.password == password.encode())
            return AuthResult(success=ok)

        options["authenticator"] = authenticator
        options["auth_required"] = True
        options["auth_require_tls"] = True

    store = Store(args.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(lambda: SMTP(store, loop=loop, **options), "127.0.0.1", args.port))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    with open(os.path.join(args.dir, "ready"), "w") as ready:
        ready.write(str(args.port))
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())


if __name__ == "__main__":
    main()
