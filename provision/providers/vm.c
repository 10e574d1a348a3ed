/*
 * vm.c - qemu virtual machines on this machine, booted by real cloud-init.
 *
 * One VM per server, each on a copy-on-write disk (qcow2) over one image:
 * a Debian 12 disk the tool builds once with mmdebstrap (kernel,
 * cloud-init, openssh, locales and the settings' extra packages) and
 * caches beside the local provider's base, or an image file the user
 * names (an Ubuntu cloud image, say), booted by its own boot loader.  Each
 * VM gets a NoCloud seed holding the very #cloud-config user_data the
 * cloud providers send (cloud.c: admin user, authorized key, the host key
 * the tool made), so its host key is pinned before it boots; the seed's
 * vendor-data and network-config say what only this machine knows (the
 * address on the bridge, the package cache).  VMs sit on tap devices on
 * the layout's bridge, with the addresses and package cache of local hosts
 * (lhost.c).  KVM when it can run a kernel here, else TCG with a capped
 * translation cache.
 *
 *   providers:
 *     vm:
 *       subnet: 10.213.8.0/24     # as provider local (default: a free one)
 *       packages: [docker.io]     # baked into the built image
 *       image: /srv/noble-server-cloudimg-amd64.img   # instead of the built image
 *       os: ubuntu-24.04          # the image's OS (default debian-12)
 *       accel: auto               # kvm | tcg | auto
 *   servers:
 *     app1: { roles: [base], cpus: 2, memory: 2G, disk: 16G }
 *
 * Needs root (bridges, tap devices) and qemu-system-x86, qemu-utils,
 * mtools, dosfstools.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "provision/cloud.h"
#include "provision/keys.h"
#include "provision/lhost.h"
#include "provision/proc.h"
#include "provision/provider.h"
#include "provision/remote.h"
#include "provision/volume.h"

/*
 * Bump when the image recipe changes: a new recipe builds a new image.
 * AppArmor as on Debian's own cloud images (its kernel has it on; Docker
 * then needs the parser).
 */
#define IMAGE_RECIPE "1"
#define IMAGE_PACKAGES                                                                             \
	"linux-image-amd64,initramfs-tools,systemd,systemd-sysv,udev,dbus,openssh-server,"         \
	"iproute2,sudo,ca-certificates,cloud-init,locales,e2fsprogs,netbase,apparmor"
#define IMAGE_BYTES (8LL << 30)
#define DEFAULT_CPUS 2
#define DEFAULT_MEMORY "2G"
#define TB_SIZE_MB 256 /* TCG's translation cache: qemu's default grows with guest memory */
#define BOOT_TIMEOUT_MS (15 * 60 * 1000) /* TCG on a busy machine */
#define KVM_PROBE_MS 20000
#define VOLUME_SLOT 0x10 /* the first PCI slot of the volumes' disks */
#define MAX_VOLUMES 8 /* slots 0x10 to 0x17 */

static const char *const setting_keys[] = {"subnet", "image", "os", "packages", "accel"};
/* a volume: a qcow2 file of its own, a virtio disk whose serial is the name */
static const char volume_types[] = "volume:\n"
                                   "  name: name\n"
                                   "  size: { type: int, min: 1, max: 16384 }\n" VOLUME_KEY_TYPES;

/* ---- settings ---- */

/* "2G" -> MiB (the size type of vartype.h: digits, K/M/G/T, optional B); -1 when not a size. */
static long long size_mib(const char *s)
{
	char *end;
	long long v;

	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v < 0 || v > (1LL << 40))
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		v /= 1024;
		end++;
		break;
	case 'm':
	case 'M':
		end++;
		break;
	case 'g':
	case 'G':
		v *= 1024;
		end++;
		break;
	case 't':
	case 'T':
		v *= 1024 * 1024;
		end++;
		break;
	default:
		v /= 1024 * 1024;
		break;
	}
	if (*end == 'b' || *end == 'B')
		end++;
	return *end ? -1 : v;
}

static const char *server_key(const struct inv_server *s, const char *key)
{
	const struct node *v = node_get(s->node, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

/* "ubuntu-24.04" -> id "ubuntu", version "24.04". */
static bool split_os(const char *os, char id[32], char ver[32])
{
	char tail;

	return os && sscanf(os, "%31[a-z]-%31[0-9.]%c", id, ver, &tail) == 2;
}

static void vm_validate(const struct inventory *inv, const struct inv_layout *l,
                        const struct node *settings, struct diags *d)
{
	const struct node *v;
	char id[32], ver[32];

	if (settings && settings->kind == NODE_MAP) {
		node_check_keys(settings, setting_keys, PV_ARRAY_SIZE(setting_keys),
		                "provider 'vm'", d);
		if ((v = node_get(settings, "os")) &&
		    (v->kind != NODE_SCALAR || !split_os(v->scalar, id, ver)))
			diags_add(d, &v->pos,
			          "'os' of provider 'vm' must be ID-VERSION as in /etc/os-release, "
			          "such as ubuntu-24.04 or debian-12");
		if ((v = node_get(settings, "os")) && !node_get(settings, "image"))
			diags_add(
			    d, &v->pos,
			    "'os' of provider 'vm' describes an 'image' file; the built image "
			    "is debian-12");
		if ((v = node_get(settings, "image")) && node_get(settings, "packages"))
			diags_add(
			    d, &v->pos,
			    "provider 'vm' bakes 'packages' into the image it builds, not into "
			    "an 'image' file; use one or the other");
		/* the one value that may land in qemu's comma-separated option syntax */
		if ((v = node_get(settings, "image")) && v->kind == NODE_SCALAR &&
		    strchr(v->scalar, ','))
			diags_add(d, &v->pos, "'image' of provider 'vm' cannot hold ','");
	}
	lhost_validate(l, settings, "vm", d);
	provider_no_cloud_keys(l, "vm", d);
	static const char *const unused[] = {"type",      "image",   "location", "region",
	                                     "size",      "address", "host_key", "private_address",
	                                     "container", "ssh_user"};
	provider_unused_server_keys(l, "vm", unused, PV_ARRAY_SIZE(unused),
	                            "cpus, memory, disk, volumes", d);
	struct node *vt = NULL;
	struct pv_error e = {{0}};
	if (node_load_string(&vt, "(provision)", volume_types, strlen(volume_types), &e) < 0)
		abort(); /* the table is part of the program */
	for (size_t i = 0; i < l->n_servers; i++) {
		const struct node *vs = volumes_of(&l->servers[i]);
		/* the name is the disk's serial (virtio: at most 20 bytes) and in its file name */
		volumes_validate(&l->servers[i], node_get(vt, "volume"), volume_name_short,
		                 VOLUME_NAME_SHORT_RULE, d);
		if (vs && vs->n > MAX_VOLUMES)
			diags_add(d, &vs->items[MAX_VOLUMES]->pos,
			          "server '%s' has more than %d volumes, as many as provider 'vm' "
			          "attaches",
			          l->servers[i].name, MAX_VOLUMES);
	}
	node_free(vt);
	for (size_t i = 0; i < l->n_servers; i++) {
		const struct inv_server *s = &l->servers[i];
		long long m = size_mib(server_key(s, "memory"));
		if ((v = node_get(s->node, "memory")) && m >= 0 && (m < 256 || m > 256 * 1024))
			diags_add(d, &v->pos,
			          "'memory' of server '%s' must be from 256M to 256G for provider "
			          "'vm'",
			          s->name);
		m = size_mib(server_key(s, "disk"));
		if ((v = node_get(s->node, "disk")) && m >= 0 && (m < 1024 || m > 16 * 1024 * 1024))
			diags_add(d, &v->pos,
			          "'disk' of server '%s' must be from 1G to 16T for provider 'vm'",
			          s->name);
	}
	(void)inv;
}

/* ---- names and places ---- */

char *vm_volume_device(const char *name)
{
	/* udev names a virtio disk by its serial */
	return xasprintf("/dev/disk/by-id/virtio-%s", name);
}

static char *in_dir(const char *dir, const char *name)
{
	return pv_path_join(dir, name);
}

/* The tap device of the host with address A.B.C.N: unique per layout and host number. */
static void tap_name(const struct lhost_names *nm, const char *address, char out[IFNAMSIZ])
{
	const char *n = strrchr(address, '.');

	snprintf(out, IFNAMSIZ, "pt%.8s-%s", nm->id, n ? n + 1 : "0");
}

static void mac_of(const struct lhost_names *nm, const char *address, char out[18])
{
	const char *n = strrchr(address, '.');

	snprintf(out, 18, "52:54:00:%.2s:%.2s:%02x", nm->id, nm->id + 2,
	         (unsigned)atoi(n ? n + 1 : "0") & 0xff);
}

static bool qemu_running(pid_t pid, const char *machine)
{
	const char *words[] = {"-name", machine, NULL};

	return pid > 0 && proc_is(pid, words);
}

/* The qemu of host dir, from its pidfile (a run killed before it recorded the pid). */
static pid_t qemu_pid(const json_t *o, const char *dir, const char *machine)
{
	pid_t pid = lhost_json_pid(o, "pid");
	char *pf, *text = NULL;
	size_t len;
	struct pv_error e = {{0}};

	if (qemu_running(pid, machine))
		return pid;
	pf = in_dir(dir, "qemu.pid");
	if (pv_read_file(pf, &text, &len, 64, &e) == 0)
		pid = (pid_t)atoi(text);
	free(text);
	free(pf);
	return qemu_running(pid, machine) ? pid : 0;
}

/* ---- the image ---- */

struct image {
	char *disk; /* the backing file */
	char *format; /* "raw", "qcow2" */
	char *kernel, *initrd; /* the built image boots these; NULL: the disk boots itself */
	long long mib; /* its virtual size */
	char os_id[32], os_ver[32];
};

static void image_release(struct image *im)
{
	free(im->disk);
	free(im->format);
	free(im->kernel);
	free(im->initrd);
	memset(im, 0, sizeof(*im));
}

/* The settings' packages, comma-joined ("" when none). */
static char *extra_packages(const struct provider_ctx *c)
{
	const struct node *v = node_get(c->settings, "packages");
	struct buf b;

	buf_init(&b, 1 << 16);
	for (size_t i = 0; v && v->kind == NODE_SEQ && i < v->n; i++)
		if (v->items[i]->kind == NODE_SCALAR)
			buf_addf(&b, "%s%s", b.len ? "," : "", v->items[i]->scalar);
	return buf_detach(&b, NULL);
}

static char *built_image_dir(const struct provider_ctx *c, const struct lhost_names *nm)
{
	char *pk = extra_packages(c), hex[65];
	/* the whole package list names the image: a change in either half builds anew */
	char *all = xasprintf("%s\n%s", IMAGE_PACKAGES, pk);
	char *name, *p;

	pv_sha256_hex(all, strlen(all), hex);
	free(all);
	name = xasprintf("vm-debian-bookworm-r%s-%.12s", IMAGE_RECIPE, hex);
	p = pv_path_join(nm->cache_dir, name);
	free(name);
	free(pk);
	return p;
}

static char *first_match(const char *pattern)
{
	glob_t g;
	char *p = NULL;

	if (glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0)
		p = xstrdup(g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	return p;
}

static int copy_file(const char *from, const char *to, struct pv_error *err)
{
	char *argv[] = {"cp", "--", (char *)from, (char *)to, NULL};

	return lhost_run(err, "copying the kernel out of the image", argv);
}

/* Build the image into dir (once, under the cache lock). */
static int build_image(struct provider_ctx *c, const struct lhost_names *nm, const char *dir,
                       struct pv_error *err)
{
	char *tmp = xasprintf("%s.build-%d", dir, (int)getpid());
	char *root = in_dir(tmp, "root"), *disk = in_dir(tmp, "disk.raw");
	char *log = xasprintf("%s.log", dir), *pk = extra_packages(c);
	char *include = xasprintf("--include=" IMAGE_PACKAGES "%s%s", *pk ? "," : "", pk);
	char *k = NULL, *i = NULL, *pat, *dst;
	struct buf o;
	int fd = -1, rc = -1, st;

	(void)nm;
	report_info(c->rep, NULL, "building the VM image in '%s' (once; a few minutes)%s%s", dir,
	            *pk ? " with " : "", pk);
	lhost_remove_tree(tmp, err);
	if (pv_mkdir_p(tmp, 0755, err) < 0)
		goto out;
	char *argv[] = {
	    "mmdebstrap",
	    "--variant=minbase",
	    include,
	    /* every VM gets its host key from cloud-init: no clone shares the image's */
	    "--customize-hook=rm -f \"$1\"/etc/ssh/ssh_host_*",
	    /* and its own machine id at first boot */
	    "--customize-hook=: > \"$1\"/etc/machine-id; rm -f \"$1\"/var/lib/dbus/machine-id",
	    "--customize-hook=chroot \"$1\" systemctl enable systemd-networkd",
	    /* cloud-init's locale module regenerates a locale that is not there yet, and
	       fails on a minimal system: the one it sets is made here */
	    "--customize-hook=echo 'en_US.UTF-8 UTF-8' > \"$1\"/etc/locale.gen && "
	    "chroot \"$1\" locale-gen && echo LANG=en_US.UTF-8 > \"$1\"/etc/default/locale",
	    "--customize-hook=echo '/dev/vda / ext4 defaults 0 1' > \"$1\"/etc/fstab",
	    /* only the seed disk: no waiting for cloud metadata services that are not here */
	    "--customize-hook=printf 'datasource_list: [ NoCloud, None ]\\n' > "
	    "\"$1\"/etc/cloud/cloud.cfg.d/90-provision.cfg",
	    "bookworm",
	    root,
	    NULL,
	};
	buf_init(&o, 1 << 20);
	st = proc_run(argv, &o, err);
	pv_write_file_atomic(log, o.s, o.len, 0644, err);
	if (st != 0) {
		if (st > 0)
			pv_error_set(
			    err,
			    "building the VM image with mmdebstrap failed (exit status %d; "
			    "log in '%s'): %s",
			    st, log, proc_tail(o.s, 400));
		buf_release(&o);
		goto out;
	}
	buf_release(&o);
	pat = xasprintf("%s/boot/vmlinuz-*", root);
	k = first_match(pat);
	free(pat);
	pat = xasprintf("%s/boot/initrd.img-*", root);
	i = first_match(pat);
	free(pat);
	if (!k || !i) {
		pv_error_set(err, "the VM image has no kernel or initrd in /boot");
		goto out;
	}
	dst = in_dir(tmp, "vmlinuz");
	rc = copy_file(k, dst, err);
	free(dst);
	dst = in_dir(tmp, "initrd.img");
	if (rc == 0)
		rc = copy_file(i, dst, err);
	free(dst);
	if (rc < 0)
		goto out;
	rc = -1;
	/* an ext4 file system made from the directory: no loop device, no mount */
	fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, IMAGE_BYTES) < 0) {
		pv_error_set(err, "cannot make '%s': %s", disk, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	char *mkfs[] = {"mkfs.ext4", "-q", "-F", "-L", "root", "-d", root, disk, NULL};
	if (lhost_run(err, "making the VM image's file system", mkfs) < 0 ||
	    lhost_remove_tree(root, err) < 0)
		goto out;
	if (rename(tmp, dir) < 0) {
		pv_error_set(err, "cannot move the VM image into '%s': %s", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		struct pv_error e2 = {{0}};
		lhost_remove_tree(tmp, &e2);
	}
	free(tmp);
	free(root);
	free(disk);
	free(log);
	free(pk);
	free(include);
	free(k);
	free(i);
	return rc;
}

/* The format and virtual size of an image file, as qemu-img sees them. */
static int image_info(const char *path, struct image *im, struct pv_error *err)
{
	char *argv[] = {"qemu-img", "info", "--output=json", "--", (char *)path, NULL};
	struct buf out;
	json_t *j = NULL;
	int rc = -1;

	buf_init(&out, 1 << 20);
	if (proc_run(argv, &out, err) != 0) {
		pv_error_set(err, "qemu-img cannot read the image '%s': %s", path,
		             proc_tail(out.s, 300));
		goto out;
	}
	j = json_loads(out.s, 0, NULL);
	const char *f = json_string_value(json_object_get(j, "format"));
	json_t *vs = json_object_get(j, "virtual-size");
	if (!f || !json_is_integer(vs) || (strcmp(f, "raw") && strcmp(f, "qcow2"))) {
		pv_error_set(err, "the image '%s' is not a raw or qcow2 disk image", path);
		goto out;
	}
	im->format = xstrdup(f);
	im->mib = (long long)(json_integer_value(vs) >> 20);
	rc = 0;
out:
	json_decref(j);
	buf_release(&out);
	return rc;
}

/* The image of the settings, or the built one (built now when build is set). */
static int find_image(struct provider_ctx *c, const struct lhost_names *nm, bool build,
                      struct image *im, struct pv_error *err)
{
	const char *user = lhost_setting(c, "image");
	struct stat sb;
	int fd = -1, rc = -1;

	memset(im, 0, sizeof(*im));
	if (user) {
		if (!split_os(lhost_setting(c, "os") ? lhost_setting(c, "os") : "debian-12",
		              im->os_id, im->os_ver))
			return pv_error_set(err, "provider 'vm': invalid 'os'");
		if (!(im->disk = realpath(user, NULL)))
			return pv_error_set(err, "cannot use the image '%s': %s", user,
			                    strerror(errno));
		return build ? image_info(im->disk, im, err) : 0;
	}
	snprintf(im->os_id, sizeof(im->os_id), "debian");
	snprintf(im->os_ver, sizeof(im->os_ver), "12");
	char *dir = built_image_dir(c, nm);
	im->disk = in_dir(dir, "disk.raw");
	im->kernel = in_dir(dir, "vmlinuz");
	im->initrd = in_dir(dir, "initrd.img");
	im->format = xstrdup("raw");
	im->mib = IMAGE_BYTES >> 20;
	if (!build || stat(dir, &sb) == 0) {
		rc = 0;
		goto out;
	}
	if ((fd = lhost_cache_lock(nm, err)) < 0)
		goto out;
	rc = stat(dir, &sb) == 0 ? 0 : build_image(c, nm, dir, err); /* or another run did */
	close(fd);
out:
	free(dir);
	return rc;
}

/* ---- KVM or TCG ---- */

/*
 * Whether KVM runs a kernel here: /dev/kvm can be there and still fail
 * (nested virtualization), so boot the image's kernel once with no disk
 * and look for its first lines.  The answer holds until this machine
 * reboots: it is kept under /run.
 */
static bool kvm_works(const struct image *im)
{
	char boot[64] = "", *text = NULL, *key;
	const char *cached = "/run/provision-kvm";
	size_t len;
	bool ok = false;
	struct pv_error e = {{0}};
	FILE *f;

	if (access("/dev/kvm", R_OK | W_OK) < 0)
		return false;
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "re"))) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
	}
	boot[strcspn(boot, "\n")] = '\0';
	if (pv_read_file(cached, &text, &len, 256, &e) == 0 && *boot &&
	    !strncmp(text, boot, strlen(boot)) && text[strlen(boot)] == ' ') {
		ok = !strcmp(text + strlen(boot) + 1, "kvm\n");
		free(text);
		return ok;
	}
	free(text);
	text = NULL;
	if (!im->kernel)
		return false; /* no kernel of our own to try: TCG, unless accel says kvm */
	char ms[16];
	snprintf(ms, sizeof(ms), "%d", KVM_PROBE_MS / 1000);
	char *argv[] = {"timeout",  ms,           "qemu-system-x86_64",
	                "-machine", "q35",        "-accel",
	                "kvm",      "-cpu",       "host",
	                "-m",       "256",        "-nodefaults",
	                "-display", "none",       "-serial",
	                "stdio",    "-no-reboot", "-kernel",
	                im->kernel, "-append",    "console=ttyS0 panic=-1",
	                NULL};
	struct buf out;
	buf_init(&out, 1 << 20);
	proc_run(argv, &out, &e);
	ok = strstr(out.s, "Linux version") && strstr(out.s, "Kernel panic");
	buf_release(&out);
	key = xasprintf("%s %s\n", boot, ok ? "kvm" : "tcg");
	pv_write_file_atomic(cached, key, strlen(key), 0644, &e);
	free(key);
	return ok;
}

static bool use_kvm(struct provider_ctx *c, const struct image *im)
{
	const char *a = lhost_setting(c, "accel");

	if (a && !strcmp(a, "tcg"))
		return false;
	if (a && !strcmp(a, "kvm"))
		return true;
	return kvm_works(im);
}

/* ---- one VM ---- */

struct newvm {
	const char *name;
	const struct inv_server *srv;
	char *dir, *machine, *address, *public_key;
	char tap[IFNAMSIZ];
	pid_t pid;
};

static void newvm_release(struct newvm *v)
{
	free(v->dir);
	free(v->machine);
	free(v->address);
	free(v->public_key);
}

static void record_vm(struct provider_ctx *c, const struct newvm *v, const char *accel)
{
	json_t *o = state_obj(lhost_hosts_obj(c, true), v->name, true);

	state_set_str(o, "address", v->address);
	state_set_str(o, "env", c->env);
	state_set_str(o, "machine", v->machine);
	state_set_str(o, "dir", v->dir);
	state_set_str(o, "tap", v->tap);
	if (accel)
		state_set_str(o, "accel", accel);
	if (v->public_key)
		state_set_str(o, "host_key", v->public_key);
	if (v->pid > 0)
		json_object_set_new(o, "pid", json_integer(v->pid));
	else
		json_object_del(o, "pid");
}

static int tap_up(const struct lhost_names *nm, const char *tap, struct pv_error *err)
{
	char *add[] = {"ip", "tuntap", "add", "dev", (char *)tap, "mode", "tap", NULL};
	char *master[] = {"ip", "link", "set", (char *)tap, "master", (char *)nm->bridge,
	                  "up", NULL};

	if (!lhost_link_exists(tap) && lhost_run(err, "creating the tap device", add) < 0)
		return -1;
	return lhost_run(err, "putting the tap device on the bridge", master);
}

static int tap_del(const char *tap, struct pv_error *err)
{
	char *del[] = {"ip", "link", "del", (char *)tap, NULL};

	if (!*tap || strncmp(tap, "pt", 2) || !lhost_link_exists(tap))
		return 0;
	return lhost_run(err, "removing the tap device", del);
}

static int write_in(const char *dir, const char *name, const char *text, struct pv_error *err)
{
	return lhost_write_text(dir, name, text, 0600, err);
}

/*
 * The NoCloud seed: a FAT file system labelled CIDATA holding user-data
 * (the cloud providers' own), meta-data, network-config and vendor-data.
 * It holds the host's private key: mode 0600, and the loose files that
 * built it are removed.
 */
static int make_seed(struct provider_ctx *c, struct newvm *v, const char *prefix, const char *mac,
                     struct pv_error *err)
{
	char *priv = NULL, *ud = NULL, *text = NULL, *comment = xasprintf("root@%s", v->name);
	char *seed = in_dir(v->dir, "seed.img"), *sdir = in_dir(v->dir, "seed");
	struct buf b;
	int rc = -1;

	buf_init(&b, 1 << 16);
	if (keygen_ed25519(&priv, &v->public_key, comment, err) < 0)
		goto out;
	ud = cloud_user_data(v->name, c->admin_user, c->admin_public_key, priv, v->public_key);
	if (pv_mkdir_p(sdir, 0700, err) < 0 || write_in(sdir, "user-data", ud, err) < 0)
		goto out;
	/* a new instance id for each VM made: cloud-init runs its first boot once */
	unsigned char r[8];
	if (RAND_bytes(r, sizeof(r)) != 1) {
		pv_error_set(err, "cannot make an instance id: no randomness");
		goto out;
	}
	buf_adds(&b, "instance-id: ");
	text = xasprintf("%s-%02x%02x%02x%02x%02x%02x%02x%02x", v->machine, r[0], r[1], r[2], r[3],
	                 r[4], r[5], r[6], r[7]);
	cloud_yaml_str(&b, text);
	free(text);
	buf_adds(&b, "\nlocal-hostname: ");
	cloud_yaml_str(&b, v->name);
	buf_adds(&b, "\n");
	if (write_in(sdir, "meta-data", b.s, err) < 0)
		goto out;
	buf_reset(&b);
	/* the address on the bridge, found by the MAC the tool gave the VM */
	buf_addf(&b,
	         "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: \"%s\"\n"
	         "    set-name: eth0\n    addresses: [\"%s/24\"]\n    routes:\n"
	         "      - to: 0.0.0.0/0\n        via: \"%s.1\"\n",
	         mac, v->address, prefix);
	if (write_in(sdir, "network-config", b.s, err) < 0)
		goto out;
	buf_reset(&b);
	/* what this machine adds to the cloud's user_data: the package cache, who owns it */
	char *proxy = lhost_apt_proxy_conf(c, prefix);
	char *owner = xasprintf("# written by provision\nPROJECT=%s\nENVIRONMENT=%s\nLAYOUT=%s\n"
	                        "SERVER=%s\n",
	                        c->inv->project, c->env, c->layout->name, v->name);
	buf_adds(&b, "#cloud-config\nmanage_etc_hosts: true\nwrite_files:\n"
	             "  - path: /etc/apt/apt.conf.d/01provision-proxy\n    content: ");
	cloud_yaml_str(&b, proxy);
	buf_adds(&b, "\n  - path: /etc/provision-host\n    content: ");
	cloud_yaml_str(&b, owner);
	buf_adds(&b, "\n");
	free(proxy);
	free(owner);
	if (c->inv->ssh_port != 22) {
		text = xasprintf("# written by provision\nPort %d\n", c->inv->ssh_port);
		buf_adds(&b,
		         "  - path: /etc/ssh/sshd_config.d/05-provision-port.conf\n    content: ");
		cloud_yaml_str(&b, text);
		buf_adds(&b, "\nruncmd:\n  - [systemctl, restart, ssh]\n");
		free(text);
	}
	if (write_in(sdir, "vendor-data", b.s, err) < 0)
		goto out;
	unlink(seed);
	char *mkfs[] = {"mkfs.vfat", "-n", "CIDATA", "-C", seed, "2048", NULL};
	char *files[5];
	const char *names[] = {"user-data", "meta-data", "network-config", "vendor-data"};
	for (size_t k = 0; k < 4; k++)
		files[k] = in_dir(sdir, names[k]);
	char *mcopy[] = {"mcopy", "-i", seed, files[0], files[1], files[2], files[3], "::", NULL};
	rc = lhost_run(err, "making the cloud-init seed", mkfs);
	if (rc == 0 && chmod(seed, 0600) < 0)
		rc = pv_error_set(err, "cannot chmod '%s': %s", seed, strerror(errno));
	if (rc == 0)
		rc = lhost_run(err, "writing the cloud-init seed", mcopy);
	for (size_t k = 0; k < 4; k++)
		free(files[k]);
out:
	if (lhost_remove_tree(sdir, err) < 0)
		rc = -1;
	pv_free_secret(priv);
	if (ud)
		pv_free_secret(ud);
	free(comment);
	free(seed);
	free(sdir);
	buf_release(&b);
	return rc;
}

static int make_disk(const struct image *im, const struct newvm *v, struct pv_error *err)
{
	char *disk = in_dir(v->dir, "disk.qcow2");
	char *backing = xasprintf("%s", im->disk);
	long long want = size_mib(server_key(v->srv, "disk"));
	char size[32] = "";
	int rc;

	if (want >= 0 && want < im->mib) {
		rc = pv_error_set(err,
		                  "'disk' of server '%s' (%lld MiB) is smaller than its image "
		                  "(%lld MiB)",
		                  v->name, want, im->mib);
		goto out;
	}
	if (want > im->mib)
		snprintf(size, sizeof(size), "%lldM", want);
	char *argv[] = {"qemu-img",
	                "create",
	                "-q",
	                "-f",
	                "qcow2",
	                "-b",
	                backing,
	                "-F",
	                im->format,
	                disk,
	                *size ? size : NULL,
	                NULL};
	rc = lhost_run(err, "making the VM's disk", argv);
out:
	free(disk);
	free(backing);
	return rc;
}

/* The disk file of volume name of the VM in dir. */
static char *volume_file(const char *dir, const char *name)
{
	return xasprintf("%s/volume-%s.qcow2", dir, name);
}

static const char *vol_str(const struct node *vol, const char *key)
{
	const struct node *v = node_get(vol, key);

	return v && v->kind == NODE_SCALAR ? v->scalar : NULL;
}

/*
 * Make the disk file of each volume of v that has none yet (qcow2, sparse):
 * kept across ups, reboots and restarts of the VM, removed with its
 * directory by destroy.  A running VM cannot take a new disk: it gets it
 * when it starts next, which is said.
 */
static int make_volumes(struct provider_ctx *c, const struct newvm *v, bool running,
                        struct pv_error *err)
{
	const struct node *vs = volumes_of(v->srv);
	int rc = 0;

	for (size_t i = 0; vs && i < vs->n && rc == 0; i++) {
		const char *name = vol_str(vs->items[i], "name"),
		           *gb = vol_str(vs->items[i], "size");
		char *f = volume_file(v->dir, name), *size = xasprintf("%sG", gb);
		if (access(f, F_OK) == 0) {
			/* there: never made again */
		} else if (running) {
			report_warn(
			    c->rep, v->name,
			    "volume %s is new and the VM is running: it is attached when the "
			    "VM starts next",
			    name);
		} else {
			char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", f, size, NULL};
			report_info(c->rep, v->name, "creating volume %s (%s GB)", name, gb);
			rc = lhost_run(err, "making a volume's disk", argv);
		}
		free(f);
		free(size);
	}
	return rc;
}

/* Start the VM's qemu (daemonized: a failed start is an exit status). */
static int start_vm(struct provider_ctx *c, const struct lhost_names *nm, const struct image *im,
                    struct newvm *v, bool kvm, struct pv_error *err)
{
	char *disk = xasprintf("file=%s/disk.qcow2,if=virtio,format=qcow2,cache=unsafe", v->dir);
	char *seed = xasprintf("file=%s/seed.img,if=virtio,format=raw,readonly=on", v->dir);
	char *net = xasprintf("tap,id=n0,ifname=%s,script=no,downscript=no", v->tap);
	char mac[18];
	mac_of(nm, v->address, mac);
	char *dev = xasprintf("virtio-net-pci,netdev=n0,mac=%s", mac);
	char *serial = xasprintf("file:%s/console.log", v->dir);
	char *pidf = in_dir(v->dir, "qemu.pid");
	char *accel = kvm ? xstrdup("kvm") : xasprintf("tcg,thread=multi,tb-size=%d", TB_SIZE_MB);
	const char *cpus = server_key(v->srv, "cpus");
	long long mem =
	    size_mib(server_key(v->srv, "memory") ? server_key(v->srv, "memory") : DEFAULT_MEMORY);
	char smp[16], m[24];
	const struct node *vols = volumes_of(v->srv);
	size_t nvol = vols ? vols->n : 0;
	const char **argv = xcalloc(48 + 4 * nvol, sizeof(*argv));
	char **owned = xcalloc(2 * nvol + 1, sizeof(*owned));
	size_t n = 0, no = 0;
	char *text = NULL;
	size_t len;
	int rc;

	snprintf(smp, sizeof(smp), "%s", cpus ? cpus : "2");
	snprintf(m, sizeof(m), "%lldM", mem);
	const char *fixed[] = {"qemu-system-x86_64",
	                       "-name",
	                       v->machine,
	                       "-machine",
	                       "q35",
	                       "-accel",
	                       accel,
	                       "-cpu",
	                       kvm ? "host" : "max",
	                       "-smp",
	                       smp,
	                       "-m",
	                       m,
	                       "-drive",
	                       disk,
	                       "-drive",
	                       seed,
	                       "-netdev",
	                       net,
	                       "-device",
	                       dev,
	                       "-display",
	                       "none",
	                       "-serial",
	                       serial,
	                       "-monitor",
	                       "none",
	                       "-pidfile",
	                       pidf,
	                       "-daemonize"};
	for (size_t k = 0; k < PV_ARRAY_SIZE(fixed); k++)
		argv[n++] = fixed[k];
	if (im->kernel) {
		argv[n++] = "-kernel";
		argv[n++] = im->kernel;
		argv[n++] = "-initrd";
		argv[n++] = im->initrd;
		argv[n++] = "-append";
		argv[n++] = "root=/dev/vda rw console=ttyS0 net.ifnames=0";
	}
	/* each volume a virtio disk with its name as serial: /dev/disk/by-id/virtio-NAME */
	for (size_t i = 0; i < nvol; i++) {
		const char *name = vol_str(vols->items[i], "name");
		char *f = volume_file(v->dir, name);
		owned[no] =
		    xasprintf("file=%s,if=none,id=vol%zu,format=qcow2,cache=writeback", f, i);
		argv[n++] = "-drive";
		argv[n++] = owned[no++];
		/* slots of their own after the VM's disk and seed: the root disk stays vda */
		owned[no] = xasprintf("virtio-blk-pci,drive=vol%zu,serial=%s,bus=pcie.0,addr=0x%zx",
		                      i, name, VOLUME_SLOT + i);
		argv[n++] = "-device";
		argv[n++] = owned[no++];
		free(f);
	}
	argv[n] = NULL;
	unlink(pidf);
	rc = lhost_run(err, "starting qemu", (char *const *)argv);
	struct pv_error e = {{0}};
	if (rc == 0 && pv_read_file(pidf, &text, &len, 64, &e) == 0)
		v->pid = (pid_t)atoi(text);
	if (rc == 0 && !qemu_running(v->pid, v->machine))
		rc = pv_error_set(err, "qemu started but is not running (see '%s/console.log')",
		                  v->dir);
	(void)c;
	for (size_t i = 0; i < no; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	free(text);
	free(disk);
	free(seed);
	free(net);
	free(dev);
	free(serial);
	free(pidf);
	free(accel);
	return rc;
}

/* The last lines of the VM's serial console, for an error message. */
static char *console_tail(const char *dir)
{
	char *log = in_dir(dir, "console.log"), *text = NULL, *out;
	size_t len;
	struct pv_error e = {{0}};

	pv_read_file(log, &text, &len, 0, &e);
	out = xstrdup(text ? proc_tail(text, 800) : "(no console output)");
	free(text);
	free(log);
	return out;
}

/* Whether cloud-init's last stage of a boot has ended, by the console since qemu started. */
static bool cloud_init_done(const char *dir)
{
	char *log = in_dir(dir, "console.log"), *text = NULL;
	size_t len;
	struct pv_error e = {{0}};
	bool done;

	pv_read_file(log, &text, &len, 0, &e);
	/* "Cloud-init v. 22.4.2 finished at ..." */
	done = text && strstr(text, "Cloud-init v. ") && strstr(text, " finished at ");
	free(text);
	free(log);
	return done;
}

static void stop_qemu(pid_t pid, const char *machine)
{
	const char *w[] = {"-name", machine, NULL};
	const char *const *ws[] = {w};

	if (pid > 0)
		proc_stop(&pid, ws, 1, SIGTERM, 10000);
}

/* ---- the operations ---- */

static char *volume_device(const struct provider_ctx *c, const struct inv_server *s,
                           const char *name)
{
	(void)c;
	(void)s;
	return vm_volume_device(name);
}

static int vm_hosts(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	json_t *hs = lhost_hosts_obj(c, false);
	char *prefix = lhost_subnet_prefix(state_str(lhost_pdata(c, false), "subnet"));
	struct host *hosts = xcalloc(c->layout->n_servers + 1, sizeof(*hosts));
	const char *os = state_str(lhost_pdata(c, false), "os");
	char id[32] = "debian", ver[32] = "12";
	size_t k = 0;

	(void)err;
	if (os && !split_os(os, id, ver)) {
		snprintf(id, sizeof(id), "debian");
		snprintf(ver, sizeof(ver), "12");
	}
	for (size_t i = 0; prefix && i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false);
		if (!o || !state_str(o, "address") || !state_str(o, "host_key"))
			continue;
		lhost_fill_host(&hosts[k], c, name, o, prefix, "vm", false);
		scope_set_str(&hosts[k].facts, "os_id", id);
		scope_set_str(&hosts[k].facts, "os_version_id", ver);
		provider_volume_facts(&hosts[k], c, &c->layout->servers[i], volume_device);
		k++;
	}
	free(prefix);
	*out = hosts;
	*n = k;
	return 0;
}

static int vm_up(struct provider_ctx *c, struct host **out, size_t *n, struct pv_error *err)
{
	struct lhost_names nm;
	struct newvm *nv = xcalloc(c->layout->n_servers + 1, sizeof(*nv));
	struct image im = {0};
	char *prefix = NULL;
	bool kvm;
	int rc = -1;

	*out = NULL;
	*n = 0;
	if (geteuid() != 0) {
		lhost_need_root(err, "vm", "bridges and tap devices for its VMs");
		free(nv);
		return -1;
	}
	lhost_names_init(&nm, c, "vm");
	if (find_image(c, &nm, true, &im, err) < 0)
		goto out;
	kvm = use_kvm(c, &im);
	if (lhost_ensure_bridge(c, &nm, &prefix, err) < 0 ||
	    lhost_ensure_cache(c, &nm, prefix, err) < 0)
		goto out;
	char *os = xasprintf("%s-%s", im.os_id, im.os_ver);
	state_set_str(lhost_pdata(c, true), "os", os);
	free(os);

	const char *k;
	json_t *jv;
	json_object_foreach(lhost_hosts_obj(c, true), k, jv)
	{
		if (!layout_server(c->layout, k))
			report_warn(c->rep, k,
			            "VM '%s' is no longer in layout '%s'; it keeps running until "
			            "'provision destroy %s'",
			            k, c->layout->name, c->layout->name);
	}

	for (size_t i = 0; i < c->layout->n_servers; i++) {
		struct newvm *v = &nv[i];
		json_t *o = state_obj(lhost_hosts_obj(c, true), c->layout->servers[i].name, false);
		char mac[18];

		v->name = c->layout->servers[i].name;
		v->srv = &c->layout->servers[i];
		v->machine = lhost_machine_name(&nm, v->name);
		v->dir = lhost_host_dir(&nm, v->name);
		if (o && state_str(o, "host_key") && state_str(o, "address")) {
			v->address = xstrdup(state_str(o, "address"));
			tap_name(&nm, v->address, v->tap);
			if ((v->pid = qemu_pid(o, v->dir, v->machine)) > 0) {
				if (make_volumes(c, v, true, err) < 0)
					goto vm_fail;
				continue;
			}
			/* made before, not running now (this machine rebooted, a crash) */
			report_info(c->rep, v->name, "starting the stopped VM");
			if (make_volumes(c, v, false, err) < 0 || tap_up(&nm, v->tap, err) < 0 ||
			    start_vm(c, &nm, &im, v, kvm, err) < 0)
				goto vm_fail;
			record_vm(c, v, kvm ? "kvm" : "tcg");
			if (state_save(c->state, err) < 0)
				goto vm_fail;
			continue;
		}
		if (o) {
			/* an interrupted create: start over from nothing */
			const char *t = state_str(o, "tap");
			stop_qemu(qemu_pid(o, v->dir, v->machine), v->machine);
			if ((t && tap_del(t, err) < 0) || lhost_remove_tree(v->dir, err) < 0)
				goto vm_fail;
			v->address =
			    state_str(o, "address") ? xstrdup(state_str(o, "address")) : NULL;
		}
		if (!v->address && !(v->address = lhost_next_address(c, prefix))) {
			pv_error_set(err, "no free address left in %s.0/24", prefix);
			goto vm_fail;
		}
		tap_name(&nm, v->address, v->tap);
		mac_of(&nm, v->address, mac);
		report_info(c->rep, v->name, "creating VM %s (%s)", v->address,
		            kvm ? "KVM" : "TCG, no KVM");
		/* recorded first: an interrupted create is found and removed */
		record_vm(c, v, NULL);
		if (state_save(c->state, err) < 0)
			goto vm_fail;
		if (pv_mkdir_p(v->dir, 0700, err) < 0 || make_disk(&im, v, err) < 0 ||
		    make_volumes(c, v, false, err) < 0 || make_seed(c, v, prefix, mac, err) < 0 ||
		    tap_up(&nm, v->tap, err) < 0)
			goto vm_fail;
		if (known_hosts_pin(c->known_hosts, v->address, c->inv->ssh_port, v->public_key,
		                    err) < 0)
			goto vm_fail;
		record_vm(c, v, NULL);
		if (state_save(c->state, err) < 0 || start_vm(c, &nm, &im, v, kvm, err) < 0)
			goto vm_fail;
		record_vm(c, v, kvm ? "kvm" : "tcg");
		if (state_save(c->state, err) < 0)
			goto vm_fail;
		continue;
	vm_fail:
		pv_error_prefix(err, "VM '%s'", v->name);
		goto out;
	}

	/*
	 * All VMs boot at once; wait for each sshd and for cloud-init to end
	 * its boot (it says so on the console): until then it may still
	 * restart sshd or hold the package manager.
	 */
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		struct newvm *v = &nv[i];
		long long deadline = pv_now_ms() + BOOT_TIMEOUT_MS;
		while (!cloud_init_done(v->dir) ||
		       remote_wait_port(v->address, c->inv->ssh_port, 2000, err) < 0) {
			if (!qemu_running(v->pid, v->machine) || pv_now_ms() > deadline) {
				char *tail = console_tail(v->dir);
				pv_error_set(err,
				             "VM '%s' %s; its console (%s/console.log) ends: %s",
				             v->name,
				             qemu_running(v->pid, v->machine)
				                 ? "did not finish booting in time"
				                 : "stopped while booting",
				             v->dir, tail);
				free(tail);
				goto out;
			}
			usleep(1000000);
		}
	}
	rc = vm_hosts(c, out, n, err);
out:
	for (size_t i = 0; i < c->layout->n_servers; i++)
		newvm_release(&nv[i]);
	free(nv);
	image_release(&im);
	free(prefix);
	lhost_names_release(&nm);
	return rc;
}

static int vm_plan(struct provider_ctx *c, struct buf *out, struct pv_error *err)
{
	struct lhost_names nm;
	json_t *hs = lhost_hosts_obj(c, false);
	struct image im;
	struct stat sb;
	bool fresh;

	lhost_names_init(&nm, c, "vm");
	if (find_image(c, &nm, false, &im, err) < 0) {
		lhost_names_release(&nm);
		return -1;
	}
	if (stat(im.disk, &sb) != 0)
		buf_addf(out, "  + build the VM image %s (once)\n", im.disk);
	char *prefix = lhost_choose_prefix(c, &nm, &fresh);
	if (!lhost_link_exists(nm.bridge))
		buf_addf(out, "  + bridge %s with address %s.1/24 and a package cache on port %d\n",
		         nm.bridge, prefix, lhost_cache_port(c));
	for (size_t i = 0; i < c->layout->n_servers; i++) {
		const char *name = c->layout->servers[i].name;
		json_t *o = state_obj(hs, name, false);
		char *machine = lhost_machine_name(&nm, name), *dir = lhost_host_dir(&nm, name);
		if (!o || !state_str(o, "host_key"))
			buf_addf(out,
			         "  + VM %s: qemu, booted by cloud-init with the cloud providers' "
			         "user_data, host key pinned before first boot\n",
			         name);
		else if (!qemu_pid(o, dir, machine))
			buf_addf(out, "  ~ start VM %s (%s), which is stopped\n", name,
			         state_str(o, "address"));
		const struct node *vs = volumes_of(&c->layout->servers[i]);
		for (size_t q = 0; vs && q < vs->n; q++) {
			char *f = volume_file(dir, vol_str(vs->items[q], "name"));
			if (access(f, F_OK) != 0)
				buf_addf(out, "  + volume %s (%s GB) of VM %s%s\n",
				         vol_str(vs->items[q], "name"),
				         vol_str(vs->items[q], "size"), name,
				         o && qemu_pid(o, dir, machine)
				             ? ", attached when it starts next"
				             : "");
			free(f);
		}
		free(machine);
		free(dir);
	}
	free(prefix);
	image_release(&im);
	lhost_names_release(&nm);
	return 0;
}

/* A stopped VM's tap device, before its directory goes. */
static int remove_tap(const char *name, const char *dir, json_t *o, void *arg, struct pv_error *err)
{
	const char *tap = state_str(o, "tap");

	(void)name;
	(void)dir;
	(void)arg;
	return tap ? tap_del(tap, err) : 0;
}

/* A VM's qemu, when it is the one the tool started. */
static pid_t qemu_of(const struct lhost_names *nm, const char *server, const json_t *o,
                     const char *const *words, pid_t *also)
{
	char *dir = lhost_host_dir(nm, server);
	pid_t pid = qemu_pid(o, dir, words[1]);

	free(dir);
	*also = 0;
	return pid;
}

static int vm_destroy(struct provider_ctx *c, struct pv_error *err)
{
	size_t n = json_object_size(lhost_hosts_obj(c, false));

	if (geteuid() != 0)
		return lhost_need_root(err, "vm", "bridges and tap devices for its VMs");
	if (n)
		report_info(c->rep, NULL, "stopping %zu VM%s", n, n == 1 ? "" : "s");
	/* qemu ends on SIGTERM at once: the disks are thrown away, nothing to flush */
	return lhost_destroy(c, "vm", "-name", 10000, qemu_of, remove_tap, err);
}

static bool vm_running(const struct lhost_names *nm, const char *server, const json_t *o,
                       const char *machine)
{
	char *dir = lhost_host_dir(nm, server);
	bool up = qemu_pid(o, dir, machine) > 0;

	free(dir);
	return up;
}

/* How the VM runs, and where its console goes. */
static void vm_more(const struct lhost_names *nm, const char *server, const json_t *o, json_t *s)
{
	const char *accel = state_str(o, "accel");
	char *dir = lhost_host_dir(nm, server);

	json_object_set_new(s, "accel",
	                    json_string(accel && !strcmp(accel, "kvm") ? "KVM" : "TCG"));
	json_object_set_new(s, "console", json_sprintf("%s/console.log", dir));
	free(dir);
}

static int vm_status(struct provider_ctx *c, json_t *out, struct pv_error *err)
{
	(void)err;
	lhost_status(c, "vm", "vm", vm_running, vm_more, out);
	return 0;
}

const struct provider_ops provider_vm = {
    .name = "vm",
    .validate = vm_validate,
    .plan = vm_plan,
    .up = vm_up,
    .hosts = vm_hosts,
    .destroy = vm_destroy,
    .status = vm_status,
};
