/*
 * fuzz-inventory.c - libFuzzer target: the inventory loader.
 *
 * The input is an inventory file, written to a file and loaded as the tool
 * does: YAML with positions, the model's checks, environments and their
 * merges.  Any crash, sanitizer report,
 * leak or hang is a bug; errors in the input are expected and ignored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "provision/common.h"
#include "provision/inventory.h"

static char *path, *dir;

/* the scratch file and its directory go when the fuzzer exits */
static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* in memory when the system has it: a file is written for every input */
	char shm[] = "/dev/shm/fuzz-inventory-XXXXXX", tmp[] = "/tmp/fuzz-inventory-XXXXXX";

	(void)argc;
	(void)argv;
	dir = access("/dev/shm", W_OK) == 0 ? shm : tmp;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	dir = xstrdup(dir);
	path = xasprintf("%s/inventory.yml", dir);
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory *inv = NULL;
	struct diags d;
	bool written;
	FILE *f;

	/* the whole loader, from a file as the tool reads it */
	f = fopen(path, "wb");
	if (!f)
		return 0;
	written = fwrite(data, 1, size, f) == size;
	if (fclose(f) != 0 || !written)
		return 0;
	diags_init(&d);
	if (inventory_load(&inv, path, &d) == 0)
		inventory_free(inv);
	diags_release(&d);
	return 0;
}
