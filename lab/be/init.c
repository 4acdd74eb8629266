// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * /init of the lab's big-endian kernel (lab/beinit.py cross-compiles it with
 * powerpc64-linux-gnu-gcc -static; nothing here runs in the product).
 *
 * It speaks the lab's console protocol (lab/guest/init.sh): LAB-USERSPACE,
 * then one step "marker" that echoes the host's marker (the kernel passes the
 * command-line word lab_marker=... to init as an environment variable: no dot
 * in its name, see init/main.c unknown_bootoption), the machine's uname and the
 * byte order this program sees at run time, then LAB-PASS or LAB-FAIL, and
 * powers the machine off.  With lab_stage=crash (a crash kernel) the step is
 * "vmcore" instead: whether /proc/vmcore exists and its ELF identification
 * (fs/proc/vmcore.c creates it only when it accepted the ELF core header).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/utsname.h>
#include <unistd.h>

static const char *byte_order(void)
{
	const unsigned int probe = 1;

	return *(const unsigned char *)&probe ? "little" : "big";
}

static void uptime(char *buf, size_t len)
{
	FILE *f = fopen("/proc/uptime", "r");

	snprintf(buf, len, "?");
	if (f) {
		if (fscanf(f, "%31s", buf) != 1)
			snprintf(buf, len, "?");
		fclose(f);
	}
}

static int vmcore(void)
{
	unsigned char ident[18] = { 0 };
	FILE *f = fopen("/proc/vmcore", "rb");
	size_t i, got;

	printf("LAB-BEGIN vmcore\n");
	if (!f) {
		printf("LAB-RESULT be_vmcore=absent\n");
		printf("LAB-END vmcore rc=1\n");
		return 0;
	}
	got = fread(ident, 1, sizeof(ident), f);
	fclose(f);
	printf("LAB-RESULT be_vmcore=present\n");
	printf("LAB-RESULT be_vmcore_ident=");
	for (i = 0; i < got; i++)
		printf("%02x", ident[i]);
	printf("\n");
	printf("LAB-END vmcore rc=0\n");
	return 1;
}

int main(void)
{
	const char *marker = getenv("lab_marker");
	const char *stage = getenv("lab_stage");
	struct utsname u;
	char up[32];
	int ok;

	mount("proc", "/proc", "proc", 0, NULL);
	uptime(up, sizeof(up));
	if (uname(&u) != 0)
		strcpy(u.machine, "?");
	if (stage && strcmp(stage, "crash") == 0) {
		printf("LAB-USERSPACE stage=crash uptime=%s\n", up);
		printf("LAB-RESULT be_machine=%s\n", u.machine);
		printf("LAB-RESULT be_byte_order=%s\n", byte_order());
		vmcore();
		printf("LAB-PASS\n"); /* the host judges the recorded results */
		fflush(stdout);
		sync();
		reboot(RB_POWER_OFF);
		return 1;
	}
	printf("LAB-USERSPACE stage=2 uptime=%s\n", up);
	printf("LAB-BEGIN marker\n");
	printf("LAB-RESULT marker=%s\n", marker ? marker : "");
	printf("LAB-RESULT be_machine=%s\n", u.machine);
	printf("LAB-RESULT be_release=%s\n", u.release);
	printf("LAB-RESULT be_byte_order=%s\n", byte_order());
	ok = marker && *marker && strcmp(byte_order(), "big") == 0;
	printf("LAB-END marker rc=%d\n", ok ? 0 : 1);
	printf(ok ? "LAB-PASS\n" : "LAB-FAIL big-endian init: marker or byte order\n");
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	return 1;
}
