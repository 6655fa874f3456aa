/* The message spool of SPEC §5: rendered messages are written to tmp/,
 * made durable, then renamed into queue/ (in segments of many messages); a
 * dispatcher reads them from queue/ and removes them once the send is
 * recorded.  Messages are named (the stable id of a delivery).  The spool
 * also holds the run lock (flock on spool/lock): two runs at once are
 * refused. */
#ifndef POSTIER_SPOOL_H
#define POSTIER_SPOOL_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct spool;

/* Opens dir (creating tmp/ and queue/), takes the lock (writing this
 * process's pid and start time into it), and clears tmp/ of a crashed
 * run's leftovers.  ERR_LOCKED when another run holds it (the message
 * names the holder), ERR_IO otherwise. */
int spool_open(const char *dir, struct spool **out, struct err *e);
/* Releases the lock and frees; NULL-safe. */
void spool_close(struct spool *sp);

/* Adds message name (at most 64 characters, no space, '/' or newline) to
 * the batch being built, with the caller's key for it (tag, > 0, or 0 for
 * none: the delivery's id), given back by spool_list.  Nothing is in the
 * queue until spool_commit (or spool_commit_finish). */
int spool_write(struct spool *sp, const char *name, long long tag, const void *data, size_t n,
                struct err *e);
/* Writes the batch as one segment file in tmp/, fsyncs it, renames it into
 * queue/ and syncs the folder.  On error the batch is dropped. */
int spool_commit(struct spool *sp, struct err *e);
/* spool_commit in two halves, so that the caller works while the disk
 * syncs: _start hands the batch to a thread of its own (a new batch may
 * be written at once; ERR_INTERNAL if one is still under way); _finish
 * waits for it and returns its outcome, as spool_commit would (0 when
 * nothing was started).  Until _finish, the batch is not readable. */
int spool_commit_start(struct spool *sp, struct err *e);
int spool_commit_finish(struct spool *sp, struct err *e);
/* Appends message name's bytes to out.  ERR_NOTFOUND if absent.  With
 * in_memory, *in_memory = whether they came from a committed segment kept
 * in memory (the bytes written, never read back from the file). */
int spool_read(struct spool *sp, const char *name, struct buf *out, int *in_memory,
               struct err *e);
/* Removes message name (its segment file goes with its last message);
 * absent is not an error. */
int spool_remove(struct spool *sp, const char *name, struct err *e);
/* Calls cb for each message in the queue (with its tag, 0 when written
 * without or by a version that had none); cb returning non-zero stops. */
int spool_list(struct spool *sp, int (*cb)(void *ctx, const char *name, long long tag),
               void *ctx, struct err *e);

#endif
