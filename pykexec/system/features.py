# SPDX-License-Identifier: GPL-2.0-or-later
"""What the running kernel was built with and what it measures, read without loading.

* :func:`kernel_config`: the running kernel's ``.config`` (``/boot/config-<release>``,
  else ``/proc/config.gz`` of a kernel built with CONFIG_IKCONFIG_PROC);
* :func:`kexec_load_support`: whether the kexec_load syscall exists (RHEL 10 kernels
  are built without CONFIG_KEXEC and offer kexec_file_load only);
* :func:`ima_measuring`, :func:`tpm_present`: the measured-boot facts the syscall
  choice and the plan's attestation line depend on.
"""

from __future__ import annotations

import zlib

from pykexec.errors import SystemInfoError
from pykexec.system.sysinfo import SystemView

CONFIG_GZ = "proc/config.gz"
CONFIG_GZ_LIMIT = 1 << 20  # compressed; a whole .config is about 30 KiB of gzip
CONFIG_LIMIT = 8 << 20  # decompressed; a whole .config is about 250 KiB
# kernel/sys_ni.c COND_SYSCALL(kexec_load): without CONFIG_KEXEC the syscall's symbol
# is a weak stub ("W" in /proc/kallsyms); kernel/kexec.c SYSCALL_DEFINE4(kexec_load)
# makes it a text symbol ("T") otherwise. Seen in the System.map of the lab's two 6.1
# builds (kexec-file: "T sys_kexec_load", nokexec: "W sys_kexec_load"). ELFv1 kernels
# may name the text symbol with a leading dot.
KALLSYMS_LOAD_PRESENT = (b" T sys_kexec_load\n", b" T .sys_kexec_load\n")
KALLSYMS_LOAD_STUB = (b" W sys_kexec_load\n", b" W .sys_kexec_load\n")
IMA_DIR = "sys/kernel/security/ima"


def _hint(view: SystemView, rel: str) -> bytes | None:
    """A file these facts are only hints from: what cannot be read is not known (the IMA
    policy opens only with CONFIG_IMA_READ_POLICY, EACCES otherwise, even for root;
    security/integrity/ima/ima_fs.c ima_open_policy), never an error of the load."""
    try:
        return view.read_bytes(rel)
    except SystemInfoError:
        return None


def kernel_config(view: SystemView) -> tuple[str | None, str]:
    """The running kernel's config text and where it came from (None: not found)."""
    release = (view.read_text("proc/sys/kernel/osrelease") or "").strip()
    if release and "/" not in release:
        config = _hint(view, f"boot/config-{release}")
        if config is not None:
            return config.decode("utf-8", "replace"), f"/boot/config-{release}"
    packed = _hint(view, CONFIG_GZ)
    if packed and len(packed) <= CONFIG_GZ_LIMIT:
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing
        try:
            text = inflate.decompress(packed, CONFIG_LIMIT)
        except zlib.error:
            return None, f"/{CONFIG_GZ} is not gzip"
        return text.decode("utf-8", "replace"), f"/{CONFIG_GZ}"
    return None, "no /boot/config-* or /proc/config.gz"


def config_has(config: str, option: str) -> bool:
    """Whether ``option`` (``CONFIG_X``) is ``=y`` in the config text."""
    return f"\n{option}=y\n" in f"\n{config}\n"


def kexec_load_support(
    view: SystemView, config: tuple[str | None, str], thorough: bool
) -> tuple[bool | None, str]:
    """Whether the running kernel has kexec_load, and how that was told."""
    text, source = config
    if text is not None:
        if config_has(text, "CONFIG_KEXEC"):
            return True, source
        return False, f"{source}: CONFIG_KEXEC is not set"
    if thorough:
        symbols = _hint(view, "proc/kallsyms")
        if symbols:
            if any(s in symbols for s in KALLSYMS_LOAD_PRESENT):
                return True, "/proc/kallsyms"
            if any(s in symbols for s in KALLSYMS_LOAD_STUB):
                return False, "/proc/kallsyms: sys_kexec_load is the kernel's not-implemented stub"
    return None, source + (" nor /proc/kallsyms" if thorough else "")


def ima_measuring(view: SystemView) -> str | None:
    """How IMA is seen measuring, or None.

    Every kernel with CONFIG_IMA logs one entry at boot (``boot_aggregate``,
    security/integrity/ima/ima_init.c ima_add_boot_aggregate()), so a list of one
    entry says nothing; more entries, or a policy with ``measure`` rules
    (readable with CONFIG_IMA_READ_POLICY), say it is measuring.
    """
    counted = (_hint(view, f"{IMA_DIR}/runtime_measurements_count") or b"").split()[:1]
    count = int(counted[0]) if counted and counted[0].isdigit() and len(counted[0]) <= 20 else None
    if count is not None and count > 1:
        return f"{count} entries in its measurement list"
    policy = (_hint(view, f"{IMA_DIR}/policy") or b"").decode("utf-8", "replace")
    if any(line.split()[:1] == ["measure"] for line in policy.splitlines()):
        return "its policy has measure rules"
    return None


def tpm_present(view: SystemView) -> bool:
    """Whether the kernel drives a TPM (drivers/char/tpm/tpm-chip.c: /sys/class/tpm/tpmN)."""
    return view.count_entries("sys/class/tpm", "tpm") > 0
