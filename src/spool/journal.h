/* The send journal (spool/journal): one line per outcome a transport
 * reported, appended the moment the peer answered and before the
 * dispatcher takes the next message for that connection.  The database
 * records outcomes in batches; when a run dies between the peer's reply
 * and the batch's commit, the next run replays the journal, so an
 * accepted message is recorded as sent instead of being sent again.
 * Appends are single write(2)s to an O_APPEND file: safe from any thread,
 * and durable across a process crash (kill -9) once write returns. */
#ifndef POSTIER_JOURNAL_H
#define POSTIER_JOURNAL_H

#include "util/err.h"

struct journal;

/* Opens (creating) dir/journal.  ERR_IO on failure. */
int journal_open(const char *dir, struct journal **out, struct err *e);
/* Closes; NULL-safe. */
void journal_close(struct journal *j);

/* Appends one line (no newline in it; at most 1000 bytes).  Thread-safe.
 * Returns 0 or -1 (errno set). */
int journal_append(struct journal *j, const char *line);
/* Appends n bytes of whole lines (each ended by a newline, at most 1000
 * bytes) at once.  Not atomic for other writers: callers serialise.
 * Returns 0 or -1 (errno set). */
int journal_append_lines(struct journal *j, const char *lines, size_t n);
/* Calls cb with each complete line (newline removed; cb may modify it),
 * in order; a torn last line is ignored.  cb returning non-zero stops. */
int journal_replay(struct journal *j, int (*cb)(void *ctx, char *line), void *ctx,
                   struct err *e);
/* Empties the journal (after its lines are recorded). */
int journal_clear(struct journal *j, struct err *e);

#endif
