/*
 * /init of the lab's big-endian kernel (lab/beinit.py cross-compiles it with
 * powerpc64-linux-gnu-gcc -static; nothing here runs in the product).
 *
 * It speaks the lab's console protocol (lab/guest/init.sh): LAB-USERSPACE,
 * then one step "marker" that echoes the host's marker (the kernel passes the
 * command-line word lab_marker=... to init as an environment variable: no dot
 * in its name, see init/main.c unknown_bootoption), the machine's uname and the
 * byte order this program sees at run time, then LAB-PASS or LAB-FAIL, and
 * powers the machine off.
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

int main(void)
{
	const char *marker = getenv("lab_marker");
	struct utsname u;
	char up[32];
	int ok;

	mount("proc", "/proc", "proc", 0, NULL);
	uptime(up, sizeof(up));
	if (uname(&u) != 0)
		strcpy(u.machine, "?");
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
