# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernels without kexec_load (RHEL 10) and measured boot (issue 18, items 4 and 5).

* what the running kernel offers, told from the files a snapshot holds (a config,
  /proc/config.gz, /proc/kallsyms) and the syscall decision on it;
* IMA and TPM facts, the plan's attestation line;
* the next kernel's tree from a running tree with a vTPM: no stale event log address
  (read back with libfdt, the expected bytes from the snapshot's own files), and a
  /chosen/rng-seed of the kernel's size.
"""

from __future__ import annotations

import errno
import gzip
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pykexec.commands.cli import main
from pykexec.core.options import LoadOptions, SyscallChoice
from pykexec.core.policy import KexecSupport, Syscall, decide_syscall
from pykexec.errors import MissingSyscall
from pykexec.system import features, syscalls
from pykexec.system.loader import read_support
from pykexec.system.sysinfo import SystemView
from tests.kernels import make_vmlinux
from tests.machines import pseries, write_sysroot
from tests.typed import cli_error

RELEASE = "6.1.192-nokexec"
NO_KEXEC_CONFIG = "CONFIG_PPC64=y\n# CONFIG_KEXEC is not set\nCONFIG_KEXEC_FILE=y\n"
VTPM = "vdevice/vtpm@30000003"
# arch/powerpc/kernel/prom_init.c prom_instantiate_sml() (6.1): the vTPM's handover
# writes both cells in the CPU's (here little-endian) order.
SML_BASE = (0x1FFF0000).to_bytes(8, "little")
SML_SIZE = (0x10000).to_bytes(4, "little")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A pseries sysroot (1 GiB RMA, crashkernel) naming its kernel release."""
    root = write_sysroot(tmp_path / "root", pseries(), cmdline="console=hvc0 crashkernel=256M")
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text(RELEASE + "\n")
    return root


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("k") / "vmlinux"
    path.write_bytes(make_vmlinux("little", size=0x120000, memsz=0x200000))
    return path


# -- what the kernel offers -------------------------------------------------------


def test_boot_config_without_kexec(root: Path) -> None:
    (root / "boot").mkdir()
    (root / f"boot/config-{RELEASE}").write_text(NO_KEXEC_CONFIG)
    support = read_support(SystemView(root), crash=False)
    assert (support.load, support.file_load) == (False, True)
    assert support.load_source == f"/boot/config-{RELEASE}: CONFIG_KEXEC is not set"


def test_proc_config_gz_without_kexec(root: Path) -> None:
    (root / "proc/config.gz").write_bytes(gzip.compress(NO_KEXEC_CONFIG.encode()))
    support = read_support(SystemView(root), crash=False)
    assert (support.load, support.file_load) == (False, True)
    assert support.load_source.startswith("/proc/config.gz")


def test_proc_config_gz_with_kexec(root: Path) -> None:
    text = NO_KEXEC_CONFIG.replace("# CONFIG_KEXEC is not set", "CONFIG_KEXEC=y")
    (root / "proc/config.gz").write_bytes(gzip.compress(text.encode()))
    assert read_support(SystemView(root), crash=False).load is True


def test_config_gz_that_is_not_gzip_tells_nothing(root: Path) -> None:
    (root / "proc/config.gz").write_bytes(b"CONFIG_KEXEC=y\n")
    support = read_support(SystemView(root), crash=False)
    assert support.load is None
    assert "not gzip" in support.load_source


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("T", True), ("W", False), (None, None)],
)  # fmt: skip
def test_kallsyms_tells_kexec_load(root: Path, kind: str | None, expected: bool | None) -> None:
    """The lab's two 6.1 builds' System.map: "T sys_kexec_load" with CONFIG_KEXEC, the
    weak not-implemented stub "W sys_kexec_load" without it."""
    lines = ["c00000000011f670 T sys_ni_syscall", "c0000000001ce450 T kexec_add_buffer"]
    if kind is not None:
        lines.append(f"c0000000001cd4d0 {kind} sys_kexec_load")
    (root / "proc/kallsyms").write_text("\n".join(lines) + "\n")
    assert read_support(SystemView(root), crash=False, thorough=True).load is expected
    # a live load does not read /proc/kallsyms (it is large): not told
    assert read_support(SystemView(root), crash=False).load is None


# -- the decision ---------------------------------------------------------------------


def _no_load(**kw: Any) -> KexecSupport:
    return KexecSupport(load=False, load_source="test", **kw)


def test_default_loads_with_kexec_file_load_only() -> None:
    decision = decide_syscall(LoadOptions(kernel=Path("k")), _no_load())
    assert (decision.first, decision.fallback) == (Syscall.FILE, False)
    assert "no kexec_load" in decision.why
    crash = decide_syscall(LoadOptions(kernel=Path("k"), crash=True), _no_load())
    assert (crash.first, crash.fallback) == (Syscall.FILE, False)


def test_file_syscall_asked_for_is_unchanged() -> None:
    opts = LoadOptions(kernel=Path("k"), syscall=SyscallChoice.FILE)
    assert decide_syscall(opts, _no_load()).first is Syscall.FILE


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"syscall": SyscallChoice.LOAD}, "-c"),
        ({"syscall": SyscallChoice.LOAD, "crash": True}, "-c"),
        ({"dtb": Path("x.dtb")}, "--dtb"),
        ({"reuse_initrd": True}, "--reuseinitrd"),
    ],
)  # fmt: skip
def test_what_needs_kexec_load_is_refused(options: dict[str, Any], option: str) -> None:
    with pytest.raises(MissingSyscall) as caught:
        decide_syscall(LoadOptions(kernel=Path("k"), **options), _no_load())
    assert (caught.value.syscall, caught.value.option, caught.value.exit_code) == (
        "kexec_load", option, 2,
    )  # fmt: skip
    problem = "load-asked" if option == "-c" else "load-needed"
    assert (caught.value.problem, caught.value.source) == (problem, "test")


def test_neither_syscall_plans_as_before() -> None:
    """A kernel with no kexec at all (a dry run on another machine): kexec_load is
    planned, as when only kexec_file_load is known missing, so a dry run still plans."""
    decision = decide_syscall(LoadOptions(kernel=Path("k")), _no_load(file_load=False))
    assert (decision.first, decision.fallback) == (Syscall.LOAD, False)


def test_enosys_from_kexec_load_names_the_fix() -> None:
    line = syscalls.explain("kexec_load(...)", errno.ENOSYS)
    assert "no kexec_load" in line and "drop -c" in line and "-s" in line


def test_cli_refusal_is_one_line_and_exit_2(
    root: Path, kernel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "proc/config.gz").write_bytes(gzip.compress(NO_KEXEC_CONFIG.encode()))
    assert main(["-c", "-l", str(kernel), "--dry-run", "--sysroot", str(root), "--json"]) == 2
    error = cli_error(capsys)  # one line on stderr, the fields in the document
    assert (error["kind"], error["problem"], error["option"]) == (
        "MissingSyscall",
        "load-asked",
        "-c",
    )
    assert main(["-l", str(kernel), "--dry-run", "--sysroot", str(root), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert "kexec_load" not in plan or plan["kexec_load"] is None


# -- IMA and TPM ------------------------------------------------------------------


def _ima(root: Path, count: int | None = None, policy: str | None = None) -> None:
    ima = root / features.IMA_DIR
    ima.mkdir(parents=True)
    if count is not None:
        (ima / "runtime_measurements_count").write_text(f"{count}\n")
    if policy is not None:
        (ima / "policy").write_text(policy)


@pytest.mark.parametrize(
    ("count", "policy", "measuring"),
    [
        (1, None, False),  # boot_aggregate only: every CONFIG_IMA kernel has it
        (5, None, True),
        (1, "dont_measure fsmagic=0x9fa0\nmeasure func=BPRM_CHECK\n", True),
        (1, "dont_measure fsmagic=0x9fa0\n", False),
    ],
)  # fmt: skip
def test_ima_measuring(root: Path, count: int, policy: str | None, measuring: bool) -> None:
    _ima(root, count, policy)
    assert (features.ima_measuring(SystemView(root)) is not None) is measuring


def test_an_unreadable_ima_policy_is_not_known_not_an_error(root: Path) -> None:
    """Without CONFIG_IMA_READ_POLICY the policy does not open, even for root (EACCES, seen
    in the Debian system's kdump-tools load); nothing here may fail a load: a policy that
    is not a readable file (a directory stands in for it) says nothing."""
    _ima(root, 1)
    (root / features.IMA_DIR / "policy").mkdir()
    assert features.ima_measuring(SystemView(root)) is None
    _ima_count = root / features.IMA_DIR / "runtime_measurements_count"
    _ima_count.unlink()
    _ima_count.mkdir()
    assert features.ima_measuring(SystemView(root)) is None


def test_ima_makes_the_default_say_why(root: Path) -> None:
    _ima(root, 42)
    support = read_support(SystemView(root), crash=False)
    decision = decide_syscall(LoadOptions(kernel=Path("k")), support)
    assert (decision.first, decision.fallback) == (Syscall.FILE, True)
    assert "IMA is measuring (42 entries" in decision.why


def _plan(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main([*argv, "--dry-run", "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _tpm(root: Path) -> None:
    (root / "sys/class/tpm/tpm0").mkdir(parents=True)


@pytest.mark.parametrize(("tpm", "ima"), [(False, False), (True, False), (True, True)])
def test_kexec_load_plan_says_what_attestation_loses(
    root: Path, kernel: Path, capsys: pytest.CaptureFixture[str], tpm: bool, ima: bool
) -> None:
    if tpm:
        _tpm(root)
    if ima:
        _ima(root, 9)
    text_argv = ["-c", "-l", str(kernel), "--sysroot", str(root), "--dry-run"]
    assert main(text_argv) == 0
    out = capsys.readouterr()
    lines = [ln for ln in out.out.splitlines() if "attestation:" in ln]
    assert len(lines) == (1 if tpm else 0)
    if tpm:
        assert "new IMA measurement list" in lines[0] and "PCRs" in lines[0]
    # a warning on stderr only where IMA is measuring (a live load prints warnings)
    warned = _plan(capsys, "-c", "-l", str(kernel), "--sysroot", str(root))
    assert any("attestation:" in w for w in warned.get("warnings", [])) is ima


# -- the next kernel's tree ---------------------------------------------------------


def _vtpm(root: Path, *, inline_log: bytes | None = None) -> Path:
    node = root / "proc/device-tree" / VTPM
    node.mkdir(parents=True)
    (node / "compatible").write_bytes(b"IBM,vtpm20\0")
    (node / "device_type").write_bytes(b"IBM,vtpm\0")
    (node / "reg").write_bytes((0x30000003).to_bytes(4, "big"))
    if inline_log is None:
        (node / "linux,sml-base").write_bytes(SML_BASE)
        (node / "linux,sml-size").write_bytes(SML_SIZE)
    else:
        (node / "linux,sml-log").write_bytes(inline_log)
    return node


def _saved_tree(tmp_path: Path, root: Path, kernel: Path, *flags: str) -> Any:
    out = tmp_path / "saved"
    argv = [*flags, str(kernel), "--dry-run", "--sysroot", str(root), f"--save={out}"]
    assert main(argv) == 0
    return next(p for p in out.iterdir() if p.suffix == ".dtb").read_bytes()


def _props(libfdt: ModuleType, blob: bytes, path: str) -> dict[str, bytes]:
    fdt = libfdt.Fdt(blob)
    off = fdt.path_offset(path)
    props = {}
    poff = fdt.first_property_offset(off, (libfdt.NOTFOUND,))
    while poff >= 0:
        prop = fdt.get_property_by_offset(poff)
        props[prop.name] = bytes(prop)
        poff = fdt.next_property_offset(poff, (libfdt.NOTFOUND,))
    return props


@pytest.mark.parametrize("flags", [("-c", "-l"), ("-c", "-p")])
def test_stale_event_log_address_never_reaches_the_next_kernel(
    tmp_path: Path, root: Path, kernel: Path, libfdt: ModuleType, flags: tuple[str, ...]
) -> None:
    node = _vtpm(root)
    blob = _saved_tree(tmp_path, root, kernel, *flags)
    props = _props(libfdt, blob, "/" + VTPM)
    assert "linux,sml-base" not in props and "linux,sml-size" not in props
    for name in ("compatible", "device_type", "reg"):  # the rest of the node as it was
        assert props[name] == (node / name).read_bytes()


def test_inline_event_log_is_carried(
    tmp_path: Path, root: Path, kernel: Path, libfdt: ModuleType
) -> None:
    log = bytes(range(256)) * 3
    node = _vtpm(root, inline_log=log)
    props = _props(libfdt, _saved_tree(tmp_path, root, kernel, "-c", "-l"), "/" + VTPM)
    assert props["linux,sml-log"] == (node / "linux,sml-log").read_bytes()


def test_rng_seed_in_chosen(tmp_path: Path, root: Path, kernel: Path, libfdt: ModuleType) -> None:
    """128 bytes, drivers/of/kexec.c RNG_SEED_SIZE (6.1); a seed left in the running
    tree is not handed on (zeros: a plan from a snapshot, never loaded)."""
    (root / "proc/device-tree/chosen/rng-seed").write_bytes(b"\xaa" * 64)
    chosen = _props(libfdt, _saved_tree(tmp_path, root, kernel, "-c", "-l"), "/chosen")
    assert chosen["rng-seed"] == bytes(128)


def test_live_rng_seed_is_fresh(monkeypatch: pytest.MonkeyPatch, root: Path, kernel: Path) -> None:
    """A live gather asks os.urandom for the seed, once per plan."""
    from pykexec.system import loader

    asked: list[int] = []

    def urandom(n: int) -> bytes:
        asked.append(n)
        return b"\x5a" * n

    class Live(SystemView):
        live = True  # type: ignore[assignment]

    monkeypatch.setattr(loader.os, "urandom", urandom)
    opts = LoadOptions(kernel=kernel, syscall=SyscallChoice.LOAD)
    facts = loader.gather(opts, Live(root), segments=True)
    assert asked == [128] and facts.rng_seed == b"\x5a" * 128
