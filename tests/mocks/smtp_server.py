#!/usr/bin/env python3
"""A real SMTP server for herald's email tests: Debian's python3-aiosmtpd
(`aiosmtpd.controller.Controller`) on 127.0.0.1, with a handler that records
every envelope and can refuse on demand.

What it checks is what any SMTP server checks (RFC 5321): the dialogue
itself (EHLO, MAIL FROM, RCPT TO, DATA with dot-stuffing and the final
"."), the message size (SIZE, 32 MiB by default), and, when `users` is
given, SMTP AUTH (PLAIN and LOGIN) over the plain connection
(auth_require_tls=False, as on a local relay): without AUTH, MAIL FROM is
answered "530 5.7.0 Authentication required"; a wrong password gets
"535 5.7.8 Authentication credentials invalid".

Refusals on demand (the real replies of common servers):

  fail_next(count, reply="451 4.3.0 try later", stage="DATA")
      the next `count` transactions are refused at DATA (or at RCPT) with
      `reply`; 4xx is transient, 5xx permanent.
  refuse_recipient(address, reply="550 5.1.1 no such user")
      RCPT TO:<address> is always refused with `reply`.
  set_delay(seconds)
      wait before answering DATA (for timeouts).

Records, oldest first, as deep copies (thread-safe):

  accepted()  {"mail_from", "rcpt_tos", "data" (bytes, as received after
               dot-unstuffing), "message" (email.message.EmailMessage,
               policy=default), "login" (AUTH user or None), "time"}
  rejected()  {"stage" ("RCPT" or "DATA"), "reply", "mail_from",
               "rcpt_tos", "address" (for RCPT), "injected", "time"}
  wait_for(predicate, timeout)  like the HTTP mocks: re-checked on every
               transaction and at least every 0.2 s, never longer than
               `timeout`.

CLI, for manual use:  python3 smtp_server.py --port 2525 [--user u:pw]
"""

import argparse
import asyncio
import copy
import email
import email.policy
import threading
import time
import warnings
from collections import deque

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

OK_REPLY = "250 2.0.0 OK: queued"
TRANSIENT_REPLY = "451 4.3.0 try later"
NO_SUCH_USER = "550 5.1.1 no such user"
SIZE_LIMIT = 32 * 1024 * 1024


class _Controller(Controller):
    """Controller that may bind port 0: the real port is read back before
    the start-up probe connects to it."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()

    def factory(self):
        with warnings.catch_warnings():
            # AUTH without TLS is what a loopback test wants; aiosmtpd warns
            # about it for every connection.
            warnings.simplefilter("ignore")
            return super().factory()


class _Handler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return self.owner._on_rcpt(session, envelope, address)

    async def handle_DATA(self, server, session, envelope):
        if self.owner._delay:
            await asyncio.sleep(self.owner._delay)
        return self.owner._on_data(session, envelope)


class SmtpServer:
    """Use as a context manager or call start()/stop()."""

    def __init__(self, users=None, port=0, data_size_limit=SIZE_LIMIT):
        self.users = dict(users or {})
        self.requested_port = port
        self.data_size_limit = data_size_limit
        self._accepted = []
        self._rejected = []
        self._fail_queue = deque()   # (stage, reply)
        self._refused = {}           # address -> reply
        self._delay = 0.0
        self._cond = threading.Condition(threading.RLock())
        self._controller = None

    # ----- controls ------------------------------------------------------
    def fail_next(self, count=1, reply=TRANSIENT_REPLY, stage="DATA"):
        if stage not in ("DATA", "RCPT"):
            raise ValueError("stage is DATA or RCPT")
        with self._cond:
            for _ in range(int(count)):
                self._fail_queue.append((stage, reply))

    def refuse_recipient(self, address, reply=NO_SUCH_USER):
        with self._cond:
            self._refused[address.lower()] = reply

    def set_delay(self, seconds):
        self._delay = float(seconds)

    def reset(self):
        with self._cond:
            self._accepted.clear()
            self._rejected.clear()
            self._fail_queue.clear()
            self._refused.clear()
            self._delay = 0.0
            self._cond.notify_all()

    # ----- records -------------------------------------------------------
    def accepted(self):
        with self._cond:
            return [copy.deepcopy(r) for r in self._accepted]

    def rejected(self):
        with self._cond:
            return [copy.deepcopy(r) for r in self._rejected]

    def messages(self):
        return [r["message"] for r in self.accepted()]

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self._cond.wait(min(left, 0.2))

    # ----- server --------------------------------------------------------
    @property
    def port(self):
        return self._controller.port

    @property
    def url(self):
        return "smtp://127.0.0.1:%d" % self.port

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if login in self.users and self.users[login] == password:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def start(self):
        kwargs = {"hostname": "127.0.0.1", "port": self.requested_port,
                  "data_size_limit": self.data_size_limit, "ready_timeout": 10.0}
        if self.users:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=False)
        self._controller = _Controller(_Handler(self), **kwargs)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----- the verdicts ----------------------------------------------------
    def _reject(self, stage, reply, envelope, address=None, injected=False):
        self._rejected.append({"stage": stage, "reply": reply,
                               "mail_from": envelope.mail_from,
                               "rcpt_tos": list(envelope.rcpt_tos), "address": address,
                               "injected": injected, "time": time.time()})
        self._cond.notify_all()
        return reply

    def _on_rcpt(self, session, envelope, address):
        with self._cond:
            if self._fail_queue and self._fail_queue[0][0] == "RCPT":
                _, reply = self._fail_queue.popleft()
                return self._reject("RCPT", reply, envelope, address, True)
            reply = self._refused.get(address.lower())
            if reply:
                return self._reject("RCPT", reply, envelope, address)
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 OK"

    def _on_data(self, session, envelope):
        with self._cond:
            if self._fail_queue and self._fail_queue[0][0] == "DATA":
                _, reply = self._fail_queue.popleft()
                return self._reject("DATA", reply, envelope, injected=True)
            data = envelope.original_content or envelope.content
            if isinstance(data, str):
                data = data.encode("utf-8")
            auth = session.auth_data
            login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
            self._accepted.append({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": bytes(data),
                "message": email.message_from_bytes(data, policy=email.policy.default),
                "login": login,
                "time": time.time(),
            })
            self._cond.notify_all()
            return OK_REPLY


def main(argv=None):
    ap = argparse.ArgumentParser(description="SMTP server for herald tests (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port (0 = ephemeral)")
    ap.add_argument("--user", action="append", default=[],
                    help="USER:PASSWORD for SMTP AUTH (repeatable; makes AUTH required)")
    args = ap.parse_args(argv)
    users = dict(u.split(":", 1) for u in args.user)
    server = SmtpServer(users=users, port=args.port).start()
    print("SMTP server listening on %s" % server.url, flush=True)
    try:
        seen = 0
        while True:
            time.sleep(0.5)
            for rec in server.accepted()[seen:]:
                print("from %s to %s: %s" % (rec["mail_from"], rec["rcpt_tos"],
                                              rec["message"]["subject"]), flush=True)
                seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
