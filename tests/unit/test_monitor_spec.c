/* Container spec: JSON round trip, validation of hostile specs, sizes. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/spec.h"
#include "monitor/qemu.h"
#include "util/cmdline.h"
#include "test.h"

static char *args[] = { "sh", "-c", "echo hi", NULL };
static char *env[] = { "PATH=/bin", "A=b=c", NULL };
static struct mon_layer layer = { "/var/lib/lcvm/l0.squashfs", "squashfs" };

static struct mon_spec good(void)
{
	struct mon_spec s = {
		.id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		.name = "n", .image = "busybox", .args = args, .env = env, .cwd = "/", .hostname = "h",
		.layers = &layer, .nlayers = 1, .kernel = "/k", .initrd = "/i", .accel = MON_ACCEL_TCG,
		.cpus = 1, .memory_mib = 512, .interactive = 1, .remove = 1,
	};
	return s;
}

static void t_roundtrip(void)
{
	struct mon_spec s = good();
	struct lc_err e = { 0 };
	char *json = NULL;
	if (!T_CHECK(mon_spec_to_json(&s, &json, &e) == 0))
		return;
	struct mon_spec back;
	T_CHECK_EQ_INT(mon_spec_from_json(json, strlen(json), &back, &e), 0);
	T_CHECK_EQ_STR(back.args[2], "echo hi");
	T_CHECK_EQ_STR(back.env[1], "A=b=c");
	T_CHECK_EQ_STR(back.layers[0].fstype, "squashfs");
	T_CHECK_EQ_INT(back.memory_mib, 512);
	T_CHECK_EQ_INT(back.interactive, 1);
	T_CHECK_EQ_INT(back.accel, MON_ACCEL_TCG);
	mon_spec_free(&back);
	free(json);
}

static void t_rejects(void)
{
	struct lc_err e = { 0 };
	struct mon_spec s = good();
	s.id = "short";
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	s.cwd = "relative";
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	s.cwd = "/a/../../etc";
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	char *noeq[] = { "NOEQUALS", NULL };
	s.env = noeq;
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	T_CHECK(strstr(e.msg, "KEY=VALUE") != NULL);
	s = good();
	char *none[] = { NULL };
	s.args = none;
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	s.cpus = 0;
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	s.memory_mib = 1;
	T_CHECK(mon_spec_validate(&s, &e) < 0);
	s = good();
	struct mon_layer bad = { "/x", "../evil" };
	s.layers = &bad;
	T_CHECK(mon_spec_validate(&s, &e) < 0);
}

static void t_hostile_json(void)
{
	const char *cases[] = {
		"", "{", "[]", "null", "{\"id\":1}",
		"{\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"id\":\"x\"}",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mon_spec s;
		struct lc_err e = { 0 };
		T_CHECK(mon_spec_from_json(cases[i], strlen(cases[i]), &s, &e) < 0);
		T_CHECK(e.msg[0] != '\0');
	}
}

static void t_memory(void)
{
	uint64_t m = 0;
	T_CHECK(mon_parse_memory("512M", &m) == 0 && m == 512);
	T_CHECK(mon_parse_memory("2g", &m) == 0 && m == 2048);
	T_CHECK(mon_parse_memory("1024", &m) == 0 && m == 1024);
	T_CHECK(mon_parse_memory("1GiB", &m) == 0 && m == 1024);
	T_CHECK(mon_parse_memory("", &m) < 0);
	T_CHECK(mon_parse_memory("-1G", &m) < 0);
	T_CHECK(mon_parse_memory("12x", &m) < 0);
	T_CHECK(mon_parse_memory("99999999999999999999", &m) < 0);
}

/* Whether the -append argument carries word as a whole word. */
static bool append_has(char **argv, const char *word)
{
	for (size_t i = 0; argv[i] && argv[i + 1]; i++)
		if (strcmp(argv[i], "-append") == 0)
			return lc_cmdline_has(argv[i + 1], word);
	return false;
}

static void t_qemu_argv(void)
{
	struct qemu_cfg c = { .binary = "qemu", .accel = MON_ACCEL_TCG, .cpus = 2, .memory_mib = 256,
			      .kernel = "/k", .initrd = "/i", .tsc_khz = 2793438, .vhost_user_fd = 4,
			      .console_fd = 5, .ndisks = 1 };
	c.disks[0].path = "/d.img";
	snprintf(c.disks[0].serial, sizeof(c.disks[0].serial), "layer0");
	c.disks[0].read_only = 1;
	char **argv = NULL;
	struct lc_err e = { 0 };
	if (!T_CHECK(qemu_build_argv(&c, &argv, &e) == 0))
		return;
	int memfd = 0, tsc = 0, disk = 0, vsock = 0;
	for (size_t i = 0; argv[i]; i++) {
		memfd |= strstr(argv[i], "memory-backend-memfd,id=mem,size=256M,share=on") != NULL;
		tsc |= strstr(argv[i], "tsc_early_khz=2793438") != NULL;
		disk |= strstr(argv[i], "serial=layer0") != NULL;
		vsock |= strcmp(argv[i], "vhost-user-vsock-device,chardev=vsock") == 0 || strcmp(argv[i], "socket,id=vsock,fd=4") == 0;
	}
	T_CHECK(memfd && tsc && disk && vsock);
	/* The agent is told it runs under TCG (its crun warm-up), never under KVM. */
	T_CHECK(append_has(argv, "lcvm.tcg=1"));
	/* guest/boot-cmdline, the line bench/bare-boot.sh boots the anchor with,
	 * and the ramfs root the agent seals (agent_seal_root). */
	T_CHECK(append_has(argv, "cryptomgr.notests") && append_has(argv, "8250.nr_uarts=1"));
	T_CHECK(append_has(argv, "rootfstype=ramfs"));
	strv_free(argv);
	c.accel = MON_ACCEL_KVM;
	if (T_CHECK(qemu_build_argv(&c, &argv, &e) == 0)) {
		T_CHECK(!append_has(argv, "lcvm.tcg=1"));
		T_CHECK(append_has(argv, "tsc_early_khz=2793438"));
		strv_free(argv);
	}
	c.accel = MON_ACCEL_TCG;
	c.disks[0].path = "/evil,file=/etc/shadow";
	T_CHECK(qemu_build_argv(&c, &argv, &e) < 0);
}

static void t_accel(void)
{
	enum mon_accel a;
	char why[128];
	struct lc_err e = { 0 };
	T_CHECK(qemu_resolve_accel(MON_ACCEL_TCG, &a, why, sizeof(why), &e) == 0 && a == MON_ACCEL_TCG);
	T_CHECK(qemu_resolve_accel(MON_ACCEL_AUTO, &a, why, sizeof(why), &e) == 0);
	/* On a machine without vmx/svm (this one: kvm_pvm) auto must pick TCG and say why. */
	if (a == MON_ACCEL_TCG)
		T_CHECK(why[0] != '\0');
}

static void t_default_cpus(void)
{
	T_CHECK_EQ_INT(mon_default_cpus(1), 1);
	T_CHECK_EQ_INT(mon_default_cpus(2), 2);
	T_CHECK_EQ_INT(mon_default_cpus(64), 2);
	T_CHECK_EQ_INT(mon_default_cpus(-1), 1); /* sysconf failed */
	T_CHECK_EQ_INT(mon_default_cpus(0), 1);
}

int main(void)
{
	T_RUN(t_roundtrip);
	T_RUN(t_rejects);
	T_RUN(t_hostile_json);
	T_RUN(t_memory);
	T_RUN(t_qemu_argv);
	T_RUN(t_accel);
	T_RUN(t_default_cpus);
	return t_done();
}
