/*
 * fuzz-inventory.c - libFuzzer target: the inventory loader.
 *
 * The input is an inventory file: YAML loading with positions, the model's
 * checks, environments and their merges.  Any crash, sanitizer report,
 * leak or hang is a bug; errors in the input are expected and ignored.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "provision/common.h"
#include "provision/inventory.h"
#include "provision/node.h"

static char *path;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz-inventory-XXXXXX";

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	path = xasprintf("%s/inventory.yml", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pv_error err = {{0}};
	struct inventory *inv = NULL;
	struct node *root = NULL;
	struct diags d;
	bool written;
	FILE *f;

	/* the YAML layer alone, straight from memory */
	if (node_load_string(&root, "fuzz.yml", (const char *)data, size, &err) == 0)
		node_free(root);

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
