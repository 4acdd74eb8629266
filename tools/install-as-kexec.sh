#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Make pykexec the system's kexec, or undo it, the way each distribution allows:
#
#   tools/install-as-kexec.sh debian install|remove PROGRAM
#   tools/install-as-kexec.sh fedora install|remove PROGRAM
#
# PROGRAM is pykexec as installed on the system, by its absolute path: the one-file
# zipapp (e.g. /usr/local/lib/pykexec/pykexec.pyz) or the console script pip installed
# (e.g. /usr/local/bin/pykexec). Run under the name kexec, it behaves as kexec.
#
# debian: dpkg-divert moves kexec-tools' binary aside (/sbin/kexec, from bookworm's
#   package file list; /usr/sbin/kexec where the package lists that) to kexec.distrib,
#   where package upgrades also put it from then on; a link named kexec takes its place.
#   remove: the link goes, dpkg-divert renames kexec-tools' binary back.
# fedora (and RHEL, CentOS): alternatives(8) manages /usr/sbin/kexec. It does not
#   replace a regular file, so kexec-tools' binary is first moved to
#   /usr/sbin/kexec.kexec-tools and registered as the lower-priority alternative.
#   An rpm upgrade of kexec-tools writes /usr/sbin/kexec again: run install again.
#   remove: both alternatives go, kexec-tools' binary is moved back.
#
# Environment: ROOT, the root of the system to change (default /; for tests, a
# directory: every path and the dpkg/alternatives databases are taken under it),
# KEXEC_PATH (debian: the path kexec-tools installs kexec as), ALTERNATIVES (fedora: the
# program, default alternatives; Debian's update-alternatives takes the same commands).
set -eu

usage() {
    echo "usage: $0 debian|fedora install|remove PROGRAM" >&2
    exit 2
}
[ $# -eq 3 ] || usage
DISTRO=$1 ACTION=$2 PROGRAM=$3
case $DISTRO in debian | fedora) ;; *) usage ;; esac
case $ACTION in install | remove) ;; *) usage ;; esac
case $PROGRAM in /*) ;; *) echo "$0: PROGRAM must be an absolute path" >&2; exit 2 ;; esac
ROOT=${ROOT:-}
ROOT=${ROOT%/}
if [ "$ACTION" = install ] && [ ! -x "$ROOT$PROGRAM" ]; then
    echo "$0: $ROOT$PROGRAM is not an executable file" >&2
    exit 1
fi

debian_kexec_path() {
    if [ -n "${KEXEC_PATH:-}" ]; then
        echo "$KEXEC_PATH"
        return
    fi
    listed=$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -L kexec-tools 2>/dev/null |
        grep -E '^(/usr)?/sbin/kexec$' | head -n 1) || true
    echo "${listed:-/sbin/kexec}"
}

debian() {
    kexec=$(debian_kexec_path)
    divert="dpkg-divert --root=${ROOT:-/} --local --rename --divert $kexec.distrib"
    case $ACTION in
    install)
        $divert --add "$kexec"
        ln -sfn "$PROGRAM" "$ROOT$kexec"
        ;;
    remove)
        if [ -L "$ROOT$kexec" ]; then rm -f "$ROOT$kexec"; fi
        $divert --remove "$kexec"
        ;;
    *) usage ;;
    esac
}

fedora() {
    alt=${ALTERNATIVES:-alternatives}
    if [ -n "$ROOT" ]; then
        alt="$alt --altdir $ROOT/etc/alternatives --admindir $ROOT/var/lib/alternatives"
        mkdir -p "$ROOT/etc/alternatives" "$ROOT/var/lib/alternatives"
    fi
    link=$ROOT/usr/sbin/kexec
    saved=$ROOT/usr/sbin/kexec.kexec-tools
    case $ACTION in
    install)
        if [ -f "$link" ] && [ ! -L "$link" ]; then mv "$link" "$saved"; fi
        if [ -f "$saved" ]; then $alt --install "$link" kexec "$saved" 10; fi
        $alt --install "$link" kexec "$ROOT$PROGRAM" 20
        ;;
    remove)
        $alt --remove kexec "$ROOT$PROGRAM"
        if [ -f "$saved" ]; then
            $alt --remove kexec "$saved"
            if [ ! -e "$link" ] && [ ! -L "$link" ]; then mv "$saved" "$link"; fi
        fi
        ;;
    *) usage ;;
    esac
}

case $DISTRO in
debian) debian ;;
fedora) fedora ;;
*) usage ;;
esac
