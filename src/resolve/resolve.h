/* Recipient resolution (SPEC §2, the heart of the engine): for a document
 * on a run date, who receives it and who is excluded with which reason
 * code.  Reads the directory through the store; writes nothing. */
#ifndef POSTIER_RESOLVE_H
#define POSTIER_RESOLVE_H

#include <stddef.h>

#include "store/store.h"
#include "util/err.h"

enum resolve_level { RESOLVE_CONTACT, RESOLVE_MAIN, RESOLVE_ADDRESS };

/* One candidate: a recipient (reason NULL) or an exclusion (reason set to
 * a §2 code: inactive, no_email, no_consent:esign, duplicate_address ...). */
struct resolve_rcpt {
    enum resolve_level level;
    struct store_rec contact; /* STORE_CONTACT fields; for the main and
                               * address levels filled from the party or site */
    char address[320];        /* the e-mail address used (first of the list),
                               * or for SMS the mobile number */
    char display[256];        /* display name */
    const char *reason;       /* static string, NULL for a recipient */
};

struct resolve_result {
    struct resolve_rcpt *v;
    size_t n, alloc;
    size_t recipients; /* entries with reason == NULL */
};

struct resolve_opts {
    const char *date;      /* run date YYYY-MM-DD */
    int fallback_main;     /* [run] fallback = main */
    int sms;               /* the SMS channel: address = the first mobile
                            * number (E.164), reason no_phone without one */
};

/* Resolves d.  out must be zeroed or released before; release with
 * resolve_release.  Errors: ERR_DB, ERR_NOTFOUND (party vanished). */
int resolve_document(struct store *s, const struct store_document *d,
                     const struct resolve_opts *o, struct resolve_result *out, struct err *e);
void resolve_release(struct resolve_result *r);

/* Sets r->display and r->address from r->contact: the first e-mail, or
 * with sms the first mobile number (E.164), "" when there is none. */
void resolve_address(struct resolve_rcpt *r, int sms);

/* Fills r (zeroed by the caller; release r->contact) as the recipient
 * contact id would be, with no rule applied: for template previews. */
int resolve_contact(struct store *s, long long id, struct resolve_rcpt *r, struct err *e);

#endif
