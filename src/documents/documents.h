/* Business documents to notify (SPEC §1, §8): the seven types and the
 * notification flag each needs, the all-or-nothing CSV import (unknown
 * columns become free fields), and read access to those fields for
 * templates ({{doc.amount}}, {{#each doc.lines}}).  Fields are kept as a
 * JSON object (jansson). */
#ifndef POSTIER_DOCUMENTS_H
#define POSTIER_DOCUMENTS_H

#include <stddef.h>

#include "contacts/contacts.h"
#include "store/store.h"
#include "util/err.h"

/* The flag bit (contacts/validate.h FLAG_*) a document type needs, or 0
 * for an unknown type. */
unsigned documents_type_flag(const char *type);
/* ERR_INPUT listing the seven types when type is not one of them. */
int documents_type_check(const char *type, struct err *e);

/* Imports path as documents of type, in one transaction; every bad row is
 * reported through opts->on_error ("file:line: field 'x': why") and then
 * nothing is written (ERR_INPUT).  A row whose (type, ref) exists
 * corrects that document in place (same id; a `document_corrected`
 * history row says what changed) when none of its deliveries is sent,
 * queued or deferred, and is a bad row otherwise.  report->added counts
 * new documents, ->updated the corrected ones, ->unchanged the rows equal
 * to their document. */
int documents_import(struct store *s, const char *type, const char *path,
                     const struct import_opts *opts, struct import_report *report,
                     struct err *e);

/* Parsed free fields of one document. */
struct doc_fields;
int doc_fields_parse(const char *json, struct doc_fields **out, struct err *e);
void doc_fields_free(struct doc_fields *f);

/* The field called name: 0 and *str (borrowed; NULL when empty) for a
 * scalar, 0 and *count for a list (*str NULL), ERR_NOTFOUND when absent.
 * list/index, when list is not NULL, look the name up in item index of
 * that list field instead. */
int doc_fields_get(const struct doc_fields *f, const char *list, size_t index, const char *name,
                   const char **str, size_t *count, int *is_list);

#endif
