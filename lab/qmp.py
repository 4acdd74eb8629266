# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal QMP client (QEMU Machine Protocol, docs/interop/qmp-spec.rst) on a unix socket.

QEMU listens on ``-qmp unix:PATH,server=on,wait=off``; the client reads the
greeting, sends ``qmp_capabilities`` and then one command at a time, skipping
asynchronous ``event`` messages until the command's ``return`` or ``error``.
Every wait is bounded by the socket timeout; an ``error`` reply raises.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from lab.errors import LabError

CONNECT_TIMEOUT = 10.0  # QEMU creates the socket before the guest starts
REPLY_TIMEOUT = 30.0


class QmpError(LabError):
    """QEMU refused a QMP command or did not answer in time."""


class Qmp:
    """One QMP session; use as a context manager."""

    def __init__(self, path: Path, timeout: float = REPLY_TIMEOUT) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        end = time.monotonic() + CONNECT_TIMEOUT
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > end:
                    self.sock.close()
                    raise QmpError(
                        f"no QMP socket at {path} after {CONNECT_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.1)
        self.reader = self.sock.makefile("rb")
        self._message()  # the greeting: {"QMP": {...}}
        self.execute("qmp_capabilities")

    def _message(self) -> dict[str, Any]:
        try:
            line = self.reader.readline()
        except TimeoutError:
            raise QmpError("QMP: no reply in time") from None
        if not line:
            raise QmpError("QMP: QEMU closed the socket")
        message: dict[str, Any] = json.loads(line)
        return message

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run ``command``; its ``return`` value, or QmpError with QEMU's description."""
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        while True:
            reply = self._message()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise QmpError(f"QMP {command} {arguments}: {reply['error'].get('desc', reply)}")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
