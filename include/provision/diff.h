/*
 * diff.h - unified diffs of text, for --check and plan.
 */
#ifndef PROVISION_DIFF_H
#define PROVISION_DIFF_H

#include "provision/buf.h"

/*
 * Append a unified diff (3 lines of context, "--- a_name" / "+++ b_name"
 * headers, @@ hunks) of a -> b to out.  Appends nothing when they are equal.
 * A missing trailing newline is shown as "\ No newline at end of file".
 * Inputs larger than 1 MiB or with NUL bytes are summarised as
 * "Binary or large files differ".
 */
void diff_unified(struct buf *out, const char *a_name, const char *a, size_t a_len,
                  const char *b_name, const char *b, size_t b_len);

#endif
