/* For the unit tests that build a book in an in-memory store: s, and
 * save() of a party, address or contact given as "column=value" strings
 * ending with NULL, normalised and saved as an import would.  Include
 * after cmocka.h. */
#ifndef POSTIER_TEST_BOOK_H
#define POSTIER_TEST_BOOK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "contacts/contacts.h"

static struct store *s;

/* The record's id; fails the test when it cannot be saved. */
static long long save(enum store_kind kind, ...)
{
    struct store_rec r;
    const char *kv;
    struct err e;
    va_list ap;
    long long id;

    store_rec_init(&r, kind);
    va_start(ap, kind);
    while ((kv = va_arg(ap, const char *))) {
        const char *eq = strchr(kv, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv), kv);
        store_rec_set(&r, (size_t)store_field_index(kind, name), eq + 1);
    }
    va_end(ap);
    if (contacts_save(s, &r, &e))
        fail_msg("save: %s", e.msg);
    id = r.id;
    store_rec_release(&r);
    return id;
}

#endif
