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
# debian: where the Debian package (debian/, README) cannot be used. Local diversions of
#   both paths kexec-tools has used, /usr/sbin/kexec (trixie on) to
#   /usr/sbin/kexec.kexec-tools and /sbin/kexec (bookworm) to /sbin/kexec.kexec-tools-sbin
#   (two names: on merged /usr both paths are one file, and kexec-tools' move from /sbin
#   to /usr/sbin must not delete its new file; debian/pykexec.preinst explains), so that
#   kexec-tools, upgraded or installed later, writes its kexec aside. The kexec file there
#   now moves to the diverted name of the path its package lists; a link /usr/sbin/kexec to
#   PROGRAM takes its place (and /sbin/kexec where /sbin is a directory of its own).
#   remove: the links to PROGRAM go, both diversions go (whatever their names: also the
#   /sbin/kexec.distrib of earlier versions of this script), kexec-tools' file goes back.
# fedora (and RHEL, CentOS): alternatives(8) manages /usr/sbin/kexec. It does not
#   replace a regular file, so kexec-tools' binary is first moved to
#   /usr/sbin/kexec.kexec-tools and registered as the lower-priority alternative.
#   An rpm upgrade of kexec-tools writes /usr/sbin/kexec again: run install again.
#   remove: both alternatives go, kexec-tools' binary is moved back.
#
# Environment: ROOT, the root of the system to change (default /; for tests, a
# directory: every path and the dpkg/alternatives databases are taken under it),
# ALTERNATIVES (fedora: the program, default alternatives; Debian's update-alternatives
# takes the same commands).
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

KEXEC_PATHS="/usr/sbin/kexec /sbin/kexec"

diverted() {
    case $1 in
    /usr/sbin/*) echo "$1.kexec-tools" ;;
    *) echo "$1.kexec-tools-sbin" ;;
    esac
}

# True if an installed package lists exactly the path $1 (diversion lines aside).
listed() {
    dpkg-query --admindir="$ROOT/var/lib/dpkg" -S "$1" 2>/dev/null |
        grep -v -e '^diversion by ' -e '^local diversion ' | grep -q .
}

ours() {
    [ -L "$ROOT$1" ] && [ "$(readlink "$ROOT$1")" = "$PROGRAM" ]
}

debian() {
    divert="dpkg-divert --root=${ROOT:-/} --local --no-rename"
    links=/usr/sbin/kexec
    if [ -d "$ROOT/sbin" ] && [ ! -L "$ROOT/sbin" ]; then links="$links /sbin/kexec"; fi
    case $ACTION in
    install)
        for path in $KEXEC_PATHS; do
            to=$(diverted "$path")
            $divert --divert "$to" --add "$path"
            if listed "$path" && [ -e "$ROOT$path" ] && ! ours "$path" && [ ! -e "$ROOT$to" ]; then
                mv "$ROOT$path" "$ROOT$to"
            fi
        done
        for path in $links; do
            if [ -e "$ROOT$path" ] && [ ! -L "$ROOT$path" ]; then
                echo "$0: $ROOT$path is a file no package lists: move it away first" >&2
                exit 1
            fi
            ln -sfn "$PROGRAM" "$ROOT$path"
        done
        ;;
    remove)
        for path in $links; do
            if ours "$path"; then rm -f "$ROOT$path"; fi
        done
        for path in $KEXEC_PATHS; do
            to=$(dpkg-divert --root="${ROOT:-/}" --truename "$path")
            [ "$to" != "$path" ] || continue
            $divert --remove "$path"
            if [ -e "$ROOT$to" ] && [ ! -e "$ROOT$path" ] && [ ! -L "$ROOT$path" ]; then
                mv "$ROOT$to" "$ROOT$path"
            fi
        done
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
