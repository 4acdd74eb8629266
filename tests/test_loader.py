# SPDX-License-Identifier: GPL-2.0-or-later
"""The loader's syscall choice (-s, -c, -a) and its fallback rule, with the kernel calls
replaced by recorders (the lab proves the real calls; this pins the decisions)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pykexec.core.options import LoadOptions, SyscallChoice
from pykexec.errors import SyscallError
from pykexec.system import loader, syscalls
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot


class Kernel:
    """Records the calls; ``file_errno`` makes kexec_file_load fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, file_errno: int | None) -> None:
        self.calls: list[str] = []
        self.file_errno = file_errno
        monkeypatch.setattr(syscalls, "kexec_file_load", self.file_load)
        monkeypatch.setattr(syscalls, "kexec_load", self.load)

    def file_load(self, kernel_fd: int, initrd_fd: int, cmdline: bytes, flags: int) -> None:
        self.calls.append(f"file flags={flags:#x}")
        if self.file_errno is not None:
            raise SyscallError("failed", errno=self.file_errno, call="kexec_file_load", advice="x")

    def load(self, entry: int, segments: list[syscalls.RawSegment], flags: int) -> None:
        self.calls.append(f"load n={len(segments)} flags={flags:#x}")


class LiveSnapshot(SystemView):
    """A snapshot the loader takes for the running system: the kernel calls are
    recorders here, so a "live" load reaches nothing real."""

    live = True  # type: ignore[assignment]


@pytest.fixture
def setup(tmp_path: Path) -> tuple[LoadOptions, SystemView]:
    k = tmp_path / "vmlinux"
    k.write_bytes(make_vmlinux(size=0x40000))
    view = LiveSnapshot(write_sysroot(tmp_path / "root", pseries()))
    return LoadOptions(kernel=k, command_line="x"), view


@pytest.mark.parametrize("err", [errno.ENOSYS, errno.EINVAL, errno.ENOEXEC, errno.ENOTSUP])
def test_auto_falls_back(monkeypatch: pytest.MonkeyPatch, setup, err: int) -> None:  # type: ignore[no-untyped-def]
    opts, view = setup
    kernel = Kernel(monkeypatch, err)
    plan = loader.load(opts, view)
    assert kernel.calls == ["file flags=0x4", "load n=3 flags=0x150000"]
    assert any("fell back to kexec_load" in n for n in plan.notes)
    assert plan.segments is not None


@pytest.mark.parametrize("err", [errno.EPERM, errno.EKEYREJECTED, errno.EBADMSG, errno.EBUSY])
def test_auto_other_errors_are_final(monkeypatch: pytest.MonkeyPatch, setup, err: int) -> None:  # type: ignore[no-untyped-def]
    opts, view = setup
    kernel = Kernel(monkeypatch, err)
    with pytest.raises(SyscallError):
        loader.load(opts, view)
    assert kernel.calls == ["file flags=0x4"]


def test_file_only_and_load_only(monkeypatch: pytest.MonkeyPatch, setup) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    opts, view = setup
    kernel = Kernel(monkeypatch, errno.ENOSYS)
    with pytest.raises(SyscallError):
        loader.load(replace(opts, syscall=SyscallChoice.FILE), view)
    assert kernel.calls == ["file flags=0x4"]
    kernel.calls.clear()
    loader.load(replace(opts, syscall=SyscallChoice.LOAD, crash=True), view)
    assert kernel.calls == ["load n=5 flags=0x150001"]


def test_file_load_crash_flags(monkeypatch: pytest.MonkeyPatch, setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    opts, view = setup
    initrd = tmp_path / "initrd"
    initrd.write_bytes(b"x" * 100)
    kernel = Kernel(monkeypatch, None)
    assert loader.load(replace(opts, crash=True, initrd=initrd), view).segments is None
    assert kernel.calls == ["file flags=0x2"]  # ON_CRASH, with an initramfs


def test_unload_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = Kernel(monkeypatch, errno.ENOSYS)
    loader.unload(crash=True)
    assert kernel.calls == ["file flags=0x3", "load n=0 flags=0x150001"]
    kernel.calls.clear()
    loader.unload(crash=False, syscall=SyscallChoice.LOAD)
    assert kernel.calls == ["load n=0 flags=0x150000"]


def test_compressed_kernel_reaches_file_load_inflated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """kexec_file_load gets a descriptor of the plain ELF, as the kernel's loader needs."""
    import gzip
    import os

    plain = make_vmlinux(size=0x40000)
    k = tmp_path / "vmlinux.gz"
    k.write_bytes(gzip.compress(plain))
    seen: list[bytes] = []

    def file_load(kernel_fd: int, initrd_fd: int, cmdline: bytes, flags: int) -> None:
        seen.append(os.pread(kernel_fd, len(plain) + 1, 0))

    monkeypatch.setattr(syscalls, "kexec_file_load", file_load)
    view = LiveSnapshot(write_sysroot(tmp_path / "root", pseries()))
    assert loader.load(LoadOptions(kernel=k, syscall=SyscallChoice.FILE), view).segments is None
    assert seen == [plain]


@pytest.mark.parametrize(
    "hwcap2,env,expected",
    [(0x02000000, "", True), (0x04000000, "", False), (0x02000000, "scalar", False),
     (0, "vector", True)],
)  # fmt: skip
def test_purgatory_sha256_follows_the_cpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hwcap2: int, env: str, expected: bool
) -> None:
    """AT_HWCAP2's PPC_FEATURE2_VEC_CRYPTO (cputable.h) picks the vector SHA-256; the
    environment overrides it; a snapshot never claims the CPU's features."""
    import struct

    root = write_sysroot(tmp_path / "root", pseries())
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/auxv").write_bytes(struct.pack("=4Q", 16, 0xDEAD, 26, hwcap2) + bytes(16))
    monkeypatch.setenv("PYKEXEC_PURGATORY_SHA256", env)
    assert loader._vector_crypto(LiveSnapshot(root)) is expected
    assert loader._vector_crypto(SystemView(root)) is (env == "vector")
