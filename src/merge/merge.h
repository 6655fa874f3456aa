/* Merging a document into its template for one recipient: picks the
 * template file by document type and locale (recipient's, then party's,
 * then fr), looks placeholders up in the recipient, party, document fields,
 * sender and type-coded contacts ({{exp.last_name}}), and builds the MIME
 * message.  Template files are loaded once per run. */
#ifndef POSTIER_MERGE_H
#define POSTIER_MERGE_H

#include "resolve/resolve.h"
#include "store/store.h"
#include "util/buf.h"
#include "util/err.h"

struct merge;

struct merge_info {
    char template_name[128];  /* "invoice/fr.eml.tmpl" */
    char template_sha256[65];
    const char *reason;       /* on failure, the history's reason: "template"
                               * or "attachment" (static) */
};

/* Prepares a merge for a run on date (YYYY-MM-DD: typed contacts must be
 * active then); templates_dir is the [store] templates folder, sender the
 * [sender] name and address.  Errors: ERR_DB. */
int merge_new(struct store *s, const char *templates_dir, const char *sender_name,
              const char *sender_email, const char *date, struct merge **out, struct err *e);
void merge_free(struct merge *m);

/* The [store] documents folder, against which merge_document reads a
 * document's relative attachment path (copied; until it is set, a
 * relative path is an error, never read from the current folder). */
void merge_set_documents(struct merge *m, const char *documents_dir);

/* The bound on template loop iterations per message ([template]
 * max_iterations; 0 or less: TMPL_MAX_ITERATIONS).  Past it the message
 * fails with info->reason `template`. */
void merge_set_max_iterations(struct merge *m, long n);

/* For a preview with no document: its absent fields render empty rather
 * than fail the message. */
void merge_set_lenient(struct merge *m, int lenient);

/* Renders document d for recipient r into out as a complete message with
 * the given Message-ID.  Template problems (missing file, syntax error,
 * unknown placeholder) are ERR_INPUT "file:line:col: ..." and leave out
 * unchanged: the caller records info->reason (`template`) and sends
 * nothing; an attachment that is missing or not a readable file is ERR_IO
 * with info->reason `attachment`. */
int merge_document(struct merge *m, const struct store_document *d,
                   const struct resolve_rcpt *r, const char *message_id, struct buf *out,
                   struct merge_info *info, struct err *e);

/* Renders the SMS text of d for r (templates/<type>/<locale>.sms.tmpl)
 * into out: UTF-8, no trailing line break.  Errors as merge_document. */
int merge_sms(struct merge *m, const struct store_document *d, const struct resolve_rcpt *r,
              struct buf *out, struct merge_info *info, struct err *e);

/* A campaign's message for one recipient: templates/<template>/<locale>
 * .eml.tmpl or .sms.tmpl with {{contact.*}}, {{party.*}} (the contact's
 * party), {{sender.*}}, type codes, {{campaign.name}} and
 * {{unsubscribe.url}}.  Marketing e-mail gets List-Unsubscribe (+ Post)
 * headers and an unsubscribe line in each body; marketing SMS end with
 * the STOP mention. */
struct merge_campaign {
    const char *name, *template_name;
    int sms, marketing;
    const char *unsub_url;    /* the recipient's https link (marketing) */
    const char *unsub_mailto; /* "mailto:…" or NULL */
    const char *stop_text;    /* [sms] stop_text */
    int readable;             /* e-mail as mime_readable (preview), not MIME */
};
int merge_campaign(struct merge *m, const struct merge_campaign *c, const struct resolve_rcpt *r,
                   const char *message_id, struct buf *out, struct merge_info *info,
                   struct err *e);

/* Checks every template file under the templates folder: parses it and
 * verifies each placeholder name against what a document can provide.
 * Calls report for each problem ("file:line:col: ...") and each warning
 * ("file:line:col: warning: ...": in a folder named after a document
 * type, a {{doc.x}} that no imported document of that type has); returns
 * the number of problems in *bad, of warnings in *warnings and of files in
 * *files.  Errors: ERR_IO, ERR_DB. */
int merge_check(struct merge *m, void (*report)(void *ctx, const char *msg), void *ctx,
                int *files, int *bad, int *warnings, struct err *e);

#endif
